/**
 * vLLM's startup checks, re-implemented from its source for the tests, independently of the
 * sizing code: a replica whose flags fail here would be refused when its pod starts.
 *
 * - `gpu_worker.init_device` (vllm/v1/worker/gpu_worker.py): free device memory at startup must be
 *   at least `gpu_memory_utilization × total`, else "Free memory on device … is less than desired
 *   GPU memory utilization".
 * - `determine_available_memory`: the KV pool is `utilization × total − (weights + torch peak of
 *   the profiling run + non-torch memory)`; "No available memory for the cache blocks" when ≤ 0.
 * - `check_enough_kv_cache_memory` (vllm/v1/core/kv_cache_utils.py): the pool must hold the sum
 *   over layers of `max_memory_usage_bytes` (vllm/v1/kv_cache_interface.py):
 *   full attention `cdiv(L, block) × page`; sliding window
 *   `(cdiv(min(window − 1 + max_num_batched_tokens, L), block) + 1) × page`; chunked local
 *   `cdiv(min(chunk + max_num_batched_tokens, L), block) × page`; page = block × bytes per token
 *   of the layer (K and V of the rank's `max(1, kv_heads // tp)` heads; one latent for MLA).
 * - `ModelConfig` dtype check: float16 refused for gemma2, gemma3, gemma3_text, plamo2, glm4
 *   (`_FLOAT16_NOT_SUPPORTED_MODELS`).
 * - `SchedulerConfig`: `max_num_batched_tokens >= max_num_seqs`.
 */

const GIB = 2 ** 30;
const BLOCK_SIZE = 16;
const FLOAT16_NOT_SUPPORTED = new Set(['gemma2', 'gemma3', 'gemma3_text', 'plamo2', 'glm4']);

/** The config facts the checks read (a catalog file's fields). */
export interface VllmModelConfig {
  readonly id: string;
  readonly modelType: string;
  readonly architecture: string;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly kvLayers: number;
  readonly mla: { readonly kvLoraRank: number; readonly qkRopeHeadDim: number } | null;
  readonly slidingWindow: { readonly window: number; readonly slidingLayers: number; readonly fullLayers: number } | null;
}

/** What the engine is started with and on. */
export interface VllmStartup {
  readonly model: VllmModelConfig;
  readonly dtype: string;
  readonly kvCacheDtype: 'auto' | 'fp8';
  readonly tensorParallel: number;
  readonly maxModelLen: number;
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  readonly gpuMemoryUtilization: number;
  readonly disableHybridKvCacheManager: boolean;
  /** Device memory vLLM sees (the partition). */
  readonly totalGiB: number;
  /** Free at startup: what the partition leaves to vLLM. */
  readonly freeGiB: number;
  /** weights/TP + activation peak + non-torch, per rank, as the profiling run would measure it. */
  readonly nonKvGiB: number;
}

export interface VllmVerdict {
  readonly errors: readonly string[];
  /** Per rank. */
  readonly availableKvBytes: number;
  readonly neededKvBytes: number;
}

function cdiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** Bytes one rank's layers need for one request of max_model_len tokens. */
export function neededKvBytes(s: VllmStartup): number {
  const m = s.model;
  const elem = s.kvCacheDtype === 'fp8' ? 1 : 2;
  const perToken = m.mla ? (m.mla.kvLoraRank + m.mla.qkRopeHeadDim) * elem : 2 * Math.max(1, Math.floor(m.numKeyValueHeads / s.tensorParallel)) * m.headDim * elem;
  const page = BLOCK_SIZE * perToken;
  const L = s.maxModelLen;
  const full = cdiv(L, BLOCK_SIZE) * page;
  const local = m.slidingWindow;
  if (!local || m.mla || s.disableHybridKvCacheManager) return m.kvLayers * full;
  const chunked = m.architecture.startsWith('Llama4');
  const localBytes = chunked
    ? cdiv(Math.min(local.window + s.maxNumBatchedTokens, L), BLOCK_SIZE) * page
    : (cdiv(Math.min(local.window - 1 + s.maxNumBatchedTokens, L), BLOCK_SIZE) + 1) * page;
  return local.fullLayers * full + local.slidingLayers * localBytes;
}

export function vllmStartupCheck(s: VllmStartup): VllmVerdict {
  const errors: string[] = [];
  if (s.dtype === 'float16' && FLOAT16_NOT_SUPPORTED.has(s.model.modelType)) {
    errors.push(`The model type '${s.model.modelType}' does not support float16`);
  }
  if (s.maxNumBatchedTokens < s.maxNumSeqs) errors.push('max_num_batched_tokens must be >= max_num_seqs');
  if (!(s.gpuMemoryUtilization > 0 && s.gpuMemoryUtilization <= 1)) errors.push(`gpu_memory_utilization ${s.gpuMemoryUtilization} out of (0, 1]`);
  const requestedGiB = s.gpuMemoryUtilization * s.totalGiB;
  if (s.freeGiB < requestedGiB) {
    errors.push(`Free memory on device (${s.freeGiB.toFixed(2)} GiB) is less than desired GPU memory utilization (${requestedGiB.toFixed(2)} GiB)`);
  }
  const availableKvBytes = (requestedGiB - s.nonKvGiB) * GIB;
  const needed = neededKvBytes(s);
  if (availableKvBytes <= 0) errors.push('No available memory for the cache blocks');
  else if (needed > availableKvBytes) {
    errors.push(`To serve at least one request with max seq len ${s.maxModelLen}, ${(needed / GIB).toFixed(2)} GiB KV cache is needed, larger than the available ${(availableKvBytes / GIB).toFixed(2)} GiB`);
  }
  return { errors, availableKvBytes, neededKvBytes: needed };
}

/** `--flag=value` and `--flag value` args → a map of flag to value (`true` for bare flags). */
export function parseArgs(args: readonly string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) out.set(arg.slice(2, eq), arg.slice(eq + 1));
    else if (args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) out.set(arg.slice(2), args[++i]!);
    else out.set(arg.slice(2), true);
  }
  return out;
}
