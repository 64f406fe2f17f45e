import { reservedGiB, servingUtilization } from '../sizing/budget.ts';
import { round2 } from '../sizing/fit.ts';
import type { PoolLayout } from './capacity.ts';
import { type ResolvedModel, shapeRange } from './demands.ts';
import type { FleetState } from './fleet.ts';

/**
 * Why a replica is unschedulable, naming the binding constraint. Two kinds, worded apart:
 * "never fits" (no profile or node of its pools could ever hold it, whatever else runs) and
 * "out of capacity" (it would fit, but the partitions it needs are taken).
 */

/** How every "never fits" reason starts (diagnostics tell the two kinds apart by it). */
export const NEVER_FITS = 'never fits';

export function neverFitsReason(model: ResolvedModel, layouts: readonly PoolLayout[], headroomPercent: number): string {
  const { demand } = model;
  if (demand.options.length === 0) return `${NEVER_FITS}: sizing gave it no precision and tensor parallelism to run at`;
  if (model.pools.length === 0) return `${NEVER_FITS}: none of its pools exist (${demand.pools.join(', ')})`;
  const clauses = model.pools.map((p) => poolClause(model, layouts[p]!, headroomPercent));
  return `${NEVER_FITS}: ${clauses.join('; ')}`;
}

function poolClause(model: ResolvedModel, layout: PoolLayout, headroomPercent: number): string {
  const name = layout.capacity.name;
  if (layout.shapes.length === 0) return `pool ${name} allows no profile valid on ${layout.capacity.gpu}`;
  const options = model.demand.options;
  const ranged = options.map((o) => ({ o, range: shapeRange(o, layout, headroomPercent) }));
  const memoryFits = ranged.filter(({ range }) => range.hi >= 0);
  if (memoryFits.length === 0) {
    const need = Math.min(...options.map((o) => reservedGiB(o.memoryGiBPerPartition, headroomPercent)));
    const largest = layout.shapes[0]!;
    const profile = layout.profiles[largest.profile]!;
    return (
      `no profile of pool ${name} has partitions of ≥ ${gib(need)} GiB ` +
      `(largest: ${profile.name}, ${gib(largest.memoryGiB)} GiB × ${servingUtilization(largest.memoryGiB, layout.capacity.usableMemoryFraction)} given to vLLM)`
    );
  }
  const { o, range } = memoryFits.reduce((a, b) => (b.o.tensorParallel < a.o.tensorParallel ? b : a));
  const most = layout.gpusPerNode * layout.shapes[range.hi]!.partitionsPerGpu;
  return (
    `tensor parallelism ${o.tensorParallel} needs ${o.tensorParallel} partitions of ≥ ${gib(layout.shapes[range.hi]!.memoryGiB)} GiB ` +
    `on one node; nodes of pool ${name} have at most ${most}`
  );
}

/**
 * For a replica the planner could not place although its option fits the pools' profiles: what one
 * rank reserves (headroom included, the figure `validate` states) and what holds the partitions.
 */
export function outOfCapacityReason(state: FleetState, r: number, headroomPercent: number): string {
  const replica = state.replicas[r]!;
  const pools = replica.ranges.flatMap((range, p) => (range.lo <= range.hi ? [p] : []));
  const t = replica.tensorParallel;
  const need = `needs ${t} partition${t === 1 ? '' : 's'} of ≥ ${gib(replica.reservedGiB)} GiB (${headroomPercent}% headroom included) on one node`;
  const blockers = pools.map((p) => poolBlocker(state, p, replica.priority));
  return `out of capacity: ${need}; ${blockers.join('; ')}`;
}

function poolBlocker(state: FleetState, pool: number, priority: number): string {
  const name = state.layouts[pool]!.capacity.name;
  if (state.layouts[pool]!.capacity.nodes.length === 0) return `pool ${name} has no nodes`;
  let same = false;
  let lower = false;
  for (let n = 0; n < state.nodeCount; n++) {
    if (state.nodePool[n] !== pool) continue;
    if (state.nodePriorityCount[n * 4 + priority]! > 0) same = true;
    for (let p = priority + 1; p < 4; p++) if (state.nodePriorityCount[n * 4 + p]! > 0) lower = true;
  }
  const holders = same ? 'models of the same or higher priority' : 'higher-priority models';
  const eviction = lower ? ' (evicting lower-priority models would not free enough on any one node)' : '';
  return `pool ${name} has none free after ${holders}${eviction}`;
}

/** GiB for messages: at most two decimals, no trailing zeros. */
export function gib(value: number): string {
  return String(round2(value));
}
