import { GPU_PRODUCTS, type GpuProduct, type Precision } from '../api/types.ts';
import { DEFAULT_MAX_MODEL_LEN } from './candidates.ts';
import { estimateMemory } from './estimate.ts';
import { profilesBySize, profilePartitionsPerNode, round2, shardableDegrees, smallestFit } from './fit.ts';
import { GPU_CATALOG } from '../hardware/gpus.ts';
import type { ModelCatalog } from './model-catalog.ts';
import { engineFlags, precisionProblem } from './precision.ts';
import type { ModelInfo } from './types.ts';

/**
 * AIM profiles in the original project's format (one JSON per model × precision under
 * `aim_profiles/`), extended with the sizing behind the numbers and the smallest partition that
 * holds the model on each GPU product. Sized for one sequence of min(context, 8192) tokens.
 * Memory figures are GiB (2^30 B) although the inherited keys say `_gb`; `memory_unit` says so.
 */

export const AIM_PROFILE_PRECISIONS = ['fp16', 'int8', 'int4', 'fp8'] as const satisfies readonly Precision[];

/** AIM profiles target whole MI300X GPUs; the top-level recommendation is for that product. */
const RECOMMENDED_GPU: GpuProduct = 'MI300X';

const QUANTIZATION: Readonly<Record<(typeof AIM_PROFILE_PRECISIONS)[number], string>> = {
  fp16: 'none',
  int8: 'int8 W8A8 (pre-quantized checkpoint)',
  int4: 'int4 AWQ/GPTQ group 128 (pre-quantized checkpoint)',
  fp8: 'fp8 W8A8, 16-bit KV cache',
};

export interface AimProfileFile {
  readonly file: string;
  readonly content: string;
}

/** `<org>_<model>-<precision>.json`, e.g. `meta-llama_Llama-3.1-8B-Instruct-fp16.json` (ids are `<org>/<name>`, model.schema.json). */
function aimProfileFileName(modelId: string, precision: (typeof AIM_PROFILE_PRECISIONS)[number]): string {
  return `${modelId.replace('/', '_')}-${precision}.json`;
}

/**
 * Whether a file name is one `aimProfileFileName` can give: the files `profiles --out-dir` may
 * delete when no model produces them any more (never `package.json` or anything else of the user's).
 */
export function isAimProfileFileName(name: string): boolean {
  return new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]*_[A-Za-z0-9][A-Za-z0-9._-]*-(${AIM_PROFILE_PRECISIONS.join('|')})\\.json$`).test(name);
}

export function buildAimProfiles(catalog: ModelCatalog): AimProfileFile[] {
  return [...catalog.values()]
    // vLLM cannot serve these at all, or not at this precision: no profile promises it.
    .filter((model) => !model.unsupported)
    .flatMap((model) =>
      AIM_PROFILE_PRECISIONS.filter((precision) => precisionProblem(model, precision) === undefined).map((precision) => ({
        file: aimProfileFileName(model.id, precision),
        content: `${JSON.stringify(aimProfile(model, precision), null, 2)}\n`,
      })),
    )
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

function aimProfile(model: ModelInfo, precision: (typeof AIM_PROFILE_PRECISIONS)[number]) {
  const maxModelLen = Math.min(model.maxPositionEmbeddings, DEFAULT_MAX_MODEL_LEN);
  const kvCacheDtype = 'auto';
  const estimateAt = (tensorParallel: number) =>
    estimateMemory(model, { precision, tensorParallel, maxModelLen, concurrency: 1, kvCacheDtype });
  const single = estimateAt(1);
  const partitions = Object.fromEntries(GPU_PRODUCTS.map((gpu) => [gpu, productFit(model, precision, gpu, estimateAt)]));
  const recommended = partitions[RECOMMENDED_GPU]!;
  const fit = recommended.profile === null ? undefined : recommended;
  const parameters = parameterLabel(model.paramsTotal);
  return {
    model_id: model.id,
    variant_id: `${model.id}-${precision}`,
    version: `1.0.0-${precision}`,
    parameters,
    precision,
    memory_requirement_gb: round2(single.totalGiB),
    recommended_partition_gb: fit?.partition_gib ?? null,
    gpu_sharing: {
      enabled: fit !== undefined && fit.partitions_per_gpu > 1,
      memory_limit_gb: fit?.memory_per_rank_gib ?? null,
      partition_id: null,
      qos_priority: 'medium',
    },
    resource_requirements: {
      gpu_memory_gb: fit?.memory_per_rank_gib ?? null,
      gpu_count: fit?.tensor_parallel ?? null,
      // Heuristics: two cores per rank (engine worker, tokenizer/API); host memory for the
      // checkpoint the loader maps (the whole model) plus 16 GiB for the engine processes.
      cpu_cores: 2 * (fit?.tensor_parallel ?? 1),
      system_memory_gb: Math.ceil(single.weightsGiB) + 16,
    },
    metadata: { quantization: QUANTIZATION[precision], base_model: model.id, parameters },
    memory_unit: 'GiB',
    recommended_gpu: RECOMMENDED_GPU,
    sizing: {
      max_model_len: maxModelLen,
      concurrency: 1,
      kv_cache_dtype: kvCacheDtype,
      weights_gib: round2(single.weightsGiB),
      kv_bytes_per_token: single.kvBytesPerToken,
      kv_cache_gib: round2(single.kvCacheGiB),
      max_num_batched_tokens: single.batch.maxNumBatchedTokens,
      max_num_seqs: single.batch.maxNumSeqs,
      overhead_gib: round2(single.overheadGiB),
      engine_args: engineFlags(model, precision, kvCacheDtype),
    },
    partitions,
  };
}

/** The smallest partition of the product that holds the model, at the smallest tensor parallelism it needs there. */
function productFit(
  model: ModelInfo,
  precision: Precision,
  gpu: GpuProduct,
  estimateAt: (tensorParallel: number) => { totalGiB: number },
) {
  const product = GPU_CATALOG[gpu];
  const support = product.precisions[precision];
  const degrees = shardableDegrees(model);
  const perRank = (tp: number) => estimateAt(tp).totalGiB;
  for (const profile of profilesBySize(product)) {
    const fit = smallestFit(product, profile, degrees, perRank);
    if (fit) {
      return {
        precision_support: support.support,
        profile: profile.name,
        partition_gib: round2(profile.memoryGiBPerPartition),
        partitions_per_gpu: profile.partitionsPerGpu,
        tensor_parallel: fit.tensorParallel,
        memory_per_rank_gib: round2(fit.memoryGiBPerPartition),
        reason: support.support === 'native' ? null : support.note,
      };
    }
  }
  const largest = profilesBySize(product).at(-1)!;
  const tp = Math.max(...degrees.filter((d) => d <= profilePartitionsPerNode(product, largest)));
  const usable = largest.memoryGiBPerPartition * product.usableMemoryFraction;
  return {
    precision_support: support.support,
    profile: null,
    partition_gib: null,
    partitions_per_gpu: null,
    tensor_parallel: null,
    memory_per_rank_gib: null,
    reason:
      `does not fit one ${gpu} node: at tensor parallelism ${tp} on ${largest.name} one rank needs ` +
      `${round2(perRank(tp)).toFixed(2)} GiB, more than the ${round2(usable).toFixed(2)} GiB usable of a ${round2(largest.memoryGiBPerPartition)} GiB partition`,
  };
}

/** `8.03e9` → `8B`, `4.94e8` → `0.5B`, `1.08e11` → `109B`: one decimal below ten billion. */
function parameterLabel(params: number): string {
  const billions = params / 1e9;
  return `${billions < 10 ? Number(billions.toFixed(1)) : Math.round(billions)}B`;
}
