import type { Plan } from '../planner/types.ts';
import { PARTITION_STATE_LABEL, PARTITION_STATES, PROFILE_LABEL } from './labels.ts';
import {
  alternation,
  AMD_RESOURCE_REGEX,
  EXPORTER_LABELS,
  EXPORTER_METRICS,
  KUBE_STATE_METRICS,
  OBSERVED_METRICS,
  PLAN_METRICS,
  selector,
  VLLM_METRICS,
} from './monitoring-metrics.ts';
import { MODEL_TARGET_LABEL, NODE_TARGET_LABEL } from './monitoring-targets.ts';
import { type AlertRule, type RuleGroup } from './monitoring-rules.ts';

/**
 * Alerts that compare the cluster with the plan. The plan's figures come from the `aim.plan`
 * recording rules (`monitoring-plan.ts`), so every expression here is the same for every fleet and
 * a new plan changes the series, not the alerts.
 */

/** kube-state-metrics' name for a node label (every character outside `[a-zA-Z0-9_]` becomes `_`). */
export function kubeStateLabel(label: string): string {
  return `label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/** The exporter's partition mode labels, by which observed and planned partitions are matched. */
const MODE = `${EXPORTER_LABELS.hostname}, ${EXPORTER_LABELS.computePartition}, ${EXPORTER_LABELS.memoryPartition}`;

/**
 * `share` of each serving pod's KV cache in tokens, summed per model and node. vLLM reports its KV
 * use as a 0–1 fraction of its own cache; one replica's cache is the plan's capacity on the node
 * over its replicas there (exact when they share one partition shape, as they do unless a mixed
 * node holds the model on two partition sizes, where it is their mean).
 */
function kvTokens(share: string): string {
  const perReplica = `(${PLAN_METRICS.kvCapacityTokens} / on (${MODEL_TARGET_LABEL}, ${NODE_TARGET_LABEL}) ${PLAN_METRICS.replicas})`;
  return `sum by (${MODEL_TARGET_LABEL}, ${NODE_TARGET_LABEL}) (\n  ${share}\n  * on (${MODEL_TARGET_LABEL}, ${NODE_TARGET_LABEL}) group_left () ${perReplica}\n)`;
}

/**
 * The cluster in the plan's vocabulary: partitions per planned node and mode as the exporter
 * reports them (one series per logical GPU, i.e. per partition), serving vLLM pods per model
 * and node (vLLM only answers the scrape once its weights are loaded), and the KV-cache tokens
 * those pods use and have free.
 */
export function observedGroup(vllmJob: string, exporterJob: string): RuleGroup {
  const kvUsage = selector(VLLM_METRICS.kvCacheUsage, { job: vllmJob });
  return {
    name: 'aim.observed',
    rules: [
      {
        record: OBSERVED_METRICS.partitions,
        expr: `count by (${MODE}) (${selector(EXPORTER_METRICS.totalVram, { job: exporterJob })} and on (${EXPORTER_LABELS.hostname}) ${PLAN_METRICS.nodeProfile})`,
      },
      {
        record: OBSERVED_METRICS.servingPods,
        expr: `count by (${MODEL_TARGET_LABEL}, ${NODE_TARGET_LABEL}) (${selector('up', { job: vllmJob })} == 1)`,
      },
      { record: OBSERVED_METRICS.kvUsedTokens, expr: kvTokens(kvUsage) },
      { record: OBSERVED_METRICS.kvFreeTokens, expr: kvTokens(`(1 - ${kvUsage})`) },
    ],
  };
}

/** Fewer serving pods than the plan places, and pods on nodes the plan does not give them. */
export function availabilityGroup(): RuleGroup {
  const planned = `{{ with printf "${PLAN_METRICS.modelReplicas}{model=%q}" $labels.model | query }}{{ . | first | value }}{{ end }}`;
  return {
    name: 'aim.model-availability',
    rules: [
      {
        alert: 'ModelReplicasBelowPlan',
        expr: `(sum by (model) (${OBSERVED_METRICS.servingPods}) or 0 * ${PLAN_METRICS.modelReplicas}) < ${PLAN_METRICS.modelReplicas}`,
        for: '15m',
        labels: { severity: 'critical' },
        annotations: {
          summary: '{{ $labels.model }}: fewer serving pods than planned',
          description: `Only {{ $value }} of the ${planned} planned pods of model {{ $labels.model }} have answered the metrics scrape for 15 minutes (a pod answers once vLLM has loaded its weights).`,
        },
      },
      {
        alert: 'ModelPodsOffPlan',
        expr: `${OBSERVED_METRICS.servingPods} > on (model, node) (${PLAN_METRICS.replicas} or on (model, node) 0 * ${OBSERVED_METRICS.servingPods})`,
        for: '15m',
        labels: { severity: 'warning' },
        annotations: {
          summary: '{{ $labels.model }}: more pods on {{ $labels.node }} than planned',
          description: 'Model {{ $labels.model }} has had {{ $value }} serving pod(s) on node {{ $labels.node }} for 15 minutes, more than the plan places there: its pods are not pinned to their planned nodes, so partitions other replicas were planned onto are taken.',
        },
      },
    ],
  };
}

/** Planned nodes whose exporter series show other partition modes or counts than planned. */
function partitionDriftExpr(): string {
  const observed = OBSERVED_METRICS.partitions;
  const planned = PLAN_METRICS.partitions;
  const drifted = [
    `(${observed} != on (${MODE}) ${planned})`,
    `(${observed} unless on (${MODE}) ${planned})`,
    `((${planned} unless on (${MODE}) ${observed}) and on (${EXPORTER_LABELS.hostname}) ${observed})`,
  ].join('\n  or\n  ');
  return `label_replace(\n  count by (${EXPORTER_LABELS.hostname}) (\n  ${drifted}\n  ),\n  "node", "$1", "${EXPORTER_LABELS.hostname}", "(.*)"\n)`;
}

/**
 * How long a node may stay `draining` or `partitioning` before it is stuck. The partitioner bounds
 * every step and labels the node `failed` when one runs out, so with the default timeouts
 * (`partition-timeouts.ts`) either state ends well within it: `draining` takes at most the eviction
 * and the host going idle (2 × 600 s), `partitioning` the critical section (at most 2,400 s on 8
 * GPUs; with the gpu-operator backend, DCM's 900 s) and allocatable (300 s). Longer means the pod
 * died or hangs outside its timeouts.
 */
export const PARTITIONING_STUCK_AFTER = '1h';

/**
 * Nodes that are not in their planned partition profile: the partitioner gave up (its state label,
 * if kube-state-metrics exports it: `failed`, or `draining`/`partitioning` for too long), the node carries another
 * profile label, the exporter reports other modes or counts than the plan, or the device plugin
 * offers fewer partitions than the node's replicas need. A planned node whose exporter is silent
 * would hide its drift, so that alerts too.
 */
export function partitionGroup(exporterJob: string): RuleGroup {
  const profileLabel = kubeStateLabel(PROFILE_LABEL);
  const labelled = selector(KUBE_STATE_METRICS.nodeLabels, { [profileLabel]: { regex: '.+' } });
  const state = kubeStateLabel(PARTITION_STATE_LABEL);
  const allowlist = `--metric-labels-allowlist=nodes=[${PARTITION_STATE_LABEL},${PROFILE_LABEL}]`;
  const inChange = alternation([PARTITION_STATES.draining, PARTITION_STATES.partitioning]);
  const rules: AlertRule[] = [
    {
      alert: 'GpuPartitionSetupFailed',
      expr: `${selector(KUBE_STATE_METRICS.nodeLabels, { [state]: PARTITION_STATES.failed })} == 1`,
      labels: { severity: 'critical' },
      annotations: {
        summary: 'Partition setup failed on node {{ $labels.node }}',
        description: `The node partitioner labelled {{ $labels.node }} ${PARTITION_STATE_LABEL}=failed and left it cordoned; its Events say why. Needs kube-state-metrics to export the node label (${allowlist}).`,
      },
    },
    {
      // Keyed on the state label the partitioner persists on the Node, not on its taint, which it now
      // holds only while the modes change. The state is part of the alert's labels, so each state
      // has its own hour: `draining` turning into `partitioning` is progress.
      alert: 'GpuPartitioningStuck',
      expr: `${selector(KUBE_STATE_METRICS.nodeLabels, { [state]: { regex: inChange } })} == 1`,
      for: PARTITIONING_STUCK_AFTER,
      labels: { severity: 'warning' },
      annotations: {
        summary: `Node {{ $labels.node }} has been ${PARTITION_STATE_LABEL}={{ $labels.${state} }} for ${PARTITIONING_STUCK_AFTER}`,
        description: `The node partitioner cordoned {{ $labels.node }} and has left it ${PARTITION_STATE_LABEL}={{ $labels.${state} }} for ${PARTITIONING_STUCK_AFTER}, longer than its timeouts allow (a step that runs out labels the node failed): its pod is gone, not running (the node NotReady after a driver reload, say) or hung. The node takes no model pods meanwhile. Needs kube-state-metrics to export the node label (${allowlist}).`,
      },
    },
    {
      alert: 'GpuNodeProfileLabelMismatch',
      expr: `${PLAN_METRICS.nodeProfile}\nunless on (node, profile) label_replace(${labelled}, "profile", "$1", "${profileLabel}", "(.*)")\nand on (node) ${labelled}`,
      for: '30m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Node {{ $labels.node }} is labelled with another partition profile than the planned {{ $labels.profile }}',
        description: `For 30 minutes the ${PROFILE_LABEL} label of node {{ $labels.node }} has not been the planned {{ $labels.profile }}: the partitioner has not applied the plan (a new plan not rolled out, or setup failing before it labels the node).`,
      },
    },
    {
      alert: 'GpuPartitionDrift',
      expr: partitionDriftExpr(),
      for: '30m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Node {{ $labels.node }} is not in its planned partition profile',
        description: 'For 30 minutes the device metrics exporter on {{ $labels.node }} has reported GPU partitions in other modes or numbers than planned (compare aim:gpu_partitions:count with aim:plan_partitions).',
      },
    },
    {
      alert: 'GpuPartitionMetricsAbsent',
      expr: `${PLAN_METRICS.nodeProfile} unless on (${EXPORTER_LABELS.hostname}) ${selector(EXPORTER_METRICS.totalVram, { job: exporterJob })}`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'No GPU metrics from planned node {{ $labels.node }}',
        description: 'The device metrics exporter has reported nothing for {{ $labels.node }} for 15 minutes, so partition drift on it goes unseen.',
      },
    },
    {
      alert: 'GpuAllocatableBelowPlan',
      expr: `sum by (node) (\n  ${selector(KUBE_STATE_METRICS.nodeAllocatable, { resource: { regex: AMD_RESOURCE_REGEX } })}\n  or on (node) 0 * ${selector(KUBE_STATE_METRICS.nodeAllocatable, { resource: 'cpu' })}\n)\n< on (node) ${PLAN_METRICS.partitionsUsed}`,
      for: '15m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'Node {{ $labels.node }} offers fewer GPU partitions than its planned replicas hold',
        description: 'For 15 minutes the device plugin on {{ $labels.node }} has offered {{ $value }} AMD GPU partitions, fewer than the plan places replicas on: some of its model pods stay Pending.',
      },
    },
  ];
  return { name: 'aim.partitions', rules };
}

/** Replica ids listed in an alert before the rest are only counted. */
const LISTED_UNSCHEDULABLE = 20;

/**
 * Replicas the plan could not place, per model: constant for a given plan, but it keeps the
 * shortfall visible in Alertmanager for as long as the plan has it (and resolves when a plan
 * without it is synced).
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
        expr: `${PLAN_METRICS.unschedulable} > 0`,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'The GPU plan leaves {{ $value }} replica(s) of {{ $labels.model }} unplaced',
          description: missing.length ? `Not placed by the plan:\n${listed.join('\n')}` : 'Every replica is placed.',
        },
      },
    ],
  };
}
