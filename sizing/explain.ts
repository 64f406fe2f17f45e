import { GPU_PRODUCTS, type GpuProduct, type Precision, type ProfileName } from '../api/types.ts';
import { DEFAULT_MAX_MODEL_LEN, tensorParallelProblem } from './candidates.ts';
import { estimateMemory } from './estimate.ts';
import { round2, shardableDegrees, smallestFit } from './fit.ts';
import { GPU_CATALOG } from '../hardware/gpus.ts';
import { suggestModelId, type ModelCatalog } from './model-catalog.ts';
import { defaultKvCacheDtype, engineFlags, nativePrecision, type KvCacheDtype } from './precision.ts';
import type { PrecisionSupport } from '../hardware/types.ts';

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
  /** @default - see `defaultKvCacheDtype` */
  readonly kvCacheDtype?: KvCacheDtype;
}

export interface ExplainFit {
  readonly gpu: GpuProduct;
  readonly profile: ProfileName;
  readonly partitionGiB: number;
  /** The part of the partition vLLM may be given (the product's usable-memory fraction). */
  readonly usableGiB: number;
  readonly precisionSupport: PrecisionSupport;
  readonly fits: boolean;
  /** Smallest tensor parallelism that fits (or the requested one); null when it does not fit. */
  readonly tensorParallel: number | null;
  readonly memoryGiBPerPartition: number | null;
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
  readonly overheadGiB: number;
  readonly totalGiB: number;
  readonly fits: readonly ExplainFit[];
}

export function explainModel(catalog: ModelCatalog, modelId: string, opts: ExplainOptions = {}): ExplainReport {
  const model = catalog.get(modelId);
  if (!model) {
    const suggestion = suggestModelId(modelId, catalog.keys());
    throw new Error(`unknown model "${modelId}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`);
  }
  const precision = opts.precision ?? nativePrecision(model);
  const kvCacheDtype = opts.kvCacheDtype ?? defaultKvCacheDtype(precision);
  const maxModelLen = opts.maxModelLen ?? Math.min(model.maxPositionEmbeddings, DEFAULT_MAX_MODEL_LEN);
  if (maxModelLen > model.maxPositionEmbeddings) {
    throw new Error(`max model length ${maxModelLen} exceeds the ${model.maxPositionEmbeddings}-token context of ${model.id}`);
  }
  const tpProblem = opts.tensorParallel === undefined ? undefined : tensorParallelProblem(model, opts.tensorParallel);
  if (tpProblem) throw new Error(tpProblem);
  const estimateAt = (tensorParallel: number) =>
    estimateMemory(model, {
      precision,
      tensorParallel,
      maxModelLen,
      concurrency: opts.concurrency ?? 1,
      fullSlidingWindowKv: opts.fullSlidingWindowKv ?? false,
      kvCacheDtype,
    });
  const estimate = estimateAt(opts.tensorParallel ?? 1);
  const degrees = opts.tensorParallel === undefined ? shardableDegrees(model) : [opts.tensorParallel];
  const fits = GPU_PRODUCTS.flatMap((gpu) => {
    const product = GPU_CATALOG[gpu];
    const precisionSupport = product.precisions[precision].support;
    return product.profiles.map((profile): ExplainFit => {
      const fit =
        precisionSupport === 'unsupported' ? undefined : smallestFit(product, profile, degrees, (tp) => estimateAt(tp).totalGiB);
      return {
        gpu,
        profile: profile.name,
        partitionGiB: round2(profile.memoryGiBPerPartition),
        usableGiB: round2(profile.memoryGiBPerPartition * product.usableMemoryFraction),
        precisionSupport,
        fits: fit !== undefined,
        tensorParallel: fit?.tensorParallel ?? null,
        memoryGiBPerPartition: fit ? round2(fit.memoryGiBPerPartition) : null,
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
    overheadGiB: round2(estimate.overheadGiB),
    totalGiB: round2(estimate.totalGiB),
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
    ['KV cache', `${gib(report.kvCacheGiB)}${perRank} (${report.kvBytesPerToken} B/token)`],
    ['overhead', `${gib(report.overheadGiB)}${perRank} (activation peak + non-torch)`],
    ['total', `${gib(report.totalGiB)}${perRank}`],
  ];
  const width = Math.max(...breakdown.map(([k]) => k.length));
  const header = ['GPU', 'profile', 'partition GiB', 'usable GiB', 'precision', 'fits', 'TP', 'GiB per rank'];
  const rows = report.fits.map((f) => [
    f.gpu,
    f.profile,
    f.partitionGiB.toFixed(2),
    f.usableGiB.toFixed(2),
    f.precisionSupport,
    f.fits ? 'yes' : 'no',
    f.tensorParallel === null ? '-' : String(f.tensorParallel),
    f.memoryGiBPerPartition === null ? '-' : f.memoryGiBPerPartition.toFixed(2),
  ]);
  return [...breakdown.map(([k, v]) => `${k.padEnd(width)}  ${v}`), '', ...table([header, ...rows])].join('\n') + '\n';
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
