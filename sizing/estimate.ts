import type { Precision } from '../api/types.ts';
import { CALIBRATED_ENGINE_VERSION, engineConstants, SMALL_DEVICE_BATCH, type BatchLimits, type EngineConstants } from './engine.ts';
import { kvLayout, requestBytes } from './kv.ts';
import { kvBytesPerElement, weightBytes, type KvCacheDtype } from './precision.ts';
import type { MemoryEstimate, ModelInfo } from './types.ts';

/**
 * The memory one tensor-parallel rank of a vLLM replica needs to start and to hold `concurrency`
 * full-length requests, as vLLM accounts it (`gpu_worker.determine_available_memory`):
 * weights/TP + activation peak of the profiling run + non-torch memory, plus a KV pool of at
 * least `concurrency` requests of `maxModelLen` tokens (`sizing/kv.ts`).
 * Figures are exact; callers round for display.
 */

export const GIB = 2 ** 30;

export interface EstimateOptions {
  readonly precision: Precision;
  readonly tensorParallel: number;
  /** Tokens of one sequence (`--max-model-len`). */
  readonly maxModelLen: number;
  /** Full-length sequences the KV pool must hold at once, at least. */
  readonly concurrency: number;
  /** Sliding-window layers cached for every token (`--disable-hybrid-kv-cache-manager`). @default false */
  readonly fullSlidingWindowKv?: boolean;
  /** @default auto (the model's 16-bit dtype) */
  readonly kvCacheDtype?: KvCacheDtype;
  /** `--max-num-batched-tokens` / `--max-num-seqs`. @default 2048 / 256, vLLM's small-device defaults */
  readonly batch?: BatchLimits;
  /** @default - the constants of the calibrated release */
  readonly engine?: EngineConstants;
}

/** The constants sizing uses when the caller names no release. */
export const DEFAULT_ENGINE: EngineConstants = engineConstants(CALIBRATED_ENGINE_VERSION)!;

export function estimateMemory(model: ModelInfo, opts: EstimateOptions): MemoryEstimate {
  for (const [name, value] of [
    ['tensorParallel', opts.tensorParallel],
    ['maxModelLen', opts.maxModelLen],
    ['concurrency', opts.concurrency],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  const engine = opts.engine ?? DEFAULT_ENGINE;
  const batch = opts.batch ?? SMALL_DEVICE_BATCH;
  const kvCacheDtype = opts.kvCacheDtype ?? 'auto';
  const weightsGiB = weightBytes(model, opts.precision) / GIB;
  const layout = kvLayout(model, { tensorParallel: opts.tensorParallel, kvCacheDtype, blockSize: engine.blockSize, fullSlidingWindowKv: opts.fullSlidingWindowKv });
  const kvCacheGiB = (opts.concurrency * requestBytes(layout, opts.maxModelLen, batch)) / GIB;
  const activationGiB = activationPeakGiB(model, batch, engine);
  const nonTorchGiB = opts.tensorParallel === 1 ? engine.nonTorchGiB.tp1 : engine.nonTorchGiB.tpN;
  const overheadGiB = activationGiB + nonTorchGiB;
  return {
    precision: opts.precision,
    tensorParallel: opts.tensorParallel,
    maxModelLen: opts.maxModelLen,
    concurrency: opts.concurrency,
    batch,
    kvCacheDtype,
    weightsGiB,
    kvBytesPerToken: kvBytesPerToken(model, kvCacheDtype),
    kvCacheGiB,
    activationGiB,
    nonTorchGiB,
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
  return model.kvLayers * 2 * model.numKeyValueHeads * model.headDim * bytes;
}

/**
 * The sampler's share of the profiling run: vLLM samples a dummy batch of `max_num_seqs`
 * sequences, holding fp32 logits over the vocabulary and the probabilities computed from them
 * (two fp32 copies). This is why Gemma's 262k vocabulary doubles it.
 */
const SAMPLER_FP32_COPIES = 2;

function samplerGiB(model: ModelInfo, maxNumSeqs: number): number {
  return (SAMPLER_FP32_COPIES * maxNumSeqs * model.vocabSize * 4) / GIB;
}

/**
 * Activation peak of vLLM's profiling run (`profile_run`: one forward pass of
 * `max_num_batched_tokens` tokens, then the sampler over `max_num_seqs` sequences). The measured
 * figure (by architecture, else MoE / multimodal / dense) is split into the sampler's share and
 * the forward pass's, which scales with the batched tokens.
 */
export function activationPeakGiB(model: ModelInfo, batch: BatchLimits, engine: EngineConstants): number {
  const base = engine.activationBase;
  const measured =
    engine.activationGiB.get(model.architecture) ?? (model.moe ? base.moe : model.multimodal ? base.multimodal : base.dense);
  const forward = Math.max(0, measured - samplerGiB(model, engine.measuredAt.maxNumSeqs));
  return (forward * batch.maxNumBatchedTokens) / engine.measuredAt.maxNumBatchedTokens + samplerGiB(model, batch.maxNumSeqs);
}
