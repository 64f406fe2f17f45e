import { PRIORITIES } from '../api/types.ts';
import { fitsPartition, reservedGiB } from '../sizing/budget.ts';
import type { DemandOption, ModelDemand } from '../sizing/types.ts';
import type { PoolLayout } from './capacity.ts';
import { replicaId } from './moved.ts';

/**
 * Demands resolved against the pools: which options can ever fit, and per option and pool the
 * range of shapes a rank may occupy.
 */

/** Where one option may go in one pool: shapes `lo..hi` (coarsest to finest), or none when lo > hi. */
export interface ShapeRange {
  /** Coarsest shape whose node holds `tensorParallel` partitions. */
  readonly lo: number;
  /** Finest shape whose partition holds one rank (the option's size class). */
  readonly hi: number;
}

export interface ResolvedModel {
  readonly index: number;
  readonly demand: ModelDemand;
  /** 0 = critical … 3 = low. */
  readonly priority: number;
  /** Layout indices of the model's pools that exist. */
  readonly pools: readonly number[];
  /**
   * The precisions the planner may use, best first (one for a model without `precisionAuto`), each
   * at its preferred tensor-parallel degree (see `preferredDegree`). Empty when nothing ever fits.
   */
  readonly levels: readonly DemandOption[];
  /**
   * Per level, every degree of that precision that fits some pool, ascending: the planner's
   * candidates for `tensorParallel: auto` (an explicit degree is the only one).
   */
  readonly degrees: readonly (readonly DemandOption[])[];
  /** Per level, the smallest GPU share over its degrees (for bounds valid under degree choice). */
  readonly minShare: readonly number[];
}

/** The option every model runs at in one planning run (undefined: it never fits). */
export type Choice = readonly (DemandOption | undefined)[];

function priorityRank(priority: ModelDemand['priority']): number {
  return PRIORITIES.indexOf(priority);
}

export function shapeRange(option: DemandOption, layout: PoolLayout, headroomPercent: number): ShapeRange {
  let lo = layout.shapes.length;
  let hi = -1;
  layout.shapes.forEach((shape, s) => {
    if (layout.gpusPerNode * shape.partitionsPerGpu >= option.tensorParallel && s < lo) lo = s;
    if (fitsPartition(option.memoryGiBPerPartition, headroomPercent, shape.memoryGiB, layout.capacity.usableMemoryFraction)) hi = s;
  });
  return { lo, hi };
}

function fitsSomewhere(option: DemandOption, pools: readonly number[], layouts: readonly PoolLayout[], headroomPercent: number): boolean {
  return pools.some((p) => {
    const range = shapeRange(option, layouts[p]!, headroomPercent);
    return range.lo <= range.hi;
  });
}

export function resolveModels(demands: readonly ModelDemand[], layouts: readonly PoolLayout[], headroomPercent: number): ResolvedModel[] {
  const byName = new Map(layouts.map((l) => [l.capacity.name, l.index]));
  return demands.map((demand, index) => {
    const pools = [...new Set(demand.pools.flatMap((name) => (byName.has(name) ? [byName.get(name)!] : [])))].sort((a, b) => a - b);
    const fitting = demand.options.filter((o) => fitsSomewhere(o, pools, layouts, headroomPercent));
    const precisions: DemandOption['precision'][] = [];
    for (const option of fitting) {
      if (!demand.precisionAuto && precisions.length > 0) break;
      if (!precisions.includes(option.precision)) precisions.push(option.precision);
    }
    const degrees = precisions.map((precision) =>
      fitting.filter((o) => o.precision === precision).sort((a, b) => a.tensorParallel - b.tensorParallel),
    );
    const levels = degrees.map((candidates) => preferredDegree(candidates, pools, layouts, headroomPercent));
    const minShare = degrees.map((candidates) => Math.min(...candidates.map((o) => gpuShare(o, pools, layouts, headroomPercent))));
    return { index, demand, priority: priorityRank(demand.priority), pools, levels, degrees, minShare };
  });
}

/**
 * GPUs one replica of `option` takes at best: its ranks over the partitions per GPU of the finest
 * shape one rank fits, in the model's cheapest pool.
 */
export function gpuShare(option: DemandOption, pools: readonly number[], layouts: readonly PoolLayout[], headroomPercent: number): number {
  let best = Infinity;
  for (const p of pools) {
    const range = shapeRange(option, layouts[p]!, headroomPercent);
    if (range.lo <= range.hi) best = Math.min(best, option.tensorParallel / layouts[p]!.shapes[range.hi]!.partitionsPerGpu);
  }
  return best;
}

/**
 * The degree a fresh plan starts from: the smallest GPU share; among equal shares the finer
 * partitions (they share GPUs with small models, where coarse ones force a node profile of their
 * own), then the lower degree. The fleet search (`degrees.ts`) then lowers degrees wherever that
 * costs no GPU and no node.
 */
function preferredDegree(candidates: readonly DemandOption[], pools: readonly number[], layouts: readonly PoolLayout[], headroomPercent: number): DemandOption {
  const finest = (o: DemandOption) => {
    let memory = Infinity;
    for (const p of pools) {
      const range = shapeRange(o, layouts[p]!, headroomPercent);
      if (range.lo <= range.hi) memory = Math.min(memory, layouts[p]!.shapes[range.hi]!.memoryGiB);
    }
    return memory;
  };
  const keyed = candidates.map((o) => ({ o, share: gpuShare(o, pools, layouts, headroomPercent), memory: finest(o) }));
  keyed.sort((a, b) => a.share - b.share || a.memory - b.memory || a.o.tensorParallel - b.o.tensorParallel);
  return keyed[0]!.o;
}

/** One replica to place, with its option fixed. */
export interface ReplicaSpec {
  readonly index: number;
  readonly id: string;
  readonly model: number;
  readonly modelName: string;
  readonly ordinal: number;
  readonly priority: number;
  readonly option: DemandOption;
  readonly tensorParallel: number;
  /** Memory one rank reserves: sized need plus headroom. */
  readonly reservedGiB: number;
  /** Per layout: shapes it may use (lo > hi where it may not). */
  readonly ranges: readonly ShapeRange[];
  /** Replicas with equal fit key can go to exactly the same places. */
  readonly fitKey: number;
  /** The smallest GPU share any candidate degree of its model (at its precision) takes. */
  readonly minShare: number;
  /** Its model has no other degree to run at. */
  readonly degreeFixed: boolean;
  readonly spread?: ModelDemand['spread'];
}

/** Expands each model's chosen option into replicas; models with none are left out. */
export function expandReplicas(
  models: readonly ResolvedModel[],
  choice: Choice,
  layouts: readonly PoolLayout[],
  headroomPercent: number,
  ignoreSoftSpread = false,
): ReplicaSpec[] {
  const replicas: ReplicaSpec[] = [];
  const fitKeys = new Map<string, number>();
  for (const model of models) {
    const option = choice[model.index];
    if (!option) continue;
    const ranges = layouts.map((layout) =>
      model.pools.includes(layout.index) ? shapeRange(option, layout, headroomPercent) : { lo: 0, hi: -1 },
    );
    const level = model.levels.findIndex((l) => l.precision === option.precision);
    const candidates = model.degrees[level] ?? [option];
    const minShare = model.minShare[level] ?? gpuShare(option, model.pools, layouts, headroomPercent);
    const key = `${option.tensorParallel}|${ranges.map((r) => (r.lo <= r.hi ? `${r.lo}-${r.hi}` : '')).join(',')}`;
    if (!fitKeys.has(key)) fitKeys.set(key, fitKeys.size);
    for (let ordinal = 0; ordinal < model.demand.replicas; ordinal++) {
      replicas.push({
        index: replicas.length,
        id: replicaId(model.demand.model, ordinal),
        model: model.index,
        modelName: model.demand.model,
        ordinal,
        priority: model.priority,
        option,
        tensorParallel: option.tensorParallel,
        reservedGiB: reservedGiB(option.memoryGiBPerPartition, headroomPercent),
        ranges,
        fitKey: fitKeys.get(key)!,
        minShare,
        degreeFixed: candidates.length <= 1,
        ...(model.demand.spread && !(ignoreSoftSpread && !model.demand.spread.hard) && { spread: model.demand.spread }),
      });
    }
  }
  return replicas;
}
