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
 * (`--metric-labels-allowlist=nodes=[gpusharing.aim/partition-state]`), with the name sanitised to
 * `label_gpusharing_aim_partition_state`; taints are exported by default.
 */
export const KUBE_STATE_METRICS = {
  nodeLabels: 'kube_node_labels',
  nodeTaint: 'kube_node_spec_taint',
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
