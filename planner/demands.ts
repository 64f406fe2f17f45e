import { PRIORITIES } from '../api/types.ts';
import { fitsPartition, reservedGiB } from '../sizing/budget.ts';
import type { DemandOption, ModelDemand } from '../sizing/types.ts';
import type { PoolLayout } from './capacity.ts';

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
   * The options the planner may use, best first: one per precision for `precisionAuto` (its
   * smallest fitting tensor parallelism), else the single first option that fits. Empty when
   * nothing ever fits.
   */
  readonly levels: readonly DemandOption[];
}

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
    const levels: DemandOption[] = [];
    for (const option of fitting) {
      if (!demand.precisionAuto && levels.length > 0) break;
      if (!levels.some((l) => l.precision === option.precision)) levels.push(option);
    }
    return { index, demand, priority: priorityRank(demand.priority), pools, levels };
  });
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
}

/** Expands each model's chosen level into replicas; models with no level are left out. */
export function expandReplicas(
  models: readonly ResolvedModel[],
  levelOf: readonly number[],
  layouts: readonly PoolLayout[],
  headroomPercent: number,
): ReplicaSpec[] {
  const replicas: ReplicaSpec[] = [];
  const fitKeys = new Map<string, number>();
  for (const model of models) {
    const option = model.levels[levelOf[model.index]!];
    if (!option) continue;
    const ranges = layouts.map((layout) =>
      model.pools.includes(layout.index) ? shapeRange(option, layout, headroomPercent) : { lo: 0, hi: -1 },
    );
    const key = `${option.tensorParallel}|${ranges.map((r) => (r.lo <= r.hi ? `${r.lo}-${r.hi}` : '')).join(',')}`;
    if (!fitKeys.has(key)) fitKeys.set(key, fitKeys.size);
    for (let ordinal = 0; ordinal < model.demand.replicas; ordinal++) {
      replicas.push({
        index: replicas.length,
        id: `${model.demand.model}#${ordinal}`,
        model: model.index,
        modelName: model.demand.model,
        ordinal,
        priority: model.priority,
        option,
        tensorParallel: option.tensorParallel,
        reservedGiB: reservedGiB(option.memoryGiBPerPartition, headroomPercent),
        ranges,
        fitKey: fitKeys.get(key)!,
      });
    }
  }
  return replicas;
}
