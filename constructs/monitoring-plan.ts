import type { Model } from '../api/types.ts';
import type { Plan, PlanNode } from '../planner/types.ts';
import { profileLabelValue } from './labels.ts';
import { EXPORTER_LABELS, PLAN_METRICS } from './monitoring-metrics.ts';
import { SLO_HISTOGRAMS } from './monitoring-rules.ts';

/** A recording rule: `record` is the series name, `labels` are added to every sample of `expr`. */
export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels?: Readonly<Record<string, string>>;
}

const GIB = 1024 ** 3;

/** A constant series carrying `labels`, as Prometheus records it. */
function constant(record: string, value: number, labels: Readonly<Record<string, string>> = {}): RecordingRule {
  if (!Number.isFinite(value)) throw new Error(`${record}: the plan figure ${value} is not a number`);
  return { record, expr: `vector(${value})`, labels };
}

/**
 * Labels of a node's plan series: `node` as kube-state-metrics and the vLLM PodMonitor name it, and
 * `hostname` as the AMD exporter does, so comparisons need no `label_replace`.
 */
function nodeLabels(node: PlanNode): Record<string, string> {
  return { node: node.name, [EXPORTER_LABELS.hostname]: node.name, pool: node.pool };
}

/** Partitions of `node` per (compute, memory) mode, lower case as the exporter labels them, sorted. */
export function partitionsByMode(node: PlanNode): Array<{ compute: string; memory: string; partitions: number; free: number }> {
  const modes = new Map<string, { compute: string; memory: string; partitions: number; free: number }>();
  for (const gpu of node.gpus) {
    const compute = gpu.profile.compute.toLowerCase();
    const memory = gpu.profile.memory.toLowerCase();
    const mode = modes.get(`${compute}-${memory}`) ?? { compute, memory, partitions: 0, free: 0 };
    mode.partitions += gpu.partitions.length;
    mode.free += gpu.partitions.filter((p) => p.replica === undefined).length;
    modes.set(`${compute}-${memory}`, mode);
  }
  return [...modes.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, mode]) => mode);
}

/** Per node: its profile (value 1), its partitions and free partitions per mode, and the partitions replicas hold. */
function nodeRules(node: PlanNode): RecordingRule[] {
  const labels = nodeLabels(node);
  const used = node.gpus.reduce((n, gpu) => n + gpu.partitions.filter((p) => p.replica !== undefined).length, 0);
  return [
    constant(PLAN_METRICS.nodeProfile, 1, { ...labels, profile: profileLabelValue(node) }),
    constant(PLAN_METRICS.partitionsUsed, used, labels),
    ...partitionsByMode(node).flatMap((mode) => {
      const modeLabels = { ...labels, [EXPORTER_LABELS.computePartition]: mode.compute, [EXPORTER_LABELS.memoryPartition]: mode.memory };
      return [constant(PLAN_METRICS.partitions, mode.partitions, modeLabels), constant(PLAN_METRICS.partitionsFree, mode.free, modeLabels)];
    }),
  ];
}

/**
 * Per model and node: replicas, the memory vLLM is allowed there (`--gpu-memory-utilization` ×
 * partition memory, summed over the replicas' partitions), the figure the exporter's used VRAM is
 * compared with, and the KV cache in tokens (vLLM's "GPU KV cache size" the sizing predicts per
 * replica, summed), the figure vLLM's KV usage fraction is a share of. A model known only by its
 * memory has no KV figure, so no capacity series rather than an understated one.
 */
function replicaRules(plan: Plan): RecordingRule[] {
  const partitionMemory = new Map<string, number>();
  for (const node of plan.nodes) {
    for (const gpu of node.gpus) for (const p of gpu.partitions) partitionMemory.set(`${node.name}/${gpu.index}/${p.index}`, p.memoryGiB);
  }
  const byModelNode = new Map<string, { model: string; node: string; replicas: number; bytes: number; kvTokens: number | undefined }>();
  for (const replica of plan.replicas) {
    const key = `${replica.model}\u0000${replica.node}`;
    const entry = byModelNode.get(key) ?? { model: replica.model, node: replica.node, replicas: 0, bytes: 0, kvTokens: 0 };
    entry.replicas += 1;
    entry.kvTokens = entry.kvTokens === undefined || replica.kvCacheTokens === undefined ? undefined : entry.kvTokens + replica.kvCacheTokens;
    for (const ref of replica.partitions) {
      const gib = partitionMemory.get(`${replica.node}/${ref.gpu}/${ref.partition}`);
      if (gib === undefined) throw new Error(`plan: replica ${replica.id} holds partition ${ref.gpu}/${ref.partition} that node ${replica.node} does not have`);
      entry.bytes += Math.round(gib * replica.gpuMemoryUtilization * GIB);
    }
    byModelNode.set(key, entry);
  }
  const sorted = [...byModelNode.values()].sort((a, b) => (a.model === b.model ? (a.node < b.node ? -1 : 1) : a.model < b.model ? -1 : 1));
  return sorted.flatMap(({ model, node, replicas, bytes, kvTokens }) => [
    constant(PLAN_METRICS.replicas, replicas, { model, node }),
    constant(PLAN_METRICS.memoryBytes, bytes, { model, node }),
    ...(kvTokens === undefined ? [] : [constant(PLAN_METRICS.kvCapacityTokens, kvTokens, { model, node })]),
  ]);
}

/**
 * Per model, every model of the spec (zero included, so a shortfall is never an absent series):
 * placed and unplaced replicas, and each latency SLO bound it sets.
 */
function modelRules(models: readonly Model[], plan: Plan): RecordingRule[] {
  const count = (list: ReadonlyArray<{ model: string }>, name: string) => list.filter((r) => r.model === name).length;
  const names = models.map((m) => m.metadata.name).sort();
  return names.flatMap((name) => {
    const model = models.find((m) => m.metadata.name === name)!;
    const slos = SLO_HISTOGRAMS.flatMap(({ field }) => {
      const bound = model.spec.slo?.[field];
      return bound === undefined ? [] : [constant(PLAN_METRICS.sloSeconds, bound, { model: name, slo: field })];
    });
    return [
      constant(PLAN_METRICS.modelReplicas, count(plan.replicas, name), { model: name }),
      constant(PLAN_METRICS.unschedulable, count(plan.unschedulable, name), { model: name }),
      ...slos,
    ];
  });
}

/** Fleet-wide: GPUs, GPUs the plan uses, and the lower bound on them. */
function fleetRules(plan: Plan): RecordingRule[] {
  return [
    constant(PLAN_METRICS.gpus, plan.summary.gpus),
    constant(PLAN_METRICS.gpusUsed, plan.summary.gpusUsed),
    constant(PLAN_METRICS.gpusLowerBound, plan.summary.lowerBound),
  ];
}

/**
 * The plan as Prometheus series, so that panels and alerts compare the cluster with it instead of
 * carrying its figures in every expression. Constant series: they change when a new plan is synced,
 * which is exactly when the comparison should change. Deterministic order: fleet, nodes by name,
 * models by name, model × node.
 */
export function planRecordingRules(models: readonly Model[], plan: Plan): RecordingRule[] {
  return [...fleetRules(plan), ...plan.nodes.flatMap(nodeRules), ...modelRules(models, plan), ...replicaRules(plan)];
}
