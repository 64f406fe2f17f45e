import type { PoolLayout } from './capacity.ts';
import type { ReplicaSpec } from './demands.ts';
import type { PlanningSetup } from './run.ts';

/**
 * A lower bound on the GPUs any plan needs for `replicas`, node boundaries and tensor-parallel
 * grouping ignored. Per pool, with every GPU free to take its own shape, the fewest GPUs are
 * found exactly by a greedy: coarsest size class first, each class filling the free partitions
 * left on coarser GPUs before taking GPUs of its own shape (a class may use any coarser
 * partition, so the capacity constraints are nested and the greedy is optimal). Replicas that may
 * go to several pools, or whose model may run at another tensor-parallel degree, are left to a
 * second, fractional bound: each replica needs at least its smallest GPU share over its pools and
 * candidate degrees. The larger of the two is the bound, valid under degree choice.
 */
export function lowerBound(layouts: readonly PoolLayout[], replicas: readonly ReplicaSpec[]): number {
  const ranksByPool = layouts.map((l) => new Array<number>(l.shapes.length).fill(0));
  let fractional = 0;
  for (const replica of replicas) {
    let pools = 0;
    let only = -1;
    replica.ranges.forEach((range, p) => {
      if (range.lo > range.hi) return;
      pools++;
      only = p;
    });
    if (pools === 0) continue;
    fractional += replica.minShare;
    if (pools === 1 && replica.degreeFixed) ranksByPool[only]![replica.ranges[only]!.hi]! += replica.tensorParallel;
  }
  const pooled = layouts.reduce((sum, layout, p) => sum + fewestGpus(layout, ranksByPool[p]!), 0);
  return Math.max(pooled, Math.ceil(fractional - 1e-9));
}

function fewestGpus(layout: PoolLayout, ranksByClass: readonly number[]): number {
  let gpus = 0;
  let spare = 0;
  layout.shapes.forEach((shape, c) => {
    let ranks = ranksByClass[c]!;
    const reuse = Math.min(ranks, spare);
    ranks -= reuse;
    spare -= reuse;
    const added = Math.ceil(ranks / shape.partitionsPerGpu);
    gpus += added;
    spare += added * shape.partitionsPerGpu - ranks;
  });
  return gpus;
}

/**
 * The fractional bound of a whole demand before any placement: every replica of every model at
 * the given levels, each at its smallest GPU share over its candidate degrees.
 */
export function degreeFreeBound(setup: PlanningSetup, levelOf: readonly number[]): number {
  let total = 0;
  for (const model of setup.models) {
    const share = model.minShare[levelOf[model.index]!];
    if (share !== undefined) total += share * model.demand.replicas;
  }
  return Math.ceil(total - 1e-9);
}
