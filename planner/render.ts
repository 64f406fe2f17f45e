import { HOSTNAME_TOPOLOGY_KEY } from '../api/types.ts';
import { plural } from '../api/words.ts';
import { nodeProfileName } from './diff.ts';
import type { Plan, PlanModel, PlanReplica } from './types.ts';

function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => ' --- ').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  return (
    `${s.placed}/${plural(s.replicas, 'replica')} placed on ${s.gpusUsed} of ${plural(s.gpus, 'GPU')} ` +
    `(lower bound ${s.lowerBound}) across ${plural(s.nodesUsed, 'node')}; KV cache ${s.kvCacheGiB} GiB, ` +
    `${s.kvHeadroomGiB} GiB of it beyond the models' minimum`
  );
}

function byModel(replicas: readonly PlanReplica[]): Map<string, PlanReplica[]> {
  const models = new Map<string, PlanReplica[]>();
  for (const replica of replicas) models.set(replica.model, [...(models.get(replica.model) ?? []), replica]);
  return models;
}

/**
 * Nodes (or domains of the spread's topology key) a model's replicas span; flagged when several
 * replicas share one node, or span fewer domains than the fleet allows.
 */
function spreadCell(replicas: readonly PlanReplica[], decision: PlanModel | undefined): string {
  const nodes = new Set(replicas.map((r) => r.node)).size;
  const spread = decision?.spread;
  const byNode = plural(nodes, 'node');
  const span = spread && spread.topologyKey !== HOSTNAME_TOPOLOGY_KEY ? `${byNode}, ${spread.domains} × ${spread.topologyKey}` : byNode;
  if (replicas.length > 1 && nodes === 1) return `${span} ⚠ single node`;
  if (spread && spread.domains < spread.wanted) return `${span} ⚠ fewer than ${spread.wanted}`;
  return span;
}

/** What spread costs, so a reviewer can weigh availability against GPUs. */
function spreadLine(plan: Plan): string {
  const extra = plan.summary.spreadGpus;
  return extra > 0
    ? `Spread costs ${plural(extra, 'GPU')}: without it the same replicas fit on ${plan.summary.gpusUsed - extra}.`
    : 'Spread costs no GPU.';
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
  const decisions = new Map(plan.models.map((m) => [m.name, m]));
  const modelRows = [...byModel(plan.replicas)].map(([model, replicas]) => {
    const first = replicas[0]!;
    const nodes = [...new Set(replicas.map((r) => r.node))].sort().join(', ');
    return [model, replicas.length, first.precision, first.tensorParallel, first.memoryGiB, first.gpuMemoryUtilization, spreadCell(replicas, decisions.get(model)), nodes];
  });
  const replicaRows = plan.replicas.map((r) => [
    r.id,
    r.node,
    r.gpuMemoryUtilization,
    `${r.maxNumBatchedTokens} / ${r.maxNumSeqs}`,
    r.kvCacheGiB ?? '—',
    r.kvCacheTokens ?? '—',
    r.maxSequences ?? '—',
  ]);
  const lines = [
    '# GPU partition plan',
    '',
    summaryLine(plan) + '.',
    spreadLine(plan),
    '',
    '## Nodes',
    '',
    ...table(['node', 'pool', 'GPU', 'profile', 'GPUs used', 'partitions used', 'replicas'], nodeRows),
    '',
    '## Models',
    '',
    ...table(['model', 'replicas', 'precision', 'TP', 'GiB per replica', 'gpu-memory-utilization', 'spans', 'nodes'], modelRows),
    '',
    '## Tensor parallelism',
    '',
    ...plan.models.map((m) => `- \`${m.name}\`: ${m.tensorParallelReason}`),
    '',
    '## KV cache per replica',
    '',
    'Each replica holds its partitions alone and gets all the memory vLLM may use there; what the weights and',
    'overheads leave becomes its KV cache. Full-length sequences: requests of `--max-model-len` tokens held at once.',
    '',
    ...table(['replica', 'node', 'gpu-memory-utilization', 'batched tokens / seqs', 'KV cache GiB', 'KV tokens', 'full-length sequences'], replicaRows),
    '',
    '## Unschedulable',
    '',
    ...(plan.unschedulable.length === 0 ? ['None.'] : plan.unschedulable.map((u) => `- \`${u.id}\`: ${u.reason}`)),
  ];
  return lines.join('\n') + '\n';
}
