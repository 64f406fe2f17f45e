import { type Outcome, shapeBudgets } from './budgets.ts';
import type { PoolLayout } from './capacity.ts';
import { lowerBound } from './bounds.ts';
import { type Choice, expandReplicas, type ReplicaSpec, type ResolvedModel } from './demands.ts';
import { FleetState } from './fleet.ts';
import { improve } from './improve.ts';
import { Placer } from './place.ts';
import { assignPools, cheapestPools, share } from './pools.ts';
import { placeByPriority } from './priorities.ts';
import { lexLess, shortfallOf } from './shortfall.ts';
import { seedPrevious } from './stability.ts';
import type { Plan } from './types.ts';

/** Pools, models and options of one planning problem, resolved once. */
export interface PlanningSetup {
  readonly layouts: readonly PoolLayout[];
  readonly models: readonly ResolvedModel[];
  readonly headroomPercent: number;
  /**
   * Pool simulations by pool and ranks per class: planning runs many placements of nearly the
   * same demand (precision search, priority admission), which ask the same questions.
   */
  readonly outcomes: Map<string, Outcome>;
  /** Place as if no model asked for ScheduleAnyway spread (placing every replica comes first). */
  readonly softSpreadOff?: boolean;
}

export interface RunResult {
  readonly state: FleetState;
  /** Replica indices that did not fit (capacity; never-fitting models have no replicas here). */
  readonly unschedulable: readonly number[];
  /** Replicas placed in a topology domain their model already uses although a free one could take them. */
  readonly spreadMisses: number;
}

export interface RunOptions {
  readonly previous?: Plan;
  /** Nodes of the previous plan to treat as new: their replicas move, their profiles may change freely. */
  readonly released?: ReadonlySet<string>;
  /** Stop after the first placement and its repairs: enough to learn whether everything fits. */
  readonly quick?: boolean;
  /** Place as if no model asked for ScheduleAnyway spread (what spread costs). */
  readonly ignoreSpread?: boolean;
}

/**
 * One placement of every replica at the given option levels. First everything at once, in
 * packing order, with repairs for what does not fit, then local improvement. When a fresh fleet
 * still cannot hold it all, priorities are admitted whole while they fit (each admission packed
 * from scratch, so the admitted replicas stay tightly packed), and the first priority that does
 * not fit, and those below it, fill the rest smallest first — the most replicas of the most
 * important priority that still fit. Replicas left over then get a chance to evict lower-priority
 * ones. Whichever of the two attempts leaves out less (by priority) is kept.
 */
export function runPlacement(setup: PlanningSetup, choice: Choice, options: RunOptions = {}): RunResult {
  const replicas = expandReplicas(setup.models, choice, setup.layouts, setup.headroomPercent, options.ignoreSpread || setup.softSpreadOff);
  const rank = packingRank(replicas, cheapestPools(replicas, setup.layouts));
  const totalGpus = setup.layouts.reduce((sum, l) => sum + l.capacity.nodes.length * l.gpusPerNode, 0);
  // Demand whose lower bound exceeds the fleet cannot all fit: no need to try.
  const surelyTooMuch = (admitted: readonly ReplicaSpec[]) => !options.previous && lowerBound(setup.layouts, admitted) > totalGpus;
  const attempt = (lowestPriority: number) => {
    const state = new FleetState(setup.layouts, replicas, setup.models.length);
    if (options.previous) seedPrevious(state, options.previous, options.released);
    const admitted = replicas.filter((r) => r.priority <= lowestPriority);
    const preferred = assignPools(setup, replicas, admitted, rank);
    const budgets = options.previous ? setup.layouts.map(() => null) : freshBudgets(setup.layouts, admitted, preferred);
    const placer = new Placer(state, { budgets, preferredPool: preferred, allowOpen: true, excludeNode: -1 });
    const pending = admitted
      .map((r) => r.index)
      .filter((r) => state.replicaNode[r] === -1)
      .sort((a, b) => rank[a]! - rank[b]!);
    const failed = surelyTooMuch(admitted) ? pending : pending.filter((r) => !placer.place(r));
    return { state, placer, failed };
  };

  const all = attempt(3);
  let unschedulable = surelyTooMuch(replicas) ? all.failed : placeByPriority(all.state, all.placer, all.failed, rank);
  if (unschedulable.length === 0 || options.previous || options.quick) {
    improve(all.state, all.placer, rank);
    if (unschedulable.length > 0) unschedulable = placeByPriority(all.state, all.placer, unschedulable, rank);
    return { state: all.state, unschedulable, spreadMisses: all.state.spreadMisses };
  }

  const first = unschedulable;
  const present = [...new Set(replicas.map((r) => r.priority))].sort((a, b) => a - b);
  let base = attempt(-1);
  for (const priority of present.slice(0, -1)) {
    const trial = attempt(priority);
    if (trial.failed.length > 0) break;
    base = trial;
  }
  improve(base.state, base.placer, rank);
  const { state } = base;
  const preferred = all.placer.options.preferredPool;
  const fill = new Placer(state, { ...all.placer.options, allowOpen: true, excludeNode: -1 });
  const cost = (r: number) => share(replicas[r]!, setup.layouts, preferred[r]!);
  const rest = replicas
    .map((r) => r.index)
    .filter((r) => state.replicaNode[r] === -1)
    .sort((a, b) => replicas[a]!.priority - replicas[b]!.priority || cost(a) - cost(b) || rank[a]! - rank[b]!);
  const failed = rest.filter((r) => !fill.place(r));
  unschedulable = placeByPriority(state, fill, failed, rank);
  improve(state, fill, rank);
  if (unschedulable.length > 0) unschedulable = placeByPriority(state, fill, unschedulable, rank);
  // Admitting by priority usually places more of what matters; when it does not, keep the first try.
  if (!surelyTooMuch(replicas) && !lexLess(shortfallOf(replicas, unschedulable), shortfallOf(replicas, first))) {
    improve(all.state, all.placer, rank);
    const unplaced = placeByPriority(all.state, all.placer, first, rank);
    return { state: all.state, unschedulable: unplaced, spreadMisses: all.state.spreadMisses };
  }
  return { state, unschedulable, spreadMisses: state.spreadMisses };
}

/**
 * Coarsest size class first (first-fit decreasing over the classes), then wider tensor-parallel
 * groups, larger ranks, higher priority, model and ordinal.
 */
function packingRank(replicas: readonly ReplicaSpec[], preferred: Int32Array): Int32Array {
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

/** Shape budgets per pool for a fresh placement of `replicas` (none for pools that mix profiles per GPU). */
function freshBudgets(layouts: readonly PoolLayout[], replicas: readonly ReplicaSpec[], preferred: Int32Array): (Int32Array | null)[] {
  return layouts.map((layout) => {
    if (layout.shapes.some((s) => s.mixableProfile >= 0)) return null;
    const ranks = new Array<number>(layout.shapes.length).fill(0);
    for (const r of replicas) if (preferred[r.index] === layout.index) ranks[r.ranges[layout.index]!.hi]! += r.tensorParallel;
    return shapeBudgets(layout, ranks, layout.capacity.nodes.length);
  });
}
