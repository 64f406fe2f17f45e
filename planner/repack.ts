import { type FleetState, NODE_EMPTY } from './fleet.ts';
import type { Placer } from './place.ts';

/**
 * Re-profiles one node so that it holds everything it holds now plus replica `r`: a node that
 * took the profile of its first replicas may fit one more under a coarser or finer profile (a
 * node of 96 GiB partitions half in use has room for a 192 GiB replica as SPX). Only locked nodes
 * whose replicas are not pinned by the previous plan; the finest fitting profile, fewest extra
 * GPUs, first node. Returns false when no node can be repacked for `r`.
 */
export function repackFor(state: FleetState, placer: Placer, r: number): boolean {
  const replica = state.replicas[r]!;
  let best: { node: number; shape: number; extra: number } | undefined;
  for (let n = 0; n < state.nodeCount; n++) {
    const mode = state.nodeMode[n]!;
    if (mode === NODE_EMPTY || mode < 0) continue;
    const layout = state.layoutOf(n);
    const own = replica.ranges[layout.index]!;
    if (own.lo > own.hi) continue;
    let lo = own.lo;
    let hi = own.hi;
    let ranks = replica.tensorParallel;
    let pinned = false;
    for (const v of state.replicasOn(n)) {
      const range = state.replicas[v]!.ranges[layout.index]!;
      lo = Math.max(lo, range.lo);
      hi = Math.min(hi, range.hi);
      ranks += state.replicas[v]!.tensorParallel;
      if (state.replicaPinned[v]) pinned = true;
    }
    if (pinned || lo > hi) continue;
    for (let s = hi; s >= lo; s--) {
      const P = layout.shapes[s]!.partitionsPerGpu;
      if (s === layout.profileShape[mode] || ranks > state.nodeGpus[n]! * P) continue;
      const extra = Math.ceil(ranks / P) - state.nodeUsedGpus[n]!;
      if (!best || extra < best.extra) best = { node: n, shape: s, extra };
      break;
    }
  }
  if (!best) return false;
  const { node, shape } = best;
  const layout = state.layoutOf(node);
  const profile = layout.shapes[shape]!.profile;
  const members = [...state.replicasOn(node), r].sort(
    (a, b) => state.replicas[b]!.tensorParallel - state.replicas[a]!.tensorParallel || a - b,
  );
  for (const v of members) if (state.replicaNode[v]! >= 0) state.remove(v);
  for (const v of members) state.place(v, node, profile, placer.gpuOrder(node, profile));
  return true;
}
