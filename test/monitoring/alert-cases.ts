import { profileLabelValue } from '../../constructs/labels.ts';
import { monitoredInput, monitoringObjects, rulesOf } from './fixtures.ts';

/**
 * `promtool test rules` cases for every alert of the monitored fixture fleet: for each alert, series
 * on which it must fire (with exactly the expected labels and expanded annotations) and series on
 * which it must stay silent. promtool compares the full list of firing alerts, so an alert firing
 * for one more model, node or pod than expected fails as surely as one that does not fire.
 *
 * The fixture plan: gpu-node-01 in CPX-NPS4 (64 partitions) holds llama-8b#0, llama-8b#1 and
 * qwen-32b#0 (two partitions); gpu-node-02.dc1.example.com is mixed, 2 GPUs CPX-NPS1 (16
 * partitions) and 6 SPX-NPS1, and holds llama-8b#2 and llama-70b#0; llama-70b#1 is unplaced.
 */

export const input = monitoredInput();
export const objects = monitoringObjects(input)!;
export const rules = rulesOf(objects);

export const VLLM_JOB = 'aim-models/aim-vllm';
export const EXPORTER_JOB = 'aim-system/aim-gpu-metrics-exporter';
const NODE_1 = 'gpu-node-01';
const NODE_2 = 'gpu-node-02.dc1.example.com';
const PROFILE_1 = 'cpx-nps4';
const PROFILE_2 = profileLabelValue(input.plan.nodes[1]!);
const POOL = 'mi300x';

export interface Series {
  readonly series: string;
  readonly values: string;
}
export interface ExpectedAlert {
  readonly exp_labels: Record<string, string>;
  readonly exp_annotations: Record<string, string>;
}
export interface AlertCheck {
  readonly eval_time: string;
  readonly alertname: string;
  readonly exp_alerts: readonly ExpectedAlert[];
}
/** A recording rule's value checked at `eval_time`: `labels` is the whole series, name included. */
export interface ExprCheck {
  readonly expr: string;
  readonly eval_time: string;
  readonly exp_samples: ReadonlyArray<{ readonly labels: string; readonly value: number }>;
}
export interface RuleTest {
  readonly name: string;
  readonly input_series: readonly Series[];
  readonly alert_rule_test: readonly AlertCheck[];
  readonly promql_expr_test?: readonly ExprCheck[];
}

/** The annotations of the rule `alert` whose labels include `labels`, with `$labels.x` and `$value` expanded. */
function annotations(alert: string, labels: Record<string, string>, value?: string, ruleLabels: Record<string, string> = {}): Record<string, string> {
  const found = rules.find(({ rule }) => rule.alert === alert && Object.entries(ruleLabels).every(([k, v]) => rule.labels?.[k] === v));
  if (!found) throw new Error(`no ${alert} rule with ${JSON.stringify(ruleLabels)}`);
  const expand = (text: string) =>
    text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? '').replace(/\{\{ \$value \}\}/g, value ?? '');
  return Object.fromEntries(Object.entries(found.rule.annotations ?? {}).map(([k, v]) => [k, expand(v)]));
}

/** An alert expected with `labels` (the rule's severity added) and its annotations expanded. */
function fires(alert: string, labels: Record<string, string>, value?: string, ruleLabels: Record<string, string> = {}): ExpectedAlert {
  const rule = rules.find((r) => r.rule.alert === alert && Object.entries(ruleLabels).every(([k, v]) => r.rule.labels?.[k] === v))!.rule;
  const all = { ...rule.labels, ...labels };
  return { exp_labels: all, exp_annotations: annotations(alert, all, value, ruleLabels) };
}

const constant = (series: string, value: number | string, samples = 240): Series => ({ series, values: `${value}x${samples}` });

/** One exporter series per partition, in the given modes. */
function partitions(host: string, modes: ReadonlyArray<readonly [string, string, number]>): Series[] {
  let gpu = 0;
  return modes.flatMap(([compute, memory, count]) =>
    Array.from({ length: count }, () =>
      constant(`gpu_total_vram{job="${EXPORTER_JOB}",hostname="${host}",gpu_id="${gpu++}",gpu_compute_partition_type="${compute}",gpu_memory_partition_type="${memory}"}`, 196592),
    ),
  );
}
const AS_PLANNED_1 = partitions(NODE_1, [['cpx', 'nps4', 64]]);
const AS_PLANNED_2 = partitions(NODE_2, [['cpx', 'nps1', 16], ['spx', 'nps1', 6]]);

function up(model: string, node: string, pod: string, value: number): Series {
  return constant(`up{job="${VLLM_JOB}",model="${model}",node="${node}",pod="${pod}"}`, value);
}
/** Pods as the plan places them, all serving. */
const PLANNED_PODS = [
  up('llama-8b', NODE_1, 'l8-a', 1),
  up('llama-8b', NODE_1, 'l8-b', 1),
  up('llama-8b', NODE_2, 'l8-c', 1),
  up('qwen-32b', NODE_1, 'q-a', 1),
  up('llama-70b', NODE_2, 'l70-a', 1),
];

/** A cumulative latency histogram in which every request lands in the buckets from `firstLe` up. */
function histogram(metric: string, model: string, bounds: readonly number[], firstLe: number): Series[] {
  return [...bounds.map(String), '+Inf'].map((le) => ({
    series: `${metric}_bucket{job="${VLLM_JOB}",model_name="${model}",le="${le}"}`,
    values: le === '+Inf' || Number(le) >= firstLe ? '0+10x400' : '0x400',
  }));
}

function nodeLabels(node: string, labels: Record<string, string>): Series {
  const extra = Object.entries(labels).map(([k, v]) => `,${k}="${v}"`).join('');
  return constant(`kube_node_labels{node="${node}"${extra}}`, 1);
}
const allocatable = (node: string, resource: string, value: number): Series =>
  constant(`kube_node_status_allocatable{node="${node}",resource="${resource}",unit="${resource === 'cpu' ? 'core' : 'integer'}"}`, value);

/** vLLM's KV usage fraction of one pod, with the model and node the PodMonitor copies onto it. */
function kvUsage(model: string, node: string, pod: string, fraction: number): Series {
  return constant(`vllm:kv_cache_usage_perc{job="${VLLM_JOB}",model_name="${model}",model="${model}",node="${node}",pod="${pod}"}`, fraction);
}
/** The values `record` must have at 10m, keyed `model@node` (promtool compares them in any order). */
function kvSamples(record: string, values: Record<string, number>): ExprCheck {
  const exp_samples = Object.entries(values).map(([key, value]) => {
    const [model, node] = key.split('@') as [string, string];
    return { labels: `${record}{model="${model}",node="${node}"}`, value };
  });
  return { expr: record, eval_time: '10m', exp_samples };
}

const PROFILE = 'label_gpusharing_aim_partition_profile';
const STATE = 'label_gpusharing_aim_partition_state';

export const RULE_TESTS: RuleTest[] = [
  {
    name: 'nodes as planned: no partition alert',
    input_series: [
      ...AS_PLANNED_1,
      ...AS_PLANNED_2,
      nodeLabels(NODE_1, { [PROFILE]: PROFILE_1, [STATE]: 'ready' }),
      nodeLabels(NODE_2, { [PROFILE]: PROFILE_2, [STATE]: 'ready' }),
      allocatable(NODE_1, 'cpu', 192),
      allocatable(NODE_1, 'amd_com_gpu', 63),
      allocatable(NODE_2, 'cpu', 192),
      allocatable(NODE_2, 'amd_com_cpx_nps1', 16),
      allocatable(NODE_2, 'amd_com_spx_nps1', 6),
    ],
    alert_rule_test: ['GpuPartitionDrift', 'GpuPartitionMetricsAbsent', 'GpuNodeProfileLabelMismatch', 'GpuPartitionSetupFailed', 'GpuPartitioningStuck', 'GpuAllocatableBelowPlan'].map(
      (alertname) => ({ eval_time: '2h', alertname, exp_alerts: [] }),
    ),
  },
  {
    name: 'both nodes left in SPX',
    input_series: [...partitions(NODE_1, [['spx', 'nps1', 8]]), ...partitions(NODE_2, [['spx', 'nps1', 8]])],
    alert_rule_test: [
      {
        eval_time: '40m',
        alertname: 'GpuPartitionDrift',
        exp_alerts: [fires('GpuPartitionDrift', { node: NODE_1, hostname: NODE_1 }), fires('GpuPartitionDrift', { node: NODE_2, hostname: NODE_2 })],
      },
    ],
  },
  {
    name: 'half the partitions, and the right counts in an unplanned memory mode',
    input_series: [...partitions(NODE_1, [['cpx', 'nps4', 32]]), ...partitions(NODE_2, [['cpx', 'nps1', 16], ['spx', 'nps4', 6]])],
    alert_rule_test: [
      { eval_time: '20m', alertname: 'GpuPartitionDrift', exp_alerts: [] },
      {
        eval_time: '40m',
        alertname: 'GpuPartitionDrift',
        exp_alerts: [fires('GpuPartitionDrift', { node: NODE_1, hostname: NODE_1 }), fires('GpuPartitionDrift', { node: NODE_2, hostname: NODE_2 })],
      },
    ],
  },
  {
    name: 'a planned mode missing while the node reports the others',
    input_series: [...AS_PLANNED_1, ...partitions(NODE_2, [['cpx', 'nps1', 16]])],
    alert_rule_test: [{ eval_time: '40m', alertname: 'GpuPartitionDrift', exp_alerts: [fires('GpuPartitionDrift', { node: NODE_2, hostname: NODE_2 })] }],
  },
  {
    name: 'an unplanned node in another mode is none of the fleet\'s business',
    input_series: [...AS_PLANNED_1, ...AS_PLANNED_2, ...partitions('cpu-node-9', [['spx', 'nps1', 8]])],
    alert_rule_test: [{ eval_time: '40m', alertname: 'GpuPartitionDrift', exp_alerts: [] }],
  },
  {
    name: 'a node whose exporter is silent',
    input_series: AS_PLANNED_1,
    alert_rule_test: [
      { eval_time: '10m', alertname: 'GpuPartitionMetricsAbsent', exp_alerts: [] },
      { eval_time: '40m', alertname: 'GpuPartitionDrift', exp_alerts: [] },
      {
        eval_time: '40m',
        alertname: 'GpuPartitionMetricsAbsent',
        exp_alerts: [fires('GpuPartitionMetricsAbsent', { node: NODE_2, hostname: NODE_2, pool: POOL, profile: PROFILE_2 })],
      },
    ],
  },
  {
    // Each state within the partitioner's timeouts, 80 minutes in all: progress, not stuck. The mode
    // change's taint, held for 40 minutes, is not what the alert reads.
    name: 'a repartition that drains for 40 minutes, partitions for 40, then is ready',
    input_series: [
      { series: `kube_node_labels{node="${NODE_1}",${PROFILE}="spx-nps1",${STATE}="draining"}`, values: '1x39' },
      { series: `kube_node_labels{node="${NODE_1}",${PROFILE}="spx-nps1",${STATE}="partitioning"}`, values: '_x40 1x39' },
      { series: `kube_node_labels{node="${NODE_1}",${PROFILE}="${PROFILE_1}",${STATE}="ready"}`, values: '_x80 1x160' },
      { series: `kube_node_spec_taint{node="${NODE_1}",key="gpusharing.aim/partitioning",effect="NoSchedule"}`, values: '_x40 1x39' },
      { series: `kube_node_spec_unschedulable{node="${NODE_1}"}`, values: '1x79 0x160' },
    ],
    alert_rule_test: [30, 70, 100, 180].flatMap((minutes) =>
      ['GpuPartitioningStuck', 'GpuPartitionSetupFailed'].map((alertname) => ({ eval_time: `${minutes}m`, alertname, exp_alerts: [] })),
    ),
  },
  {
    name: 'partitioner failed on one node, stuck partitioning on the other, and labelled the wrong profile',
    input_series: [
      nodeLabels(NODE_1, { [PROFILE]: 'spx-nps1', [STATE]: 'failed' }),
      nodeLabels(NODE_2, { [PROFILE]: PROFILE_2, [STATE]: 'partitioning' }),
      constant(`kube_node_spec_unschedulable{node="${NODE_1}"}`, 1),
      constant(`kube_node_spec_unschedulable{node="${NODE_2}"}`, 1),
    ],
    alert_rule_test: [
      { eval_time: '50m', alertname: 'GpuPartitioningStuck', exp_alerts: [] },
      {
        eval_time: '2h',
        alertname: 'GpuPartitioningStuck',
        exp_alerts: [fires('GpuPartitioningStuck', { node: NODE_2, [PROFILE]: PROFILE_2, [STATE]: 'partitioning' })],
      },
      { eval_time: '2h', alertname: 'GpuPartitionSetupFailed', exp_alerts: [fires('GpuPartitionSetupFailed', { node: NODE_1, [PROFILE]: 'spx-nps1', [STATE]: 'failed' })] },
      {
        eval_time: '2h',
        alertname: 'GpuNodeProfileLabelMismatch',
        exp_alerts: [fires('GpuNodeProfileLabelMismatch', { node: NODE_1, hostname: NODE_1, pool: POOL, profile: PROFILE_1 })],
      },
    ],
  },
  {
    name: 'device plugin offers too few partitions on one node, none on the other',
    input_series: [allocatable(NODE_1, 'cpu', 192), allocatable(NODE_1, 'amd_com_gpu', 2), allocatable(NODE_2, 'cpu', 192)],
    alert_rule_test: [
      { eval_time: '10m', alertname: 'GpuAllocatableBelowPlan', exp_alerts: [] },
      {
        eval_time: '30m',
        alertname: 'GpuAllocatableBelowPlan',
        exp_alerts: [fires('GpuAllocatableBelowPlan', { node: NODE_1 }, '2'), fires('GpuAllocatableBelowPlan', { node: NODE_2 }, '0')],
      },
    ],
  },
  {
    name: 'every model serving as planned',
    input_series: PLANNED_PODS,
    alert_rule_test: ['ModelReplicasBelowPlan', 'ModelPodsOffPlan'].map((alertname) => ({ eval_time: '30m', alertname, exp_alerts: [] })),
  },
  {
    name: 'models short of pods, and pods on nodes the plan does not give them',
    input_series: [
      up('llama-8b', NODE_1, 'l8-a', 1),
      up('llama-8b', NODE_1, 'l8-b', 1),
      up('llama-8b', NODE_1, 'l8-c', 1),
      up('qwen-32b', NODE_2, 'q-a', 1),
      up('llama-70b', NODE_2, 'l70-a', 0),
    ],
    alert_rule_test: [
      { eval_time: '10m', alertname: 'ModelReplicasBelowPlan', exp_alerts: [] },
      {
        eval_time: '30m',
        alertname: 'ModelReplicasBelowPlan',
        exp_alerts: [
          {
            ...fires('ModelReplicasBelowPlan', { model: 'llama-70b' }),
            exp_annotations: {
              ...annotations('ModelReplicasBelowPlan', { model: 'llama-70b' }),
              description: 'Only 0 of the 1 planned pods of model llama-70b have answered the metrics scrape for 15 minutes (a pod answers once vLLM has loaded its weights).',
            },
          },
        ],
      },
      {
        eval_time: '30m',
        alertname: 'ModelPodsOffPlan',
        exp_alerts: [fires('ModelPodsOffPlan', { model: 'llama-8b', node: NODE_1 }, '3'), fires('ModelPodsOffPlan', { model: 'qwen-32b', node: NODE_2 }, '1')],
      },
    ],
  },
  {
    name: 'KV cache full and preempting in one pod only',
    input_series: [
      constant(`vllm:kv_cache_usage_perc{job="${VLLM_JOB}",model_name="llama-8b",pod="l8-a"}`, 0.95),
      constant(`vllm:kv_cache_usage_perc{job="${VLLM_JOB}",model_name="llama-8b",pod="l8-b"}`, 0.85),
      { series: `vllm:num_preemptions_total{job="${VLLM_JOB}",model_name="llama-8b",pod="l8-a"}`, values: '0+3x240' },
      constant(`vllm:num_preemptions_total{job="${VLLM_JOB}",model_name="llama-8b",pod="l8-b"}`, 7),
    ],
    alert_rule_test: [
      { eval_time: '5m', alertname: 'ModelKvCacheNearlyFull', exp_alerts: [] },
      { eval_time: '5m', alertname: 'ModelRequestsPreempted', exp_alerts: [] },
      { eval_time: '30m', alertname: 'ModelKvCacheNearlyFull', exp_alerts: [fires('ModelKvCacheNearlyFull', { model_name: 'llama-8b', pod: 'l8-a' })] },
      { eval_time: '30m', alertname: 'ModelRequestsPreempted', exp_alerts: [fires('ModelRequestsPreempted', { model_name: 'llama-8b', pod: 'l8-a' })] },
    ],
  },
  {
    name: 'KV tokens in use and free: each pod\'s usage fraction of one replica\'s planned capacity, summed per model and node',
    input_series: [
      kvUsage('llama-8b', NODE_1, 'l8-a', 0.5),
      kvUsage('llama-8b', NODE_1, 'l8-b', 0.25),
      kvUsage('llama-8b', NODE_2, 'l8-c', 1),
      kvUsage('qwen-32b', NODE_1, 'q-a', 0.125),
      // llama-70b serves no pod: neither used nor free tokens, its capacity is not there.
    ],
    alert_rule_test: [],
    promql_expr_test: [
      // llama-8b: 2 × 40000 tokens planned on node 1, 40000 on node 2; qwen-32b: 60000.
      kvSamples('aim:kv_cache_used_tokens:sum', { [`llama-8b@${NODE_1}`]: (0.5 + 0.25) * 40000, [`llama-8b@${NODE_2}`]: 40000, [`qwen-32b@${NODE_1}`]: 0.125 * 60000 }),
      kvSamples('aim:kv_cache_free_tokens:sum', { [`llama-8b@${NODE_1}`]: (0.5 + 0.75) * 40000, [`llama-8b@${NODE_2}`]: 0, [`qwen-32b@${NODE_1}`]: 0.875 * 60000 }),
    ],
  },
  {
    name: 'llama-8b breaches its TTFT and ITL SLOs, qwen-32b its E2E SLO; the others meet theirs',
    input_series: [
      ...histogram('vllm:time_to_first_token_seconds', 'llama-8b', [0.25, 0.5, 1], 1),
      ...histogram('vllm:time_to_first_token_seconds', 'qwen-32b', [0.25, 0.5, 1], 1),
      ...histogram('vllm:inter_token_latency_seconds', 'llama-8b', [0.025, 0.05, 0.1], 0.1),
      ...histogram('vllm:e2e_request_latency_seconds', 'llama-8b', [10, 20, 40], 40),
      ...histogram('vllm:e2e_request_latency_seconds', 'qwen-32b', [10, 20, 40], 40),
    ],
    alert_rule_test: [
      ...(['ModelTimeToFirstTokenSloBreach', 'ModelInterTokenLatencySloBreach', 'ModelEndToEndLatencySloBreach'] as const).map((alertname) => ({
        eval_time: '1m',
        alertname,
        exp_alerts: [],
      })),
      ...(
        [
          ['ModelTimeToFirstTokenSloBreach', 'llama-8b', 'ttftSeconds'],
          ['ModelInterTokenLatencySloBreach', 'llama-8b', 'itlSeconds'],
          ['ModelEndToEndLatencySloBreach', 'qwen-32b', 'e2eSeconds'],
        ] as const
      ).map(([alertname, model, slo]) => ({
        eval_time: '70m',
        alertname,
        exp_alerts: ['5m/1h', '30m/6h'].map((window) => fires(alertname, { model, slo, window }, undefined, { model, slo, window })),
      })),
    ],
  },
  {
    name: 'SLOs met',
    input_series: [
      ...histogram('vllm:time_to_first_token_seconds', 'llama-8b', [0.25, 0.5, 1], 0.25),
      ...histogram('vllm:inter_token_latency_seconds', 'llama-8b', [0.025, 0.05, 0.1], 0.025),
      ...histogram('vllm:e2e_request_latency_seconds', 'qwen-32b', [10, 20, 40], 10),
    ],
    alert_rule_test: ['ModelTimeToFirstTokenSloBreach', 'ModelInterTokenLatencySloBreach', 'ModelEndToEndLatencySloBreach'].map((alertname) => ({
      eval_time: '70m',
      alertname,
      exp_alerts: [],
    })),
  },
  {
    name: 'the plan leaves a replica of llama-70b unplaced, none of the others',
    input_series: [],
    alert_rule_test: [
      { eval_time: '5m', alertname: 'PlanHasUnschedulableReplicas', exp_alerts: [fires('PlanHasUnschedulableReplicas', { model: 'llama-70b' }, '1')] },
    ],
  },
];

/** The same fleet with every replica placed: the rules of that plan, and where they must stay silent. */
export const placedObjects = monitoringObjects({ ...input, plan: { ...input.plan, unschedulable: [] } })!;
export const PLACED_TESTS: RuleTest[] = [
  {
    name: 'a plan that places every replica',
    input_series: [],
    alert_rule_test: [{ eval_time: '5m', alertname: 'PlanHasUnschedulableReplicas', exp_alerts: [] }],
  },
];
