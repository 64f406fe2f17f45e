import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { Model, ModelSlo } from '../api/types.ts';
import type { Plan, PlanNode } from '../planner/types.ts';
import { PARTITION_STATE_LABEL, PARTITIONING_TAINT_KEY } from './labels.ts';
import { EXPORTER_LABELS, EXPORTER_METRICS, KUBE_STATE_METRICS, selector, VLLM_METRICS } from './monitoring-metrics.ts';
import { MODEL_TARGET_LABEL } from './monitoring-targets.ts';

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** @default - fires on the first evaluation */
  readonly for?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

export interface PrometheusRuleProps {
  readonly name: string;
  readonly namespace: string;
  /** Labels the Prometheus Operator selects PrometheusRules by. */
  readonly selectorLabels: Readonly<Record<string, string>>;
  readonly groups: readonly RuleGroup[];
}

/** A Prometheus Operator PrometheusRule: one rule file of alert groups. */
export class PrometheusRule extends Construct {
  constructor(scope: Construct, id: string, props: PrometheusRuleProps) {
    super(scope, id);
    if (props.groups.length === 0) throw new Error(`${this.node.path}: a PrometheusRule needs at least one group`);
    const names = props.groups.map((g) => g.name);
    const repeated = names.filter((name, i) => names.indexOf(name) !== i);
    if (repeated.length) throw new Error(`${this.node.path}: group names must be unique, got ${repeated.join(', ')} twice`);
    new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.selectorLabels } },
      spec: {
        groups: props.groups.map((group) => ({
          name: group.name,
          rules: group.rules.map((rule) => ({
            alert: rule.alert,
            expr: rule.expr,
            for: rule.for,
            labels: { ...rule.labels },
            annotations: { ...rule.annotations },
          })),
        })),
      },
    });
  }
}

// ------------------------------------------------------------------------------- latency SLOs

/** The SLO fields of a Model and the vLLM histogram each one bounds at p99. */
export const SLO_HISTOGRAMS = [
  { field: 'ttftSeconds', metric: VLLM_METRICS.timeToFirstToken, alert: 'ModelTimeToFirstTokenSloBreach', what: 'time to first token' },
  { field: 'itlSeconds', metric: VLLM_METRICS.interTokenLatency, alert: 'ModelInterTokenLatencySloBreach', what: 'inter-token latency' },
  { field: 'e2eSeconds', metric: VLLM_METRICS.e2eRequestLatency, alert: 'ModelEndToEndLatencySloBreach', what: 'end-to-end request latency' },
] as const satisfies ReadonlyArray<{ field: keyof ModelSlo; metric: string; alert: string; what: string }>;

/**
 * Multi-window pairs (Google SRE workbook): a breach must hold over the long window to matter and
 * still hold over the short one so the alert resolves soon after recovery. The p99 is compared
 * directly instead of a bucket-ratio burn rate because `histogram_quantile` interpolates inside a
 * bucket: the SLO need not be one of vLLM's bucket bounds, and no `le` string has to match.
 */
export const SLO_WINDOWS = [
  { short: '5m', long: '1h', for: '2m', severity: 'critical' },
  { short: '30m', long: '6h', for: '15m', severity: 'warning' },
] as const;

/** `histogram_quantile(0.99, …)` of one model's histogram over `window`. */
function p99(metric: string, model: string, job: string, window: string): string {
  return `histogram_quantile(0.99, sum by (le) (rate(${selector(`${metric}_bucket`, { job, model_name: model })}[${window}])))`;
}

/**
 * One group per model with an SLO: for each bound it sets, an alert per window pair when the p99
 * exceeds the bound in both windows. `undefined` when the model has no SLO.
 */
export function modelSloGroup(model: Model, job: string): RuleGroup | undefined {
  const name = model.metadata.name;
  const slo = model.spec.slo ?? {};
  const rules: AlertRule[] = [];
  for (const { field, metric, alert, what } of SLO_HISTOGRAMS) {
    const bound = slo[field];
    if (bound === undefined) continue;
    if (!Number.isFinite(bound) || bound <= 0) throw new Error(`model ${name}: spec.slo.${field} must be a positive number of seconds, got ${bound}`);
    for (const window of SLO_WINDOWS) {
      rules.push({
        alert,
        expr: `${p99(metric, name, job, window.short)} > ${bound}\nand\n${p99(metric, name, job, window.long)} > ${bound}`,
        for: window.for,
        labels: { severity: window.severity, [MODEL_TARGET_LABEL]: name, slo: field, window: `${window.short}/${window.long}` },
        annotations: {
          summary: `${name}: p99 ${what} above its SLO of ${bound}s`,
          description: `The p99 ${what} of model ${name} has been above ${bound}s over both the last ${window.short} and the last ${window.long}.`,
        },
      });
    }
  }
  return rules.length ? { name: `aim.slo.${name}`, rules } : undefined;
}

// ----------------------------------------------------------------------------- model health

/** KV-cache use above which new sequences start to queue or preempt others. */
export const KV_CACHE_PRESSURE = 0.9;

/**
 * KV-cache pressure and preemptions for every model pod the vLLM PodMonitor scrapes, and one
 * availability rule per model with placed replicas: fewer pods answering the scrape than the
 * plan placed. vLLM only listens once its weights are loaded, so `up == 1` is a serving pod.
 */
export function modelHealthGroups(models: readonly Model[], plan: Plan, job: string): RuleGroup[] {
  const saturation: AlertRule[] = [
    {
      alert: 'ModelKvCacheNearlyFull',
      expr: `max by (model_name, pod) (${selector(VLLM_METRICS.kvCacheUsage, { job })}) > ${KV_CACHE_PRESSURE}`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `{{ $labels.model_name }}: KV cache above ${Math.round(KV_CACHE_PRESSURE * 100)}% in {{ $labels.pod }}`,
        description: `Pod {{ $labels.pod }} of model {{ $labels.model_name }} has used more than ${Math.round(KV_CACHE_PRESSURE * 100)}% of its KV cache for 10 minutes; requests queue or get preempted. Raise the model's concurrency so the planner gives it a larger partition, or add replicas.`,
      },
    },
    {
      alert: 'ModelRequestsPreempted',
      expr: `sum by (model_name, pod) (rate(${selector(VLLM_METRICS.preemptions, { job })}[5m])) > 0`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: '{{ $labels.model_name }}: vLLM is preempting requests in {{ $labels.pod }}',
        description: 'Pod {{ $labels.pod }} of model {{ $labels.model_name }} has been preempting running requests for 10 minutes: its KV cache cannot hold the sequences it admits.',
      },
    },
  ];
  const placed = new Map<string, number>();
  for (const replica of plan.replicas) placed.set(replica.model, (placed.get(replica.model) ?? 0) + 1);
  const availability: AlertRule[] = [];
  for (const model of models) {
    const name = model.metadata.name;
    const planned = placed.get(name) ?? 0;
    if (planned === 0) continue;
    availability.push({
      alert: 'ModelReplicasBelowPlan',
      expr: `(count(${selector('up', { job, [MODEL_TARGET_LABEL]: name })} == 1) or vector(0)) < ${planned}`,
      for: '15m',
      labels: { severity: 'critical', [MODEL_TARGET_LABEL]: name },
      annotations: {
        summary: `${name}: fewer serving pods than the ${planned} planned`,
        description: `Only {{ $value }} of the ${planned} planned pods of model ${name} have answered the metrics scrape for 15 minutes (a pod answers once vLLM has loaded its weights).`,
      },
    });
  }
  return [
    { name: 'aim.model-saturation', rules: saturation },
    ...(availability.length ? [{ name: 'aim.model-availability', rules: availability }] : []),
  ];
}

// ------------------------------------------------------------------------- partitions, plan

/** `CPX-NPS4` → the exporter's label values `cpx`, `nps4`, and how many partitions the node should report in that mode. */
function plannedModes(node: PlanNode): Array<{ compute: string; memory: string; partitions: number }> {
  const modes = new Map<string, { compute: string; memory: string; partitions: number }>();
  for (const gpu of node.gpus) {
    const compute = gpu.profile.compute.toLowerCase();
    const memory = gpu.profile.memory.toLowerCase();
    const key = `${compute}-${memory}`;
    const mode = modes.get(key) ?? { compute, memory, partitions: 0 };
    mode.partitions += gpu.partitions.length;
    modes.set(key, mode);
  }
  return [...modes.values()].sort((a, b) => (a.compute + a.memory < b.compute + b.memory ? -1 : 1));
}

/**
 * True when the exporter shows `node` differently from the plan: a partition in a mode the plan
 * does not give the node, or a planned mode with another partition count (zero included, once
 * the node reports anything at all).
 */
function partitionDriftExpr(node: PlanNode, job: string): string {
  const all = selector(EXPORTER_METRICS.totalVram, { job, [EXPORTER_LABELS.hostname]: node.name });
  const inMode = (compute: string, memory: string) =>
    selector(EXPORTER_METRICS.totalVram, {
      job,
      [EXPORTER_LABELS.hostname]: node.name,
      [EXPORTER_LABELS.computePartition]: compute,
      [EXPORTER_LABELS.memoryPartition]: memory,
    });
  const modes = plannedModes(node);
  const by = `count by (${EXPORTER_LABELS.hostname})`;
  const unplanned = `(${by} (${all} unless (${modes.map((m) => inMode(m.compute, m.memory)).join(' or ')})) > 0)`;
  const miscounted = modes.map((m) => `((${by} (${inMode(m.compute, m.memory)}) or 0 * ${by} (${all})) != ${m.partitions})`);
  return [unplanned, ...miscounted].join('\nor\n');
}

/** `CPX-NPS4`, or `4×CPX-NPS1 + 4×SPX-NPS1` for a mixed node. */
function profileText(node: PlanNode): string {
  if (!node.mixed) return `${node.profile.compute}-${node.profile.memory}`;
  const counts = new Map<string, number>();
  for (const gpu of node.gpus) {
    const name = `${gpu.profile.compute}-${gpu.profile.memory}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].map(([name, n]) => `${n}×${name}`).join(' + ');
}

/** kube-state-metrics' name for a node label. */
function kubeStateLabel(label: string): string {
  return `label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/**
 * Nodes that are not in their planned partition profile: the partitioner gave up (its label, if
 * kube-state-metrics exports it, or its taint left in place for too long), or the exporter reports
 * other modes or counts than the plan. Each planned node gets its own drift rule, since the
 * expected modes differ per node; the exporter going silent on a node would blind that rule, so it
 * alerts too.
 */
export function partitionGroup(plan: Plan, exporterJob: string): RuleGroup {
  const rules: AlertRule[] = [
    {
      alert: 'GpuPartitionSetupFailed',
      expr: `${selector(KUBE_STATE_METRICS.nodeLabels, { [kubeStateLabel(PARTITION_STATE_LABEL)]: 'failed' })} == 1`,
      labels: { severity: 'critical' },
      annotations: {
        summary: 'Partition setup failed on node {{ $labels.node }}',
        description: `The node partitioner labelled {{ $labels.node }} ${PARTITION_STATE_LABEL}=failed and left it tainted; its Events say why. Needs kube-state-metrics to export the node label (--metric-labels-allowlist=nodes=[${PARTITION_STATE_LABEL}]).`,
      },
    },
    {
      alert: 'GpuPartitioningStuck',
      expr: `${selector(KUBE_STATE_METRICS.nodeTaint, { key: PARTITIONING_TAINT_KEY })} == 1`,
      for: '1h',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Node {{ $labels.node }} has been held for repartitioning for an hour',
        description: `The ${PARTITIONING_TAINT_KEY} taint has been on node {{ $labels.node }} for an hour: repartitioning failed or cannot drain the node's GPUs.`,
      },
    },
  ];
  for (const node of plan.nodes) {
    const profile = profileText(node);
    const partitions = node.gpus.reduce((n, gpu) => n + gpu.partitions.length, 0);
    rules.push({
      alert: 'GpuPartitionDrift',
      expr: partitionDriftExpr(node, exporterJob),
      for: '30m',
      labels: { severity: 'warning', node: node.name },
      annotations: {
        summary: `Node ${node.name} is not in its planned partition profile ${profile}`,
        description: `The device metrics exporter on ${node.name} reports GPU partitions in other modes or numbers than planned (${profile}, ${partitions} partitions) for 30 minutes.`,
      },
    });
    rules.push({
      alert: 'GpuPartitionMetricsAbsent',
      expr: `absent(${selector(EXPORTER_METRICS.totalVram, { job: exporterJob, [EXPORTER_LABELS.hostname]: node.name })})`,
      for: '15m',
      labels: { severity: 'warning', node: node.name },
      annotations: {
        summary: `No GPU metrics from planned node ${node.name}`,
        description: `The device metrics exporter has reported nothing for ${node.name} for 15 minutes, so partition drift on it goes unseen.`,
      },
    });
  }
  return { name: 'aim.partitions', rules };
}

/** Replica ids listed in an alert before the rest are only counted. */
const LISTED_UNSCHEDULABLE = 20;

/**
 * Replicas the plan could not place: constant for a given plan, but it keeps the shortfall visible
 * in Alertmanager for as long as the plan has it (and resolves when a plan without it is synced).
 */
export function placementGroup(plan: Plan): RuleGroup {
  const missing = plan.unschedulable;
  const listed = missing.slice(0, LISTED_UNSCHEDULABLE).map((r) => `${r.id}: ${r.reason}`);
  if (missing.length > listed.length) listed.push(`… and ${missing.length - listed.length} more`);
  return {
    name: 'aim.placement',
    rules: [
      {
        alert: 'PlanHasUnschedulableReplicas',
        expr: `vector(${missing.length}) > 0`,
        labels: { severity: 'warning' },
        annotations: {
          summary: `The GPU plan leaves ${missing.length} replica(s) unplaced`,
          description: missing.length ? `Not placed by the plan:\n${listed.join('\n')}` : 'Every replica is placed.',
          ...(missing.length ? { replicas: missing.map((r) => r.id).join(', ') } : {}),
        },
      },
    ],
  };
}
