import type { Precision } from '../api/types.ts';
import { defaultKvCacheDtype, kvBytesPerElement, weightBytes, type KvCacheDtype } from './precision.ts';
import type { MemoryEstimate, ModelInfo } from './types.ts';

/**
 * The memory one tensor-parallel rank of a vLLM replica needs (sizing notes §0):
 * weights/TP + KV cache per rank + activation peak + non-torch memory.
 * Figures are exact; callers round for display.
 */

export const GIB = 2 ** 30;

export interface EstimateOptions {
  readonly precision: Precision;
  readonly tensorParallel: number;
  /** Tokens of one sequence the KV cache must hold. */
  readonly maxModelLen: number;
  /** Full-length sequences held at once. */
  readonly concurrency: number;
  /**
   * Size sliding-window and chunked-local layers for every token, as engines without vLLM V1's
   * hybrid KV cache manager allocate them. @default false
   */
  readonly fullSlidingWindowKv?: boolean;
  /** @default - fp8 for fp8 weights, else the model's 16-bit dtype (see `defaultKvCacheDtype`) */
  readonly kvCacheDtype?: KvCacheDtype;
}

export function estimateMemory(model: ModelInfo, opts: EstimateOptions): MemoryEstimate {
  for (const [name, value] of [
    ['tensorParallel', opts.tensorParallel],
    ['maxModelLen', opts.maxModelLen],
    ['concurrency', opts.concurrency],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  const kvCacheDtype = opts.kvCacheDtype ?? defaultKvCacheDtype(opts.precision);
  const weightsGiB = weightBytes(model, opts.precision) / GIB;
  const kvTotalBytes =
    kvBytesPerSequence(model, opts.maxModelLen, kvCacheDtype, opts.fullSlidingWindowKv ?? false) * opts.concurrency;
  const kvCacheGiB = kvTotalBytes / kvShards(model, opts.tensorParallel) / GIB;
  const overheadGiB = activationPeakGiB(model) + nonTorchGiB(opts.tensorParallel);
  return {
    precision: opts.precision,
    tensorParallel: opts.tensorParallel,
    maxModelLen: opts.maxModelLen,
    concurrency: opts.concurrency,
    weightsGiB,
    kvBytesPerToken: kvBytesPerToken(model, kvCacheDtype),
    kvCacheGiB,
    overheadGiB,
    totalGiB: weightsGiB / opts.tensorParallel + kvCacheGiB + overheadGiB,
  };
}

/**
 * KV bytes per token per sequence, whole model, every caching layer counted for every token.
 * MLA caches one latent plus the decoupled RoPE key per layer; other attention caches K and V of
 * every KV head.
 */
export function kvBytesPerToken(model: ModelInfo, kvCacheDtype: KvCacheDtype): number {
  const bytes = kvBytesPerElement(kvCacheDtype);
  if (model.mla) return model.kvLayers * (model.mla.kvLoraRank + model.mla.qkRopeHeadDim) * bytes;
  return model.kvLayers * kvBytesPerLayerToken(model, bytes);
}

/**
 * KV bytes one sequence of `tokens` holds. With vLLM's hybrid KV cache manager, sliding-window
 * (Gemma 3) and chunked-local (Llama 4) layers keep only the last `window` tokens; global layers
 * keep all of them.
 */
function kvBytesPerSequence(
  model: ModelInfo,
  tokens: number,
  kvCacheDtype: KvCacheDtype,
  fullSlidingWindowKv: boolean,
): number {
  const sliding = model.slidingWindow;
  if (!sliding || fullSlidingWindowKv || model.mla) return kvBytesPerToken(model, kvCacheDtype) * tokens;
  const perLayerToken = kvBytesPerLayerToken(model, kvBytesPerElement(kvCacheDtype));
  return (
    tokens * sliding.fullLayers * perLayerToken + Math.min(tokens, sliding.window) * sliding.slidingLayers * perLayerToken
  );
}

/**
 * How many ranks the KV cache is split over. KV heads are sharded across ranks; past one head per
 * rank vLLM replicates them, so the per-rank share stops shrinking. The MLA latent is not sharded
 * by head: every rank holds all of it (sizing notes §1, an inference not confirmed by a source).
 */
function kvShards(model: ModelInfo, tensorParallel: number): number {
  return model.mla ? 1 : Math.min(tensorParallel, model.numKeyValueHeads);
}

function kvBytesPerLayerToken(model: ModelInfo, bytesPerElement: number): number {
  return 2 * model.numKeyValueHeads * model.headDim * bytesPerElement;
}

/**
 * Activation peak measured by vLLM's profiling run, llm-d capacity planner constants (H100,
 * vLLM v0.11; no ROCm measurement exists yet): first by architecture, then MoE, then multimodal,
 * else dense. It does not scale with max_model_len or with tensor parallelism.
 */
const ACTIVATION_GIB_BY_ARCHITECTURE: ReadonlyMap<string, number> = new Map([
  ['LlamaForCausalLM', 4.8],
  ['Qwen2ForCausalLM', 5.6],
  ['Qwen3ForCausalLM', 5.6],
  ['PixtralForConditionalGeneration', 2.5],
  ['Mistral3ForConditionalGeneration', 2.5],
]);
const ACTIVATION_GIB_MOE = 8.0;
const ACTIVATION_GIB_MULTIMODAL = 2.5;
const ACTIVATION_GIB_DENSE = 5.5;

function activationPeakGiB(model: ModelInfo): number {
  const byArchitecture = ACTIVATION_GIB_BY_ARCHITECTURE.get(model.architecture);
  if (byArchitecture !== undefined) return byArchitecture;
  if (model.moe) return ACTIVATION_GIB_MOE;
  return model.multimodal ? ACTIVATION_GIB_MULTIMODAL : ACTIVATION_GIB_DENSE;
}

/** HIP runtime and communication buffers outside torch's allocator; RCCL adds to it from TP 2. */
function nonTorchGiB(tensorParallel: number): number {
  return tensorParallel === 1 ? 0.15 : 0.6;
}
