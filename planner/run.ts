import { shapeBudgets } from './budgets.ts';
import type { PoolLayout } from './capacity.ts';
import { expandReplicas, type ReplicaSpec, type ResolvedModel } from './demands.ts';
import { FleetState } from './fleet.ts';
import { improve } from './improve.ts';
import { Placer } from './place.ts';
import { placeByPriority } from './priorities.ts';
import { seedPrevious } from './stability.ts';
import type { Plan } from './types.ts';

/** Pools, models and options of one planning problem, resolved once. */
export interface PlanningSetup {
  readonly layouts: readonly PoolLayout[];
  readonly models: readonly ResolvedModel[];
  readonly headroomPercent: number;
}

export interface RunResult {
  readonly state: FleetState;
  /** Replica indices that did not fit (capacity; never-fitting models have no replicas here). */
  readonly unschedulable: readonly number[];
}

export interface RunOptions {
  readonly previous?: Plan;
  /** Nodes of the previous plan to treat as new: their replicas move, their profiles may change freely. */
  readonly released?: ReadonlySet<string>;
}

/** One greedy placement of every replica at the given option levels, then local improvement. */
export function runPlacement(setup: PlanningSetup, levelOf: readonly number[], options: RunOptions = {}): RunResult {
  const replicas = expandReplicas(setup.models, levelOf, setup.layouts, setup.headroomPercent);
  const state = new FleetState(setup.layouts, replicas, setup.models.length);
  if (options.previous) seedPrevious(state, options.previous, options.released);
  const preferred = replicas.map((r) => preferredPool(r, setup.layouts));
  const rank = packingRank(replicas, preferred);
  const budgets = options.previous ? setup.layouts.map(() => null) : freshBudgets(setup.layouts, replicas, preferred);
  const placer = new Placer(state, { budgets, allowOpen: true, excludeNode: -1 });
  const pending = replicas
    .map((r) => r.index)
    .filter((r) => state.replicaNode[r] === -1)
    .sort((a, b) => rank[a]! - rank[b]!);
  const failed = pending.filter((r) => !placer.place(r));
  let unschedulable = placeByPriority(state, placer, failed, rank);
  improve(state, placer, rank);
  if (unschedulable.length > 0) unschedulable = placeByPriority(state, placer, unschedulable, rank);
  return { state, unschedulable };
}

/** The pool where one replica costs the smallest share of a GPU; first pool on ties. */
function preferredPool(replica: ReplicaSpec, layouts: readonly PoolLayout[]): number {
  let best = -1;
  let bestCost = Infinity;
  replica.ranges.forEach((range, p) => {
    if (range.lo > range.hi) return;
    const cost = replica.tensorParallel / layouts[p]!.shapes[range.hi]!.partitionsPerGpu;
    if (cost < bestCost) {
      bestCost = cost;
      best = p;
    }
  });
  return best;
}

/**
 * Coarsest size class first (first-fit decreasing over the classes), then wider tensor-parallel
 * groups, larger ranks, higher priority, model and ordinal.
 */
function packingRank(replicas: readonly ReplicaSpec[], preferred: readonly number[]): Int32Array {
  const order = replicas
    .map((r) => r.index)
    .sort((a, b) => {
      const x = replicas[a]!;
      const y = replicas[b]!;
      const cx = preferred[a]! < 0 ? -1 : x.ranges[preferred[a]!]!.hi;
      const cy = preferred[b]! < 0 ? -1 : y.ranges[preferred[b]!]!.hi;
      return (
        cx - cy ||
        y.tensorParallel - x.tensorParallel ||
        y.reservedGiB - x.reservedGiB ||
        x.priority - y.priority ||
        x.model - y.model ||
        x.ordinal - y.ordinal
      );
    });
  const rank = new Int32Array(replicas.length);
  order.forEach((r, i) => (rank[r] = i));
  return rank;
}

function freshBudgets(layouts: readonly PoolLayout[], replicas: readonly ReplicaSpec[], preferred: readonly number[]): (Int32Array | null)[] {
  return layouts.map((layout) => {
    if (layout.shapes.some((s) => s.mixableProfile >= 0)) return null;
    const ranks = new Array<number>(layout.shapes.length).fill(0);
    for (const r of replicas) if (preferred[r.index] === layout.index) ranks[r.ranges[layout.index]!.hi]! += r.tensorParallel;
    return shapeBudgets(layout, ranks, layout.capacity.nodes.length);
  });
}
