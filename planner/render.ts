import { isEmptyDiff, nodeProfileName, type PlanDiff } from './diff.ts';
import type { Plan, PlanReplica } from './types.ts';

function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => ' --- ').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

function summaryLine(plan: Plan): string {
  const s = plan.summary;
  return (
    `${s.placed}/${s.replicas} replicas placed on ${s.gpusUsed} of ${s.gpus} GPUs ` +
    `(lower bound ${s.lowerBound}) across ${s.nodesUsed} nodes; ${s.strandedGiB} GiB stranded`
  );
}

function byModel(replicas: readonly PlanReplica[]): Map<string, PlanReplica[]> {
  const models = new Map<string, PlanReplica[]>();
  for (const replica of replicas) models.set(replica.model, [...(models.get(replica.model) ?? []), replica]);
  return models;
}

/** `plan.md`: the whole plan for a reviewer, beside `plan.json`. */
export function renderPlanMarkdown(plan: Plan): string {
  const nodeRows = plan.nodes.map((node) => {
    const partitions = node.gpus.flatMap((g) => g.partitions);
    const used = partitions.filter((p) => p.replica !== undefined);
    const gpusUsed = node.gpus.filter((g) => g.partitions.some((p) => p.replica !== undefined)).length;
    const replicas = [...new Set(used.map((p) => p.replica))].join(', ') || '—';
    return [node.name, node.pool, node.gpu, nodeProfileName(node), `${gpusUsed}/${node.gpus.length}`, `${used.length}/${partitions.length}`, replicas];
  });
  const modelRows = [...byModel(plan.replicas)].map(([model, replicas]) => {
    const first = replicas[0]!;
    const nodes = [...new Set(replicas.map((r) => r.node))].join(', ');
    return [model, replicas.length, first.precision, first.tensorParallel, first.memoryGiB, first.gpuMemoryUtilization, nodes];
  });
  const lines = [
    '# GPU partition plan',
    '',
    summaryLine(plan) + '.',
    '',
    '## Nodes',
    '',
    ...table(['node', 'pool', 'GPU', 'profile', 'GPUs used', 'partitions used', 'replicas'], nodeRows),
    '',
    '## Models',
    '',
    ...table(['model', 'replicas', 'precision', 'TP', 'GiB per replica', 'gpu-memory-utilization', 'nodes'], modelRows),
    '',
    '## Unschedulable',
    '',
    ...(plan.unschedulable.length === 0 ? ['None.'] : plan.unschedulable.map((u) => `- \`${u.id}\`: ${u.reason}`)),
  ];
  return lines.join('\n') + '\n';
}

interface DiffLine {
  readonly sign: '+' | '-' | '~' | '!';
  readonly subject: string;
  readonly detail: string;
}

function diffLines(diff: PlanDiff): DiffLine[] {
  return [
    ...diff.repartitioned.map((r) => ({ sign: '!' as const, subject: `node ${r.node}`, detail: `repartition ${r.from} → ${r.to} (evicts its pods)` })),
    ...diff.added.map((r) => ({ sign: '+' as const, subject: r.id, detail: `on ${r.at}` })),
    ...diff.removed.map((r) => ({ sign: '-' as const, subject: r.id, detail: `from ${r.at}` })),
    ...diff.moved.map((r) => ({ sign: '~' as const, subject: r.id, detail: `moves ${r.from} → ${r.to}` })),
    ...diff.reconfigured.map((r) => ({ sign: '~' as const, subject: r.id, detail: `${r.from} → ${r.to}` })),
    ...diff.newlyUnschedulable.map((u) => ({ sign: '!' as const, subject: u.id, detail: `unschedulable: ${u.reason}` })),
    ...diff.nowScheduled.map((id) => ({ sign: '+' as const, subject: id, detail: 'now scheduled' })),
  ];
}

function diffHeadline(diff: PlanDiff, plan: Plan): string {
  return (
    `GPUs used ${diff.gpusUsed.from} → ${diff.gpusUsed.to}; ${diff.repartitioned.length} nodes repartitioned, ` +
    `${diff.added.length} added, ${diff.removed.length} removed, ${diff.moved.length} moved, ` +
    `${diff.reconfigured.length} reconfigured, ${plan.unschedulable.length} unschedulable`
  );
}

/** The diff for a terminal: one change a line, terraform-style signs. */
export function renderDiffText(diff: PlanDiff, plan: Plan): string {
  const lines = [summaryLine(plan), diffHeadline(diff, plan)];
  if (isEmptyDiff(diff)) lines.push('No changes.');
  else lines.push('', ...diffLines(diff).map((l) => `  ${l.sign} ${l.subject}  ${l.detail}`));
  return lines.join('\n') + '\n';
}

/** The diff CI posts on a pull request. */
export function renderDiffMarkdown(diff: PlanDiff, plan: Plan): string {
  const lines = ['### aim-gpu plan', '', summaryLine(plan) + '.', '', `**${diffHeadline(diff, plan)}**`, ''];
  if (isEmptyDiff(diff)) lines.push('No changes.');
  else lines.push('```diff', ...diffLines(diff).map((l) => `${l.sign === '~' ? '!' : l.sign} ${l.subject}  ${l.detail}`), '```');
  return lines.join('\n') + '\n';
}
