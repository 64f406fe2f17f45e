import { servedCheckpoint } from '../api/checkpoint.ts';
import { HOSTNAME_TOPOLOGY_KEY, type Model, type Precision, type Spec } from '../api/types.ts';
import { candidatePrecisions, candidateTensorParallel, modelPools, poolNames, resolveMaxModelLen } from './candidates.ts';
import type { ModelCatalog } from './model-catalog.ts';
import { resolveModel } from './check.ts';
import { estimateMemory } from './estimate.ts';
import { defaultKvCacheDtype, engineFlags } from './precision.ts';
import type { DemandSpread, ModelDemand, ModelInfo } from './types.ts';

/** One Model sized: what the planner places, and how the engine is started. */
export interface SizedModel {
  readonly demand: ModelDemand;
  /** `--max-model-len`: `spec.maxModelLen`, else min(model context, 8192). */
  readonly maxModelLen: number;
  /**
   * vLLM flags selecting a precision (dtype, quantization, KV cache dtype) for this model, for the
   * checkpoint a replica at that precision loads (`servedCheckpoint`).
   */
  readonly engineFlags: (precision: Precision) => readonly string[];
}

/**
 * What the planner must place: per Model (sorted by name), its replicas and every (precision,
 * tensor parallelism) it may run at with the memory one rank needs. Options come in preference
 * order: precision as preferred (`allowedPrecisions` order for `auto`), then tensor parallelism
 * ascending. Assumes `checkModels` passed; a model it would reject as unknown throws.
 */
export function sizeDemands(spec: Spec, catalog: ModelCatalog): SizedModel[] {
  return [...spec.models]
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
    .map((model) => {
      const info = resolveModel(model, catalog);
      return {
        demand: demandOf(model, info, spec),
        maxModelLen: resolveMaxModelLen(model.spec, info),
        engineFlags: (precision: Precision) => flagsFor(model, info, precision),
      };
    });
}

function flagsFor(model: Model, info: ModelInfo | undefined, precision: Precision): string[] {
  // A model known only by its memory is assumed bf16, as its default precision is.
  const preQuantized = servedCheckpoint(model.spec, precision).preQuantized || info?.checkpointPrecision === precision;
  return engineFlags(info ?? { dtype: 'bf16' }, precision, defaultKvCacheDtype(precision), preQuantized);
}

function demandOf(model: Model, info: ModelInfo | undefined, spec: Spec): ModelDemand {
  const pools = modelPools(model, spec);
  const memoryPerRank = sizer(model, info);
  const degrees = candidateTensorParallel(model, info, pools);
  return {
    model: model.metadata.name,
    priority: model.spec.priority,
    replicas: model.spec.replicas,
    pools: poolNames(model, spec),
    precisionAuto: model.spec.precision === 'auto',
    spread: spreadOf(model),
    options: candidatePrecisions(model, info, pools).flatMap((precision) =>
      degrees.map((tensorParallel) => ({ precision, tensorParallel, memoryGiBPerPartition: memoryPerRank(precision, tensorParallel) })),
    ),
  };
}

/**
 * `spec.spread` as asked, else the availability default: two nodes where the pools allow, best
 * effort, so that one node's reboot never takes the model down.
 */
function spreadOf(model: Model): DemandSpread {
  const spread = model.spec.spread;
  if (!spread) return { topologyKey: HOSTNAME_TOPOLOGY_KEY, hard: false, maxDomains: DEFAULT_SPREAD_DOMAINS };
  return { topologyKey: spread.topologyKey, hard: spread.whenUnsatisfiable === 'DoNotSchedule' };
}

/** Nodes the replicas of a model without `spec.spread` span at least, where the pools allow. */
export const DEFAULT_SPREAD_DOMAINS = 2;

/** Memory one rank needs: the spec's `memoryGiB` split evenly over the ranks, else the estimate. */
function sizer(model: Model, info: ModelInfo | undefined): (precision: Precision, tensorParallel: number) => number {
  const { spec: s } = model;
  const override = s.memoryGiB;
  if (override !== undefined) return (_precision, tensorParallel) => override / tensorParallel;
  if (!info) {
    throw new Error(`model ${model.metadata.name}: "${s.model}" is not in the catalog and has no architecture or memoryGiB (run checkModels first)`);
  }
  const maxModelLen = resolveMaxModelLen(s, info);
  return (precision, tensorParallel) =>
    estimateMemory(info, { precision, tensorParallel, maxModelLen, concurrency: s.concurrency, fullSlidingWindowKv: s.fullSlidingWindowKv })
      .totalGiB;
}
