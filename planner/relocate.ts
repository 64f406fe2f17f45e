import { type FleetState, NODE_EMPTY } from './fleet.ts';
import type { Placer } from './place.ts';

/**
 * Makes room for replica `r` on one node by moving replicas off it to other nodes (not evicting:
 * every one of them must find a new place, so no priority loses). Tries the nodes in order and
 * keeps the first where it works; for each node, moves the replicas with the most pools to go to,
 * then the least important, then the largest first until `r` fits. Replicas the previous plan
 * pins stay.
 */
export function relocateFor(state: FleetState, placer: Placer, r: number): boolean {
  const replica = state.replicas[r]!;
  if (!hasFreeGpu(state)) return false;
  const open = { ...placer.options, allowOpen: true, excludeNode: -1 };
  for (let n = 0; n < state.nodeCount; n++) {
    if (state.nodeMode[n] === NODE_EMPTY) continue;
    const range = replica.ranges[state.nodePool[n]!]!;
    if (range.lo > range.hi) continue;
    const movable = state
      .replicasOn(n)
      .filter((v) => !state.replicaPinned[v])
      .sort((a, b) => {
        const x = state.replicas[a]!;
        const y = state.replicas[b]!;
        return pools(y) - pools(x) || y.priority - x.priority || y.tensorParallel - x.tensorParallel || b - a;
      });
    if (movable.length === 0) continue;
    const cp = state.checkpoint();
    const moved: number[] = [];
    let fits = false;
    for (const v of movable) {
      state.remove(v);
      moved.push(v);
      if (placer.evaluate(r, n, open)) {
        fits = true;
        break;
      }
    }
    if (fits) {
      const placement = placer.evaluate(r, n, open)!;
      state.place(r, n, placement.profile, placement.gpus);
      const elsewhere = { ...open, excludeNode: n };
      if (moved.every((v) => placer.place(v, elsewhere))) {
        state.commit(cp);
        return true;
      }
    }
    state.rollback(cp);
  }
  return false;
}

function pools(replica: FleetState['replicas'][number]): number {
  return replica.ranges.filter((range) => range.lo <= range.hi).length;
}

/** Moving replicas around needs somewhere to move them: a free GPU in some pool. */
function hasFreeGpu(state: FleetState): boolean {
  return state.layouts.some((l) => state.poolUsedGpus[l.index]! < l.capacity.nodes.length * l.gpusPerNode);
}
