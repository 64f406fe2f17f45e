/**
 * Metric names the rules and dashboards query, and the PromQL quoting they are built with.
 *
 * vLLM (V1 engine, `vllm:` prefix): every series carries `model_name`, the served model name, which
 * the serving stage sets to the Model's name (`--served-model-name`). prometheus_client exposes
 * counters with a `_total` suffix; vLLM's own example rule `rate(vllm:num_preemptions[5m])` lacks it
 * and matches nothing. Renamed metrics (`gpu_cache_usage_perc`, `time_per_output_token_seconds`)
 * are gone from current releases and must not be used.
 */
export const VLLM_METRICS = {
  timeToFirstToken: 'vllm:time_to_first_token_seconds',
  interTokenLatency: 'vllm:inter_token_latency_seconds',
  e2eRequestLatency: 'vllm:e2e_request_latency_seconds',
  /** 0–1, the fraction of the KV-cache blocks in use. */
  kvCacheUsage: 'vllm:kv_cache_usage_perc',
  preemptions: 'vllm:num_preemptions_total',
  requestsRunning: 'vllm:num_requests_running',
  requestsWaiting: 'vllm:num_requests_waiting',
  generationTokens: 'vllm:generation_tokens_total',
  promptTokens: 'vllm:prompt_tokens_total',
} as const;

/**
 * AMD Device Metrics Exporter gauges (ROCm/device-metrics-exporter, default names without a
 * prefix). One series per logical GPU, i.e. per partition, each labelled `hostname` (the node),
 * `gpu_id`, `gpu_partition_id` and the parent GPU's modes as `gpu_compute_partition_type` and
 * `gpu_memory_partition_type` in lower case (`cpx`, `nps4`). Activity and power are reported on
 * partition 0 only; `gpu_gfx_busy_instantaneous` is the per-partition busy figure.
 */
export const EXPORTER_METRICS = {
  /** MB. */
  totalVram: 'gpu_total_vram',
  /** MB. */
  usedVram: 'gpu_used_vram',
  /** Percent. */
  gfxBusy: 'gpu_gfx_busy_instantaneous',
} as const;

export const EXPORTER_LABELS = {
  hostname: 'hostname',
  computePartition: 'gpu_compute_partition_type',
  memoryPartition: 'gpu_memory_partition_type',
} as const;

/**
 * kube-state-metrics series. Node labels appear in `kube_node_labels` only when allow-listed
 * (`--metric-labels-allowlist=nodes=[gpusharing.aim/partition-state,gpusharing.aim/partition-profile]`),
 * with the name sanitised to `label_gpusharing_aim_partition_state`; taints and the cordon are
 * exported by default.
 */
export const KUBE_STATE_METRICS = {
  nodeLabels: 'kube_node_labels',
  nodeTaint: 'kube_node_spec_taint',
  /** 1 while the node is cordoned (`spec.unschedulable`), as the partitioner keeps it from drain to ready or failed. */
  nodeUnschedulable: 'kube_node_spec_unschedulable',
  /**
   * `{node, resource, unit}`; an extended resource's name is sanitised to a label value, so
   * `amd.com/gpu` is `resource="amd_com_gpu"` and `amd.com/cpx_nps4` is `amd_com_cpx_nps4`
   * (kube-state-metrics `docs/metrics/cluster/node-metrics.md`).
   */
  nodeAllocatable: 'kube_node_status_allocatable',
} as const;

/** kube-state-metrics' `resource` values of the AMD device plugin's resources, `single` and `mixed` naming alike. */
export const AMD_RESOURCE_REGEX = 'amd_com_.+';

/**
 * The plan as series (recording rules of constant value, see `monitoring-plan.ts`). Labels: `model`
 * (the Model's name, as the vLLM PodMonitor's target label), `node` and `hostname` (the node name,
 * as kube-state-metrics and the AMD exporter name it), `pool`, the exporter's
 * `gpu_compute_partition_type`/`gpu_memory_partition_type`, `profile` (the node label value).
 */
export const PLAN_METRICS = {
  /** GPUs in the fleet. */
  gpus: 'aim:plan_gpus',
  gpusUsed: 'aim:plan_gpus_used',
  /** A lower bound on the GPUs any placement of the demand needs. */
  gpusLowerBound: 'aim:plan_gpus_lower_bound',
  /** 1 per planned node, `{node, hostname, pool, profile}`. */
  nodeProfile: 'aim:plan_node_profile',
  /** Partitions per node and mode. */
  partitions: 'aim:plan_partitions',
  /** Partitions per node and mode that no replica holds. */
  partitionsFree: 'aim:plan_partitions_free',
  /** Partitions per node that replicas hold (what the device plugin must offer). */
  partitionsUsed: 'aim:plan_partitions_used',
  /** Placed replicas per model. */
  modelReplicas: 'aim:plan_model_replicas',
  /** Replicas per model the plan could not place. */
  unschedulable: 'aim:plan_unschedulable_replicas',
  /** A model's p99 latency bound, `{model, slo}` with `slo` the spec field (`ttftSeconds`, …). */
  sloSeconds: 'aim:plan_slo_seconds',
  /** Replicas per model and node. */
  replicas: 'aim:plan_replicas',
  /** Memory vLLM may take per model and node: `--gpu-memory-utilization` × partition memory, summed. */
  memoryBytes: 'aim:plan_memory_bytes',
  /**
   * KV cache per model and node in tokens: each replica's `kvCacheTokens` (vLLM's "GPU KV cache
   * size"), summed; absent for a model known only by its memory.
   */
  kvCapacityTokens: 'aim:plan_kv_capacity_tokens',
} as const;

/** The cluster as observed, recorded in the plan's vocabulary (see `observedRecordingRules`). */
export const OBSERVED_METRICS = {
  /** Partitions the exporter reports per planned node and mode. */
  partitions: 'aim:gpu_partitions:count',
  /** vLLM pods answering the scrape, per model and node. */
  servingPods: 'aim:serving_pods:count',
  /**
   * KV-cache tokens in use per model and node: each serving pod's `vllm:kv_cache_usage_perc` (a
   * 0–1 fraction of its own cache) times the capacity the plan gives one replica there, summed.
   */
  kvUsedTokens: 'aim:kv_cache_used_tokens:sum',
  /** KV-cache tokens free per model and node, over the pods serving: (1 − usage) × one replica's capacity, summed. */
  kvFreeTokens: 'aim:kv_cache_free_tokens:sum',
} as const;

/**
 * A PromQL string literal. PromQL double-quoted strings take Go escapes; JSON's are a subset for
 * the characters that can occur in names, so JSON quoting is exact.
 */
function promString(value: string): string {
  return JSON.stringify(value);
}

/** A regex matching exactly one of `values` (PromQL anchors regex matchers), for `{ regex }` matchers. */
export function alternation(values: readonly string[]): string {
  if (values.length === 0) throw new Error('an alternation needs at least one value');
  return values.map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}

/** An equality matcher (a plain string) or a regex matcher (`=~`). */
export type MatcherValue = string | { readonly regex: string };

/** `metric{a="x",b=~"y"}`, matchers in the order given. */
export function selector(metric: string, matchers: Readonly<Record<string, MatcherValue>>): string {
  const parts = Object.entries(matchers).map(([label, value]) =>
    typeof value === 'string' ? `${label}=${promString(value)}` : `${label}=~${promString(value.regex)}`,
  );
  return parts.length ? `${metric}{${parts.join(',')}}` : metric;
}
