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
 * The KV cache a replica runs with: fp8 when the Model asks for it, or when the checkpoint it
 * serves carries calibrated KV scales (AMD publishes those as `amd/*-FP8-KV`); otherwise the
 * model's 16-bit dtype. An fp8 cache without scales runs at scale 1.0 (e4m3fnuz, range ±240, on
 * MI300), an accuracy risk only the user may take.
 */
export function servedKvCacheDtype(requested: KvCacheDtype, checkpoint: string): KvCacheDtype {
  return requested === 'fp8' || CALIBRATED_KV_SCALES.test(checkpoint) ? 'fp8' : 'auto';
}

const CALIBRATED_KV_SCALES = /-FP8-KV(?::|$)/i;

export function kvBytesPerElement(kvCacheDtype: KvCacheDtype): number {
  return kvCacheDtype === 'fp8' ? 1 : 2;
}

/** The precision a model runs at when the spec names none. */
export function nativePrecision(model: ModelInfo): Precision {
  return model.checkpointPrecision ?? model.dtype;
}

/**
 * vLLM refuses float16 for these model types (`_FLOAT16_NOT_SUPPORTED_MODELS` in vLLM's model
 * config, vllm/config/model.py: "The model type … does not support float16. Reason: Numerical
 * instability."), raising a ValueError at startup.
 */
const FLOAT16_REFUSED_MODEL_TYPES: ReadonlySet<string> = new Set(['gemma2', 'gemma3', 'gemma3_text', 'plamo2', 'glm4']);

/**
 * AWQ and GPTQ run on ROCm through their Triton/exllama kernels, whose configs accept float16
 * activations only (`AWQConfig.get_supported_act_dtypes`, `GPTQConfig.get_supported_act_dtypes`:
 * `[torch.half]`; the bfloat16-capable Marlin kernels are CUDA-only).
 */
const INT4_ACTIVATION_DTYPE = 'fp16';

/** int4 checkpoints are group-quantized in groups of this many input channels (the catalog's weight estimate assumes 128). */
export const INT4_GROUP_SIZE = 128;

/** Why vLLM cannot run the model at the precision, or undefined when it can. */
export function precisionProblem(model: Pick<ModelInfo, 'id' | 'modelType'>, precision: Precision): string | undefined {
  if (!FLOAT16_REFUSED_MODEL_TYPES.has(model.modelType)) return undefined;
  if (precision === 'fp16') return `vLLM refuses float16 for ${model.modelType} models such as ${model.id} (numerical instability); use bf16`;
  if (precision === 'int4') {
    return `int4 (AWQ/GPTQ) runs on ROCm with float16 activations only, which vLLM refuses for ${model.modelType} models such as ${model.id}; use fp8 or bf16`;
  }
  return undefined;
}

/**
 * Why an int4 replica cannot be split `tensorParallel` ways, or undefined when it can: every
 * row-parallel layer (attention output, MLP down projection) must give each rank a whole number of
 * quantization groups (vLLM's GPTQ/AWQ `create_weights`: "The input size is not aligned with the
 * quantized weight shape. This can be caused by too large tensor parallel size.").
 */
export function int4TensorParallelProblem(model: ModelInfo, tensorParallel: number): string | undefined {
  const inputs = [model.numAttentionHeads * model.headDim, ...model.intermediateSizes];
  const bad = inputs.find((size) => (size / tensorParallel) % INT4_GROUP_SIZE !== 0);
  if (bad === undefined) return undefined;
  return `int4 at tensor parallelism ${tensorParallel}: a row-parallel layer of ${model.id} has ${bad} inputs, ${bad / tensorParallel} per rank, not a multiple of the ${INT4_GROUP_SIZE}-wide quantization groups`;
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
 *   int4 activations are float16 (see `INT4_ACTIVATION_DTYPE`).
 * - `--kv-cache-dtype fp8` whenever the cache is 8-bit.
 *
 * `preQuantized` defaults to whether the model's own checkpoint is stored at `precision`
 * (DeepSeek-V3 ships FP8).
 */
export function engineFlags(
  model: Pick<ModelInfo, 'dtype' | 'checkpointPrecision'>,
  precision: Precision,
  kvCacheDtype: KvCacheDtype = 'auto',
  preQuantized: boolean = model.checkpointPrecision === precision,
): string[] {
  const flags = ['--dtype', torchDtype(activationDtype(model, precision))];
  if (precision === 'fp8' && !preQuantized) flags.push('--quantization', 'fp8');
  if (kvCacheDtype === 'fp8') flags.push('--kv-cache-dtype', 'fp8');
  return flags;
}

function activationDtype(model: Pick<ModelInfo, 'dtype'>, precision: Precision): 'bf16' | 'fp16' {
  if (precision === 'bf16' || precision === 'fp16') return precision;
  return precision === 'int4' ? INT4_ACTIVATION_DTYPE : model.dtype;
}

function torchDtype(dtype: 'bf16' | 'fp16'): string {
  return dtype === 'bf16' ? 'bfloat16' : 'float16';
}
