import { DEFAULT_HEADROOM_PERCENT, GPU_PRODUCTS, type GpuProduct, type Precision, type ProfileName } from '../api/types.ts';
import { DEFAULT_MAX_MODEL_LEN, tensorParallelProblem } from './candidates.ts';
import { estimateMemory } from './estimate.ts';
import { reservedGiB } from './budget.ts';
import { round2, shardableDegrees, smallestFit } from './fit.ts';
import { GPU_CATALOG } from '../hardware/gpus.ts';
import { didYouMean, suggestModelId, type ModelCatalog } from './model-catalog.ts';
import { engineFlags, nativePrecision, precisionProblem, type KvCacheDtype } from './precision.ts';
import type { PrecisionSupport } from '../hardware/types.ts';
import { servingBudgetGiB } from './budget.ts';
import { replicaServing } from './serving.ts';

/** `aim-gpu explain`: where every number of one model's sizing comes from, and where it fits. */

export interface ExplainOptions {
  /** @default - the model's native precision */
  readonly precision?: Precision;
  /** Fix the tensor parallelism of the fit table too. @default - 1 for the breakdown; the smallest that fits per profile */
  readonly tensorParallel?: number;
  /** @default - min(model context, 8192) */
  readonly maxModelLen?: number;
  /** @default 1 */
  readonly concurrency?: number;
  /** @default false */
  readonly fullSlidingWindowKv?: boolean;
  /** @default auto (16-bit) */
  readonly kvCacheDtype?: KvCacheDtype;
  /** Memory reserved on top of the sizing, as the planner does. @default 5 (the Fleet's default) */
  readonly headroomPercent?: number;
  /** Only these products and profiles, each with its pool's usable fraction (a spec's pools). @default - every product and profile */
  readonly pools?: readonly ExplainPool[];
}

/** A NodePool as explain sees it. */
export interface ExplainPool {
  readonly name: string;
  readonly gpu: GpuProduct;
  readonly gpusPerNode: number;
  readonly profiles: readonly ProfileName[];
  readonly usableMemoryFraction: number;
}

export interface ExplainFit {
  /** The spec's pool, when explaining a Model of a spec. */
  readonly pool?: string;
  readonly gpu: GpuProduct;
  readonly profile: ProfileName;
  readonly partitionGiB: number;
  /** What vLLM is given of the partition (`--gpu-memory-utilization` × partition). */
  readonly usableGiB: number;
  readonly precisionSupport: PrecisionSupport;
  /** Why the product runs the precision with a warning or not at all; absent when native. */
  readonly precisionNote?: string;
  readonly fits: boolean;
  /** Smallest tensor parallelism whose rank, with headroom, fits the usable part (or the requested one); null when none does. */
  readonly tensorParallel: number | null;
  readonly memoryGiBPerPartition: number | null;
  /** What one rank reserves: its memory plus headroom. */
  readonly reservedGiB: number | null;
  /** GPUs one replica takes on this profile: its ranks over the partitions per GPU. */
  readonly gpusPerReplica: number | null;
  /** Served alone in the partition: batch limits, the KV pool (all ranks) and full-length sequences it holds. */
  readonly maxNumBatchedTokens: number | null;
  readonly kvCacheGiB: number | null;
  readonly maxSequences: number | null;
}

export interface ExplainReport {
  readonly model: string;
  readonly architecture: string;
  readonly precision: Precision;
  readonly kvCacheDtype: KvCacheDtype;
  readonly engineArgs: readonly string[];
  readonly tensorParallel: number;
  readonly maxModelLen: number;
  readonly concurrency: number;
  /** Whole model. */
  readonly weightsGiB: number;
  readonly weightsGiBPerRank: number;
  readonly kvBytesPerToken: number;
  /** Per rank, like overhead and total. */
  readonly kvCacheGiB: number;
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  readonly activationGiB: number;
  readonly nonTorchGiB: number;
  readonly overheadGiB: number;
  readonly totalGiB: number;
  readonly headroomPercent: number;
  readonly fits: readonly ExplainFit[];
}

export function explainModel(catalog: ModelCatalog, modelId: string, opts: ExplainOptions = {}): ExplainReport {
  const model = catalog.get(modelId);
  if (!model) {
    throw new Error(`unknown model "${modelId}"${didYouMean(modelId, suggestModelId(modelId, catalog.keys()))}`);
  }
  if (model.unsupported) throw new Error(`${model.id} cannot be served: ${model.unsupported.reason}`);
  const precision = opts.precision ?? nativePrecision(model);
  const refused = precisionProblem(model, precision);
  if (refused) throw new Error(refused);
  const kvCacheDtype = opts.kvCacheDtype ?? 'auto';
  const maxModelLen = opts.maxModelLen ?? Math.min(model.maxPositionEmbeddings, DEFAULT_MAX_MODEL_LEN);
  if (maxModelLen > model.maxPositionEmbeddings) {
    throw new Error(`max model length ${maxModelLen} exceeds the ${model.maxPositionEmbeddings}-token context of ${model.id}`);
  }
  const tpProblem = opts.tensorParallel === undefined ? undefined : tensorParallelProblem(model, opts.tensorParallel);
  if (tpProblem) throw new Error(tpProblem);
  const optionsAt = (tensorParallel: number) => ({
    precision,
    tensorParallel,
    maxModelLen,
    concurrency: opts.concurrency ?? 1,
    fullSlidingWindowKv: opts.fullSlidingWindowKv ?? false,
    kvCacheDtype,
  });
  const estimateAt = (tensorParallel: number) => estimateMemory(model, optionsAt(tensorParallel));
  const estimate = estimateAt(opts.tensorParallel ?? 1);
  const degrees = opts.tensorParallel === undefined ? shardableDegrees(model) : [opts.tensorParallel];
  const headroomPercent = opts.headroomPercent ?? DEFAULT_HEADROOM_PERCENT;
  const pools: readonly ExplainPool[] =
    opts.pools ??
    GPU_PRODUCTS.map((gpu) => ({ name: '', gpu, gpusPerNode: GPU_CATALOG[gpu].gpusPerNode, profiles: GPU_CATALOG[gpu].profiles.map((p) => p.name), usableMemoryFraction: GPU_CATALOG[gpu].usableMemoryFraction }));
  const fits = pools.flatMap((pool) => {
    const product = { ...GPU_CATALOG[pool.gpu], gpusPerNode: pool.gpusPerNode };
    const { support: precisionSupport, note } = product.precisions[precision];
    return product.profiles
      .filter((profile) => pool.profiles.includes(profile.name))
      .map((profile): ExplainFit => {
        const fit =
          precisionSupport === 'unsupported'
            ? undefined
            : smallestFit(product, profile, degrees, (tp) => estimateAt(tp).totalGiB, headroomPercent, pool.usableMemoryFraction);
        const partition = { memoryGiB: profile.memoryGiBPerPartition, usableMemoryFraction: pool.usableMemoryFraction, headroomPercent };
        const served = fit && replicaServing(model, optionsAt(fit.tensorParallel), partition);
        return {
          ...(pool.name && { pool: pool.name }),
          gpu: pool.gpu,
          profile: profile.name,
          partitionGiB: round2(profile.memoryGiBPerPartition),
          usableGiB: round2(servingBudgetGiB(profile.memoryGiBPerPartition, pool.usableMemoryFraction)),
          precisionSupport,
          ...(precisionSupport !== 'native' && { precisionNote: note }),
          fits: fit !== undefined,
          tensorParallel: fit?.tensorParallel ?? null,
          memoryGiBPerPartition: fit ? round2(fit.memoryGiBPerPartition) : null,
          reservedGiB: fit ? round2(reservedGiB(fit.memoryGiBPerPartition, headroomPercent)) : null,
          gpusPerReplica: fit ? round2(fit.tensorParallel / profile.partitionsPerGpu) : null,
          maxNumBatchedTokens: served?.maxNumBatchedTokens ?? null,
          kvCacheGiB: served?.kv ? round2(served.kv.cacheGiB) : null,
          maxSequences: served?.kv?.sequences ?? null,
        };
      });
  });
  return {
    model: model.id,
    architecture: model.architecture,
    precision,
    kvCacheDtype,
    engineArgs: engineFlags(model, precision, kvCacheDtype),
    tensorParallel: estimate.tensorParallel,
    maxModelLen,
    concurrency: estimate.concurrency,
    weightsGiB: round2(estimate.weightsGiB),
    weightsGiBPerRank: round2(estimate.weightsGiB / estimate.tensorParallel),
    kvBytesPerToken: estimate.kvBytesPerToken,
    kvCacheGiB: round2(estimate.kvCacheGiB),
    maxNumBatchedTokens: estimate.batch.maxNumBatchedTokens,
    maxNumSeqs: estimate.batch.maxNumSeqs,
    activationGiB: round2(estimate.activationGiB),
    nonTorchGiB: round2(estimate.nonTorchGiB),
    overheadGiB: round2(estimate.overheadGiB),
    totalGiB: round2(estimate.totalGiB),
    headroomPercent,
    fits,
  };
}

export function renderExplainText(report: ExplainReport): string {
  const gib = (v: number) => `${v.toFixed(2)} GiB`;
  const perRank = report.tensorParallel > 1 ? ' per rank' : '';
  const breakdown: [string, string][] = [
    ['model', `${report.model} (${report.architecture})`],
    ['precision', `${report.precision}, KV cache ${report.kvCacheDtype === 'fp8' ? 'fp8' : '16-bit'}`],
    ['engine flags', report.engineArgs.join(' ')],
    ['tensor parallel', String(report.tensorParallel)],
    ['context', `${report.maxModelLen} tokens × ${report.concurrency} sequence${report.concurrency === 1 ? '' : 's'}`],
    ['weights', `${gib(report.weightsGiB)}${report.tensorParallel > 1 ? ` (${gib(report.weightsGiBPerRank)} per rank)` : ''}`],
    ['batch limits', `${report.maxNumBatchedTokens} batched tokens, ${report.maxNumSeqs} sequences (the least a replica starts with)`],
    ['KV cache', `${gib(report.kvCacheGiB)}${perRank} at least (${report.kvBytesPerToken} B/token, as vLLM allocates it)`],
    ['overhead', `${gib(report.overheadGiB)}${perRank} (activation peak ${gib(report.activationGiB)} + non-torch ${gib(report.nonTorchGiB)})`],
    ['total', `${gib(report.totalGiB)}${perRank}`],
    ['headroom', `${report.headroomPercent}% on top, as the planner reserves`],
  ];
  const width = Math.max(...breakdown.map(([k]) => k.length));
  const pools = report.fits.some((f) => f.pool !== undefined);
  const header = [...(pools ? ['pool'] : []), 'GPU', 'profile', 'partition GiB', 'usable GiB', 'precision', 'fits', 'TP', 'GiB per rank', 'reserved GiB', 'GPUs per replica', 'batched tokens', 'KV GiB', 'sequences'];
  const rows = report.fits.map((f) => [
    ...(pools ? [f.pool ?? ''] : []),
    f.gpu,
    f.profile,
    f.partitionGiB.toFixed(2),
    f.usableGiB.toFixed(2),
    f.precisionSupport,
    f.fits ? 'yes' : 'no',
    f.tensorParallel === null ? '-' : String(f.tensorParallel),
    f.memoryGiBPerPartition === null ? '-' : f.memoryGiBPerPartition.toFixed(2),
    f.reservedGiB === null ? '-' : f.reservedGiB.toFixed(2),
    f.gpusPerReplica === null ? '-' : String(f.gpusPerReplica),
    f.maxNumBatchedTokens === null ? '-' : String(f.maxNumBatchedTokens),
    f.kvCacheGiB === null ? '-' : f.kvCacheGiB.toFixed(2),
    f.maxSequences === null ? '-' : String(f.maxSequences),
  ]);
  // Every product that runs the precision with a warning or not at all says why, once.
  const notes = [...new Map(report.fits.filter((f) => f.precisionNote).map((f) => [f.gpu, `${f.gpu}: ${report.precision} ${f.precisionSupport}: ${f.precisionNote}`])).values()];
  return [...breakdown.map(([k, v]) => `${k.padEnd(width)}  ${v}`), '', ...table([header, ...rows]), ...(notes.length ? ['', ...notes] : [])].join('\n') + '\n';
}

/** Left-aligned text columns, numbers right-aligned. */
function table(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (/^[\d.-]+$/.test(cell) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}
