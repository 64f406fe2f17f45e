import { servedCheckpoint } from '../api/checkpoint.ts';
import { HOSTNAME_TOPOLOGY_KEY, type Model, type Precision, type Spec } from '../api/types.ts';
import { candidatePrecisions, candidateTensorParallel, modelPools, poolNames, resolveMaxModelLen } from './candidates.ts';
import { engineConstants, fleetEngine, type EngineConstants } from './engine.ts';
import { estimateMemory } from './estimate.ts';
import type { ModelCatalog } from './model-catalog.ts';
import { resolveModel } from './check.ts';
import { engineFlags, int4TensorParallelProblem, servedKvCacheDtype, type KvCacheDtype } from './precision.ts';
import { opaqueServing, replicaServing, type ServingOptions } from './serving.ts';
import type { DemandOption, DemandSpread, ModelDemand, ModelInfo } from './types.ts';

/** One Model sized: what the planner places, and how the engine is started. */
export interface SizedModel {
  readonly demand: ModelDemand;
  /** `--max-model-len`: `spec.maxModelLen`, else min(model context, 8192). */
  readonly maxModelLen: number;
  /**
   * vLLM flags of this model at a precision (dtype, quantization, KV cache dtype, KV cache
   * manager), for the checkpoint a replica at that precision loads (`servedCheckpoint`).
   */
  readonly engineFlags: (precision: Precision) => readonly string[];
}

/**
 * What the planner must place: per Model (sorted by name), its replicas and every (precision,
 * tensor parallelism) it may run at with the memory one rank needs and how a replica at it is
 * started in a partition. Options come in preference order: precision as preferred
 * (`allowedPrecisions` order for `auto`), then tensor parallelism ascending. Assumes
 * `checkModels` passed (the vLLM release among it); a model it would reject as unknown throws.
 */
export function sizeDemands(spec: Spec, catalog: ModelCatalog): SizedModel[] {
  const engine = engineConstants(fleetEngine(spec.fleet.spec.images).version);
  if (!engine) throw new Error('the fleet names a vLLM release older than the minimum supported one (run checkModels first)');
  return [...spec.models]
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
    .map((model) => {
      const info = resolveModel(model, catalog);
      return {
        demand: demandOf(model, info, spec, engine),
        maxModelLen: resolveMaxModelLen(model.spec, info),
        engineFlags: (precision: Precision) => flagsFor(model, info, precision),
      };
    });
}

/** The KV cache a replica of the model runs with at a precision. */
function kvCacheDtypeOf(model: Model, precision: Precision): KvCacheDtype {
  return servedKvCacheDtype(model.spec.kvCacheDtype, servedCheckpoint(model.spec, precision).model);
}

function flagsFor(model: Model, info: ModelInfo | undefined, precision: Precision): string[] {
  // A model known only by its memory is assumed bf16, as its default precision is.
  const preQuantized = servedCheckpoint(model.spec, precision).preQuantized || info?.checkpointPrecision === precision;
  const flags = engineFlags(info ?? { dtype: 'bf16' }, precision, kvCacheDtypeOf(model, precision), preQuantized);
  // Sliding-window layers sized for every token: tell vLLM to allocate them so (they become full-attention specs).
  if (model.spec.fullSlidingWindowKv) flags.push('--disable-hybrid-kv-cache-manager');
  return flags;
}

function demandOf(model: Model, info: ModelInfo | undefined, spec: Spec, engine: EngineConstants): ModelDemand {
  const pools = modelPools(model, spec);
  const optionAt = sizer(model, info, engine);
  const degrees = candidateTensorParallel(model, info, pools);
  return {
    model: model.metadata.name,
    priority: model.spec.priority,
    replicas: model.spec.replicas,
    pools: poolNames(model, spec),
    precisionAuto: model.spec.precision === 'auto',
    spread: spreadOf(model),
    options: candidatePrecisions(model, info, pools).flatMap((precision) =>
      degrees
        // int4 splits only where every rank gets whole quantization groups.
        .filter((tp) => precision !== 'int4' || !info || int4TensorParallelProblem(info, tp) === undefined)
        .map((tensorParallel) => optionAt(precision, tensorParallel)),
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

/**
 * One option: the spec's `memoryGiB` split evenly over the ranks, else the estimate at vLLM's
 * small-device batch limits, the least a replica is started with (`sizing/serving.ts`).
 */
function sizer(model: Model, info: ModelInfo | undefined, engine: EngineConstants): (precision: Precision, tensorParallel: number) => DemandOption {
  const { spec: s } = model;
  const override = s.memoryGiB;
  if (override !== undefined) {
    return (precision, tensorParallel) => {
      const memoryGiBPerPartition = override / tensorParallel;
      return { precision, tensorParallel, memoryGiBPerPartition, serve: (partition) => opaqueServing(memoryGiBPerPartition, partition) };
    };
  }
  if (!info) {
    throw new Error(`model ${model.metadata.name}: "${s.model}" is not in the catalog and has no architecture or memoryGiB (run checkModels first)`);
  }
  const maxModelLen = resolveMaxModelLen(s, info);
  return (precision, tensorParallel) => {
    const opts: ServingOptions = {
      precision,
      tensorParallel,
      maxModelLen,
      concurrency: s.concurrency,
      fullSlidingWindowKv: s.fullSlidingWindowKv,
      kvCacheDtype: kvCacheDtypeOf(model, precision),
      engine,
    };
    return {
      precision,
      tensorParallel,
      memoryGiBPerPartition: estimateMemory(info, opts).totalGiB,
      serve: (partition) => replicaServing(info, opts, partition),
    };
  };
}
