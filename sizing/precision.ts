import type { Precision } from '../api/types.ts';
import type { ModelInfo } from './types.ts';

/**
 * What a precision means in bytes and in vLLM flags. The byte figures follow the weight estimates
 * of the model catalog's provenance (`scripts/import-model-catalog.ts`): quantized checkpoints keep
 * embeddings, lm_head and vision towers (`paramsKept16bit`) in 16-bit.
 */

/** KV cache element type: `auto` is the model's 16-bit dtype. */
export type KvCacheDtype = 'auto' | 'fp8';

/**
 * Bytes per quantized parameter. FP8/INT8 add one fp32 scale per 128×128 block (the block-wise
 * layout DeepSeek-V3 ships; per-tensor and per-channel scales are smaller, so this is an upper
 * bound). INT4 AWQ/GPTQ group 128 packs two weights a byte and adds an fp16 scale and a 4-bit zero
 * point per group of 128.
 */
const QUANTIZED_BYTES_PER_PARAM: Readonly<Record<Precision, number>> = {
  bf16: 2,
  fp16: 2,
  fp8: 1 + 4 / (128 * 128),
  int8: 1 + 4 / (128 * 128),
  int4: 0.5 + (2 + 0.5) / 128,
};

function isQuantized(precision: Precision): boolean {
  return precision !== 'bf16' && precision !== 'fp16';
}

/** Bytes of the whole model's weights at a precision. */
export function weightBytes(model: ModelInfo, precision: Precision): number {
  if (!isQuantized(precision)) return model.paramsTotal * 2;
  const quantizedParams = model.paramsTotal - model.paramsKept16bit;
  return quantizedParams * QUANTIZED_BYTES_PER_PARAM[precision] + model.paramsKept16bit * 2;
}

/**
 * FP8 weights come with an FP8 KV cache, as in AMD's AIM FP8 profiles (`kv-cache-dtype: fp8`,
 * `amd/*-FP8-KV` checkpoints): MI300X runs FP8 attention natively and the cache halves. Every
 * other precision keeps the cache in the model's 16-bit dtype, because vLLM's INT4/INT8 paths do
 * not imply an 8-bit cache.
 */
export function defaultKvCacheDtype(precision: Precision): KvCacheDtype {
  return precision === 'fp8' ? 'fp8' : 'auto';
}

export function kvBytesPerElement(kvCacheDtype: KvCacheDtype): number {
  return kvCacheDtype === 'fp8' ? 1 : 2;
}

/** The precision a model runs at when the spec names none. */
export function nativePrecision(model: ModelInfo): Precision {
  return model.checkpointPrecision ?? model.dtype;
}

/**
 * vLLM engine flags that select a precision.
 * - bf16/fp16: `--dtype`.
 * - fp8 from a 16-bit checkpoint: `--quantization fp8` quantizes it on load, activations in the
 *   model's dtype.
 * - A pre-quantized checkpoint (`preQuantized`: AWQ/GPTQ int4, W8A8 int8, or an FP8 one such as
 *   `amd/*-FP8-KV`): no `--quantization`. vLLM reads the method from the checkpoint's
 *   `quantization_config` and refuses a flag that names another one (an AWQ flag on a GPTQ
 *   checkpoint, `fp8` on a Quark or compressed-tensors one), so only the activation dtype is set.
 *   vLLM's AWQ/GPTQ kernels take fp16.
 * - `--kv-cache-dtype fp8` whenever the cache is 8-bit.
 *
 * `preQuantized` defaults to whether the model's own checkpoint is stored at `precision`
 * (DeepSeek-V3 ships FP8).
 */
export function engineFlags(
  model: Pick<ModelInfo, 'dtype' | 'checkpointPrecision'>,
  precision: Precision,
  kvCacheDtype: KvCacheDtype = defaultKvCacheDtype(precision),
  preQuantized: boolean = model.checkpointPrecision === precision,
): string[] {
  const flags = ['--dtype', torchDtype(activationDtype(model, precision))];
  if (precision === 'fp8' && !preQuantized) flags.push('--quantization', 'fp8');
  if (kvCacheDtype === 'fp8') flags.push('--kv-cache-dtype', 'fp8');
  return flags;
}

function activationDtype(model: Pick<ModelInfo, 'dtype'>, precision: Precision): 'bf16' | 'fp16' {
  if (precision === 'bf16' || precision === 'fp16') return precision;
  return precision === 'int4' ? 'fp16' : model.dtype;
}

function torchDtype(dtype: 'bf16' | 'fp16'): string {
  return dtype === 'bf16' ? 'bfloat16' : 'float16';
}
