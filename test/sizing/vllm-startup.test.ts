import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { GPU_CATALOG } from '../../hardware/gpus.ts';
import { compile, renderDist } from '../../cli/compile.ts';
import { GPU_PRODUCTS, type Precision } from '../../api/types.ts';
import { fitsPartition } from '../../sizing/budget.ts';
import { estimateMemory } from '../../sizing/estimate.ts';
import { explainModel } from '../../sizing/explain.ts';
import { loadModelCatalog } from '../../sizing/model-catalog.ts';
import { engineFlags, precisionProblem } from '../../sizing/precision.ts';
import { replicaServing } from '../../sizing/serving.ts';
import type { ModelInfo } from '../../sizing/types.ts';
import { parseArgs, vllmStartupCheck, type VllmStartup } from '../support/vllm-startup.ts';

/**
 * Every replica the compiler emits must start under vLLM: the flags in the synthesized
 * InferenceServices, run through vLLM's own startup checks (`test/support/vllm-startup.ts`).
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const { models: catalog } = loadModelCatalog();

/** Every spec directory in the suite that compiles to a plan (the default fleet, and one covering every layer kind and KV dtype). */
const SPEC_DIRS = ['specs', 'test/fixtures/specs/serving'];

interface Emitted {
  readonly model: string;
  readonly node: string;
  readonly args: Map<string, string | true>;
}

function inferenceServices(tree: ReadonlyMap<string, string>): Emitted[] {
  return [...tree]
    .filter(([file]) => file.includes('inferenceservice-'))
    .flatMap(([, text]) => parseAllDocuments(text).map((d) => d.toJS()))
    .filter((o) => o?.kind === 'InferenceService')
    .map((o) => {
      const args = parseArgs(o.spec.predictor.model.args as string[]);
      return { model: String(args.get('served-model-name')), node: o.spec.predictor.nodeSelector['kubernetes.io/hostname'], args };
    });
}

function num(args: Map<string, string | true>, flag: string): number {
  const value = args.get(flag);
  if (typeof value !== 'string') throw new Error(`--${flag} is not emitted`);
  return Number(value);
}

describe.each(SPEC_DIRS)('every replica of the plan of %s starts under vLLM', (dir) => {
  it('passes the dtype, free-memory and KV admission checks with the emitted flags', async () => {
    const { compiled } = await compile(path.join(ROOT, dir));
    expect(compiled).toBeDefined();
    const { spec, plan } = compiled!;
    const emitted = inferenceServices(renderDist(compiled!));
    expect(plan.unschedulable).toEqual([]);
    expect(plan.replicas.length).toBeGreaterThan(0);
    for (const replica of plan.replicas) {
      const model = spec.models.find((m) => m.metadata.name === replica.model)!;
      const info = catalog.get(model.spec.model);
      if (!info) continue; // known only by its memory: nothing to admit against
      const isvc = emitted.find(
        (e) =>
          e.model === replica.model &&
          e.node === replica.node &&
          num(e.args, 'gpu-memory-utilization') === replica.gpuMemoryUtilization &&
          num(e.args, 'tensor-parallel-size') === replica.tensorParallel &&
          num(e.args, 'max-num-batched-tokens') === replica.maxNumBatchedTokens,
      );
      expect(isvc, `InferenceService of ${replica.id}`).toBeDefined();
      const args = isvc!.args;
      const node = plan.nodes.find((n) => n.name === replica.node)!;
      const first = replica.partitions[0]!;
      const totalGiB = node.gpus[first.gpu]!.partitions[first.partition]!.memoryGiB;
      const pool = spec.pools.find((p) => p.metadata.name === node.pool)!;
      const kvCacheDtype = args.get('kv-cache-dtype') === 'fp8' ? 'fp8' : 'auto';
      const batch = { maxNumBatchedTokens: num(args, 'max-num-batched-tokens'), maxNumSeqs: num(args, 'max-num-seqs') };
      const estimate = estimateMemory(info, {
        precision: replica.precision,
        tensorParallel: replica.tensorParallel,
        maxModelLen: num(args, 'max-model-len'),
        concurrency: 1,
        kvCacheDtype,
        batch,
      });
      const startup: VllmStartup = {
        model: info,
        dtype: String(args.get('dtype')),
        kvCacheDtype,
        tensorParallel: num(args, 'tensor-parallel-size'),
        maxModelLen: num(args, 'max-model-len'),
        ...batch,
        gpuMemoryUtilization: num(args, 'gpu-memory-utilization'),
        disableHybridKvCacheManager: args.has('disable-hybrid-kv-cache-manager'),
        totalGiB,
        freeGiB: totalGiB * pool.spec.usableMemoryFraction,
        nonKvGiB: estimate.weightsGiB / estimate.tensorParallel + estimate.overheadGiB,
      };
      const verdict = vllmStartupCheck(startup);
      expect(verdict.errors, replica.id).toEqual([]);
      // The plan's KV figures are the pool vLLM would allocate, and hold the model's minimum.
      expect(replica.kvCacheGiB! / replica.tensorParallel).toBeCloseTo(verdict.availableKvBytes / 2 ** 30, 1);
      expect(replica.maxSequences!).toBeGreaterThanOrEqual(model.spec.concurrency);
    }
  });
});

describe('the default fleet', () => {
  it('serves gemma-27b, and no Gemma replica with float16', async () => {
    const { compiled } = await compile(path.join(ROOT, 'specs'));
    const emitted = inferenceServices(renderDist(compiled!));
    expect(compiled!.plan.replicas.some((r) => r.model === 'gemma-27b')).toBe(true);
    const gemmas = emitted.filter((e) => catalog.get(compiled!.spec.models.find((m) => m.metadata.name === e.model)!.spec.model)?.modelType.startsWith('gemma'));
    expect(gemmas.length).toBeGreaterThan(0);
    for (const e of gemmas) expect(e.args.get('dtype')).not.toBe('float16');
  });
});

/** Precisions each catalog model is checked at: its native one and fp8 (where vLLM takes them). */
function checkedPrecisions(info: ModelInfo): Precision[] {
  const native = info.checkpointPrecision ?? info.dtype;
  return [...new Set<Precision>([native, 'fp8'])].filter((p) => precisionProblem(info, p) === undefined);
}

/** The longest context sizing says fits the partition at that tensor parallelism (binary search). */
function longestFitting(info: ModelInfo, precision: Precision, tensorParallel: number, partitionGiB: number, usable: number): number {
  const fits = (maxModelLen: number) =>
    fitsPartition(estimateMemory(info, { precision, tensorParallel, maxModelLen, concurrency: 1 }).totalGiB, 0, partitionGiB, usable);
  let lo = 1;
  let hi = info.maxPositionEmbeddings;
  if (fits(hi)) return hi;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

function startupAt(info: ModelInfo, precision: Precision, tensorParallel: number, maxModelLen: number, partitionGiB: number, usable: number) {
  const partition = { memoryGiB: partitionGiB, usableMemoryFraction: usable, headroomPercent: 0 };
  const opts = { precision, tensorParallel, maxModelLen, concurrency: 1, kvCacheDtype: 'auto' as const };
  const served = replicaServing(info, opts, partition);
  const estimate = estimateMemory(info, { ...opts, batch: served });
  return vllmStartupCheck({
    model: info,
    dtype: String(parseArgs(engineFlags(info, precision)).get('dtype')),
    kvCacheDtype: 'auto',
    tensorParallel,
    maxModelLen,
    maxNumBatchedTokens: served.maxNumBatchedTokens,
    maxNumSeqs: served.maxNumSeqs,
    gpuMemoryUtilization: served.gpuMemoryUtilization,
    disableHybridKvCacheManager: false,
    totalGiB: partitionGiB,
    freeGiB: partitionGiB * usable,
    nonKvGiB: estimate.weightsGiB / estimate.tensorParallel + estimate.overheadGiB,
  });
}

describe('every catalog model × product × profile that explain says fits', () => {
  const servable = [...catalog.values()].filter((m) => !m.unsupported);
  // At explain's context, and at the longest context sizing accepts there: at that edge any
  // memory the sizing under-counts is a replica vLLM refuses.
  it.each(servable.map((m) => [m.id, m] as const))('%s starts under vLLM wherever it fits, up to the longest context that fits', (_id, info) => {
    let checked = 0;
    for (const precision of checkedPrecisions(info)) {
      const report = explainModel(catalog, info.id, { precision });
      for (const fit of report.fits.filter((f) => f.fits)) {
        const usable = GPU_CATALOG[fit.gpu].usableMemoryFraction;
        const tp = fit.tensorParallel!;
        const longest = longestFitting(info, precision, tp, fit.partitionGiB, usable);
        for (const maxModelLen of [report.maxModelLen, longest]) {
          const verdict = startupAt(info, precision, tp, maxModelLen, fit.partitionGiB, usable);
          expect(verdict.errors, `${info.id} ${precision} on ${fit.gpu} ${fit.profile} tp${tp} at ${maxModelLen} tokens`).toEqual([]);
        }
        checked++;
      }
    }
    // Every servable catalog model fits somewhere (at least one whole MI355X node).
    expect(checked).toBeGreaterThan(0);
  });

  it('covers every product', () => {
    const products = new Set(servable.flatMap((m) => explainModel(catalog, m.id).fits.filter((f) => f.fits).map((f) => f.gpu)));
    expect([...products].sort()).toEqual([...GPU_PRODUCTS].sort());
  });
});
