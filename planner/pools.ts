import { type Outcome, poolOutcome } from './budgets.ts';
import type { PoolLayout } from './capacity.ts';
import type { ReplicaSpec } from './demands.ts';
import type { PlanningSetup } from './run.ts';
import { lexLess } from './shortfall.ts';

/** Which pool a replica should go to, when its model may use several. */

/** GPU share one replica takes in a pool at best (its ranks over its finest shape's partitions per GPU). */
export function share(replica: ReplicaSpec, layouts: readonly PoolLayout[], p: number): number {
  const range = replica.ranges[p]!;
  return range.lo > range.hi ? Infinity : replica.tensorParallel / layouts[p]!.shapes[range.hi]!.partitionsPerGpu;
}

/** Per replica, the pool where it takes the smallest GPU share (first on ties; -1 when none). */
export function cheapestPools(replicas: readonly ReplicaSpec[], layouts: readonly PoolLayout[]): Int32Array {
  return Int32Array.from(replicas, (r) => {
    let best = -1;
    let bestShare = Infinity;
    for (let p = 0; p < layouts.length; p++) {
      const s = share(r, layouts, p);
      if (s < bestShare) {
        bestShare = s;
        best = p;
      }
    }
    return best;
  });
}

/**
 * The pool each replica should go to. A replica with one pool goes there. The others go — those
 * with the most to lose from their second-best pool first, then in packing order — each to the
 * pool where the pooled simulation (see budgets.ts) says it strands the fewest ranks, then where
 * it takes the smallest share of a GPU, then adds the fewest GPUs and nodes (so among equals it
 * lands where an open node has room), then the first pool. Only `admitted` replicas load the
 * pools.
 */
export function assignPools(setup: PlanningSetup, replicas: readonly ReplicaSpec[], admitted: readonly ReplicaSpec[], rank: Int32Array): Int32Array {
  const { layouts } = setup;
  const cheapest = cheapestPools(replicas, layouts);
  const ranks = layouts.map((l) => new Array<number>(l.shapes.length).fill(0));
  const flexible: number[] = [];
  for (const r of admitted) {
    const pools = r.ranges.filter((range) => range.lo <= range.hi).length;
    if (pools === 1) ranks[cheapest[r.index]!]![r.ranges[cheapest[r.index]!]!.hi]! += r.tensorParallel;
    else if (pools > 1) flexible.push(r.index);
  }
  const preferred = Int32Array.from(cheapest);
  if (flexible.length === 0) return preferred;
  const outcome = (p: number) => {
    const key = `${p}:${ranks[p]!.join(',')}`;
    let known = setup.outcomes.get(key);
    if (!known) {
      known = poolOutcome(layouts[p]!, ranks[p]!, layouts[p]!.capacity.nodes.length);
      setup.outcomes.set(key, known);
    }
    return known;
  };
  const current = layouts.map((_, p) => outcome(p));
  // Replicas that lose most by going to their second-best pool choose first; indifferent ones fill in.
  const regret = (r: number) => {
    const shares = layouts.map((_, p) => share(replicas[r]!, layouts, p)).sort((a, b) => a - b);
    return (shares[1]! - shares[0]!) / shares[0]!;
  };
  const regrets = new Map(flexible.map((r) => [r, regret(r)]));
  flexible.sort((a, b) => regrets.get(b)! - regrets.get(a)! || rank[a]! - rank[b]!);
  for (const r of flexible) {
    const replica = replicas[r]!;
    const pools = layouts
      .map((l) => l.index)
      .filter((p) => Number.isFinite(share(replica, layouts, p)))
      .sort((a, b) => share(replica, layouts, a) - share(replica, layouts, b) || a - b);
    let best: { p: number; delta: number[]; after: Outcome } | undefined;
    for (const p of pools) {
      // Pools come by share: once a pool strands nothing, dearer pools cannot win.
      if (best && best.delta[0] === 0 && share(replica, layouts, p) > best.delta[1]!) break;
      const range = replica.ranges[p]!;
      ranks[p]![range.hi]! += replica.tensorParallel;
      const after = outcome(p);
      ranks[p]![range.hi]! -= replica.tensorParallel;
      const before = current[p]!;
      const delta = [after.unplaced - before.unplaced, share(replica, layouts, p), after.gpus - before.gpus, sum(after.open) - sum(before.open)];
      if (!best || lexLess(delta, best.delta)) best = { p, delta, after };
    }
    preferred[r] = best!.p;
    ranks[best!.p]![replica.ranges[best!.p]!.hi]! += replica.tensorParallel;
    current[best!.p] = best!.after;
  }
  return preferred;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
