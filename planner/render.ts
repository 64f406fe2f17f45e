import { plural } from '../api/words.ts';
import { nodeProfileName } from './diff.ts';
import type { Plan, PlanReplica } from './types.ts';

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
    '',
    '## Nodes',
    '',
    ...table(['node', 'pool', 'GPU', 'profile', 'GPUs used', 'partitions used', 'replicas'], nodeRows),
    '',
    '## Models',
    '',
    ...table(['model', 'replicas', 'precision', 'TP', 'GiB per replica', 'gpu-memory-utilization', 'nodes'], modelRows),
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
