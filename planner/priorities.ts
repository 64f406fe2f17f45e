import { type FleetState, NODE_EMPTY } from './fleet.ts';
import type { Placer } from './place.ts';
import { relocateFor } from './relocate.ts';
import { repackFor } from './repack.ts';

/**
 * Makes room for replicas that did not fit, highest priority first: by re-profiling a node so it
 * holds one more, else by moving replicas off one node to others, else by evicting replicas of
 * strictly lower priority from one node. A replica
 * ends unschedulable only when no node could take it even with every lower-priority replica gone
 * from it; evicted replicas queue for another place at their own priority. `rank` orders
 * replicas within one priority (the packing order). Failures are remembered per fit key until
 * something is removed, since placing more only takes room.
 */
export function placeByPriority(state: FleetState, placer: Placer, failed: readonly number[], rank: Int32Array): number[] {
  const buckets: number[][] = [[], [], [], []];
  for (const r of failed) buckets[state.replicas[r]!.priority]!.push(r);
  const unschedulable: number[] = [];
  const failedAt = new Map<string, number>();
  const relocationFailed = new Set<number>();
  for (let priority = 0; priority < 4; priority++) {
    const bucket = buckets[priority]!.sort((a, b) => rank[a]! - rank[b]!);
    for (const r of bucket) {
      const key = `${state.replicas[r]!.fitKey}:${priority}`;
      if (failedAt.get(key) === state.removals) {
        unschedulable.push(r);
        continue;
      }
      if (placer.place(r) || repackFor(state, placer, r)) continue;
      // Relocating is the dearest repair: once it fails for a fit key, it is not tried again.
      if (!relocationFailed.has(state.replicas[r]!.fitKey)) {
        if (relocateFor(state, placer, r)) continue;
        relocationFailed.add(state.replicas[r]!.fitKey);
      }
      const evicted = evictFor(state, placer, r);
      if (!evicted) {
        failedAt.set(key, state.removals);
        unschedulable.push(r);
        continue;
      }
      for (const v of evicted) buckets[state.replicas[v]!.priority]!.push(v);
    }
  }
  return unschedulable;
}

interface Eviction {
  readonly node: number;
  readonly victims: readonly number[];
  /** Highest priority among the victims (lower rank = more important): the less important the better. */
  readonly worstVictim: number;
  readonly ranks: number;
  readonly key: number;
}

/** Evicts the cheapest set of lower-priority replicas that lets `r` onto one node; undefined when none does. */
function evictFor(state: FleetState, placer: Placer, r: number): number[] | undefined {
  const replica = state.replicas[r]!;
  const open = { ...placer.options, allowOpen: true, excludeNode: -1 };
  let best: Eviction | undefined;
  for (let n = 0; n < state.nodeCount; n++) {
    if (state.nodeMode[n] === NODE_EMPTY) continue;
    const range = replica.ranges[state.nodePool[n]!]!;
    if (range.lo > range.hi || !hasLowerPriority(state, n, replica.priority)) continue;
    const victims = state
      .replicasOn(n)
      .filter((v) => state.replicas[v]!.priority > replica.priority)
      .sort((a, b) => {
        const x = state.replicas[a]!;
        const y = state.replicas[b]!;
        return y.priority - x.priority || y.tensorParallel - x.tensorParallel || b - a;
      });
    const cp = state.checkpoint();
    const chosen: number[] = [];
    let found: Eviction | undefined;
    for (const v of victims) {
      state.remove(v);
      chosen.push(v);
      const candidate = placer.evaluate(r, n, open);
      if (candidate) {
        const worstVictim = Math.min(...chosen.map((c) => state.replicas[c]!.priority));
        const ranks = chosen.reduce((sum, c) => sum + state.replicas[c]!.tensorParallel, 0);
        found = { node: n, victims: [...chosen], worstVictim, ranks, key: candidate.key };
        break;
      }
    }
    state.rollback(cp);
    if (found && (!best || cheaper(found, best))) best = found;
  }
  if (!best) return undefined;
  for (const v of best.victims) state.remove(v);
  const placement = placer.evaluate(r, best.node, open)!;
  state.place(r, placement.node, placement.profile, placement.gpus);
  return [...best.victims];
}

function cheaper(a: Eviction, b: Eviction): boolean {
  if (a.worstVictim !== b.worstVictim) return a.worstVictim > b.worstVictim;
  if (a.victims.length !== b.victims.length) return a.victims.length < b.victims.length;
  if (a.ranks !== b.ranks) return a.ranks < b.ranks;
  return a.key < b.key;
}

function hasLowerPriority(state: FleetState, n: number, priority: number): boolean {
  for (let p = priority + 1; p < 4; p++) if (state.nodePriorityCount[n * 4 + p]! > 0) return true;
  return false;
}
