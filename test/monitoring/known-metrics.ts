/**
 * Metric names that really exist, kept by hand from their sources so that a typo or a renamed
 * metric in the constructs fails a test instead of an alert silently matching nothing.
 */

/**
 * vLLM V1 (`vllm/v1/metrics/loggers.py`, `docs/design/metrics.md`). Counters are listed with the
 * `_total` suffix prometheus_client exposes, histograms by their series (`_bucket`, `_sum`, `_count`).
 */
const VLLM_GAUGES = ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:engine_sleep_state', 'vllm:cache_config_info'];
const VLLM_COUNTERS = [
  'vllm:prompt_tokens_total',
  'vllm:generation_tokens_total',
  'vllm:request_success_total',
  'vllm:num_preemptions_total',
  'vllm:prefix_cache_queries_total',
  'vllm:prefix_cache_hits_total',
];
const VLLM_HISTOGRAMS = [
  'vllm:time_to_first_token_seconds',
  'vllm:inter_token_latency_seconds',
  'vllm:request_time_per_output_token_seconds',
  'vllm:e2e_request_latency_seconds',
  'vllm:request_queue_time_seconds',
  'vllm:request_prefill_time_seconds',
  'vllm:request_decode_time_seconds',
  'vllm:request_inference_time_seconds',
  'vllm:request_prompt_tokens',
  'vllm:request_generation_tokens',
  'vllm:iteration_tokens_total',
  'vllm:request_max_num_generation_tokens',
  'vllm:request_params_n',
  'vllm:request_params_max_tokens',
];

/** Removed from vLLM (renamed), so they match nothing on a current server. */
export const REMOVED_VLLM_METRICS = ['vllm:gpu_cache_usage_perc', 'vllm:time_per_output_token_seconds', 'vllm:gpu_prefix_cache_queries', 'vllm:gpu_prefix_cache_hits'];

/** ROCm/device-metrics-exporter gauges (`docs/configuration/metricslist.md`), default names without a prefix. */
const EXPORTER_GAUGES = [
  'gpu_gfx_activity',
  'gpu_umc_activity',
  'gpu_gfx_busy_instantaneous',
  'gpu_used_vram',
  'gpu_free_vram',
  'gpu_total_vram',
  'gpu_power_usage',
  'gpu_package_power',
  'gpu_junction_temperature',
  'gpu_memory_temperature',
  'gpu_clock',
  'gpu_nodes_total',
];

/**
 * kube-state-metrics (`docs/metrics/cluster/node-metrics.md`: `kube_node_labels`,
 * `kube_node_spec_taint`, `kube_node_spec_unschedulable`, `kube_node_status_allocatable`) and Prometheus's own per-target `up`.
 */
const KUBERNETES = ['kube_node_labels', 'kube_node_spec_taint', 'kube_node_spec_unschedulable', 'kube_node_status_allocatable', 'up'];

const histogramSeries = (name: string) => [`${name}_bucket`, `${name}_sum`, `${name}_count`];

export const KNOWN_METRICS: ReadonlySet<string> = new Set([
  ...VLLM_GAUGES,
  ...VLLM_COUNTERS,
  ...VLLM_HISTOGRAMS.flatMap(histogramSeries),
  ...EXPORTER_GAUGES,
  ...KUBERNETES,
]);

/** Counters and histogram series: the only series `rate()`/`increase()` make sense of. */
export const CUMULATIVE_METRICS: ReadonlySet<string> = new Set([...VLLM_COUNTERS, ...VLLM_HISTOGRAMS.flatMap(histogramSeries)]);
