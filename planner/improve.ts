import { type FleetState, MAX_PARTITIONS, NODE_EMPTY, NODE_MIXED } from './fleet.ts';
import type { Placer } from './place.ts';

/**
 * Local search after the greedy placement. Moves only replicas the previous plan does not pin,
 * never changes a profile the previous plan gave, and accepts a move only when the fleet uses no
 * more GPUs than before and misses no more spread. Every move is tried on a checkpoint of the
 * fleet state and rolled back when it does not pay.
 */
export function improve(state: FleetState, placer: Placer, rank: Int32Array): void {
  refineProfiles(state, placer, rank);
  emptyGpus(state, placer, rank);
  eliminateNodes(state, placer, rank);
  refineProfiles(state, placer, rank);
}

/**
 * Frees GPUs that hold little: a GPU with free partitions, or holding a replica on partitions
 * larger than it needs, gives its replicas up to other places when that leaves fewer GPUs in use.
 */
function emptyGpus(state: FleetState, placer: Placer, rank: Int32Array): void {
  const options = { ...placer.options, allowOpen: false, excludeNode: -1, allowChange: false, freeSlotsOnly: true };
  for (let g = 0; g < state.gpuCount; g++) {
    if (state.gpuUsed[g]! === 0) continue;
    const node = state.gpuNodeOf(g);
    const layout = state.layoutOf(node);
    const shape = layout.profileShape[state.gpuProfile[g]!]!;
    const on: number[] = [];
    let oversized = false;
    for (let p = 0; p < MAX_PARTITIONS; p++) {
      const r = state.slots[g * MAX_PARTITIONS + p]!;
      if (r < 0 || on.includes(r)) continue;
      on.push(r);
      if (state.replicas[r]!.ranges[layout.index]!.hi > shape) oversized = true;
    }
    if (!oversized && state.gpuUsed[g]! >= state.partitionsOf(g)) continue;
    if (on.some((r) => state.replicaPinned[r])) continue;
    tryMove(state, on, (r) => placer.place(r, options), (r) => rank[r]!, (before) => state.usedGpus < before.gpus);
  }
}

interface Before {
  readonly gpus: number;
  readonly misses: number;
}

/**
 * Takes `replicas` off and puts each back with `put`, in packing order, on a checkpoint: kept
 * when all find a place, no spread is lost and `pays` holds, else rolled back. True when kept.
 */
function tryMove(state: FleetState, replicas: readonly number[], put: (r: number) => boolean, order: (r: number) => number, pays: (before: Before) => boolean): boolean {
  const before = { gpus: state.usedGpus, misses: state.spreadMisses };
  const cp = state.checkpoint();
  for (const r of replicas) state.remove(r);
  const ok = [...replicas].sort((a, b) => order(a) - order(b)).every(put);
  if (ok && state.spreadMisses <= before.misses && pays(before)) {
    state.commit(cp);
    return true;
  }
  state.rollback(cp);
  return false;
}

function movable(state: FleetState, n: number): number[] | undefined {
  const replicas = state.replicasOn(n);
  return replicas.some((r) => state.replicaPinned[r]) ? undefined : replicas;
}

/**
 * Empties nodes: the least used node first, its replicas moved into free partitions and free
 * GPUs of other open nodes, kept when that costs no extra GPU (one node fewer).
 */
function eliminateNodes(state: FleetState, placer: Placer, rank: Int32Array): void {
  const candidates: number[] = [];
  for (let n = 0; n < state.nodeCount; n++) if (state.nodeMode[n] !== NODE_EMPTY) candidates.push(n);
  candidates.sort((a, b) => state.nodeUsedGpus[a]! - state.nodeUsedGpus[b]! || state.nodeReplicas[a]! - state.nodeReplicas[b]! || b - a);
  let free = freePartitions(state);
  for (const n of candidates) {
    if (state.nodeMode[n] === NODE_EMPTY) continue;
    const replicas = movable(state, n);
    // A cheap necessary condition: the other open nodes have as many free partitions as n uses.
    if (!replicas || free.total - free.byNode[n]! < usedPartitions(state, n)) continue;
    const options = { ...placer.options, allowOpen: false, excludeNode: n, allowChange: false };
    if (tryMove(state, replicas, (r) => placer.place(r, options), (r) => rank[r]!, (before) => state.usedGpus <= before.gpus)) free = freePartitions(state);
  }
}

function usedPartitions(state: FleetState, n: number): number {
  let used = 0;
  const base = state.nodeGpuBase[n]!;
  for (let g = base; g < base + state.nodeGpus[n]!; g++) used += state.gpuUsed[g]!;
  return used;
}

/** Free partitions of every open node (a free GPU of a mixed node counted at its finest). */
function freePartitions(state: FleetState): { byNode: Int32Array; total: number } {
  const byNode = new Int32Array(state.nodeCount);
  let total = 0;
  for (let n = 0; n < state.nodeCount; n++) {
    if (state.nodeMode[n] === NODE_EMPTY) continue;
    const base = state.nodeGpuBase[n]!;
    for (let g = base; g < base + state.nodeGpus[n]!; g++) {
      const P = state.nodeMode[n] === NODE_MIXED && state.gpuUsed[g] === 0 ? MAX_PARTITIONS : state.partitionsOf(g);
      byNode[n]! += P - state.gpuUsed[g]!;
    }
    total += byNode[n]!;
  }
  return { byNode, total };
}

/**
 * Re-profiles a locked node to the finest shape all its replicas fit when that needs fewer GPUs
 * (replicas that landed on coarse partitions because of an earlier choice).
 */
function refineProfiles(state: FleetState, placer: Placer, rank: Int32Array): void {
  for (let n = 0; n < state.nodeCount; n++) {
    const mode = state.nodeMode[n]!;
    if (mode < 0 || state.gpuPrev[state.nodeGpuBase[n]!]! >= 0) continue;
    const replicas = movable(state, n);
    if (!replicas) continue;
    const layout = state.layoutOf(n);
    let finest = layout.shapes.length - 1;
    let coarsest = 0;
    let ranks = 0;
    for (const r of replicas) {
      const range = state.replicas[r]!.ranges[layout.index]!;
      finest = Math.min(finest, range.hi);
      coarsest = Math.max(coarsest, range.lo);
      ranks += state.replicas[r]!.tensorParallel;
    }
    const current = layout.profileShape[mode]!;
    if (finest <= current || coarsest > finest) continue;
    const shape = layout.shapes[finest]!;
    if (Math.ceil(ranks / shape.partitionsPerGpu) >= state.nodeUsedGpus[n]!) continue;
    const profile = shape.mixableProfile >= 0 ? shape.mixableProfile : shape.profile;
    // Widest first; the first replica sets the node's new profile, the rest follow it.
    const widestFirst = (r: number) => -state.replicas[r]!.tensorParallel * state.replicas.length + rank[r]!;
    const putOnNode = (r: number) => {
      const placement = state.nodeMode[n] === NODE_EMPTY ? { profile, gpus: placer.gpuOrder(n, profile) } : placer.evaluate(r, n, placer.options);
      if (placement) state.place(r, n, placement.profile, placement.gpus);
      return placement !== undefined;
    };
    tryMove(state, replicas, putOnNode, widestFirst, (before) => state.usedGpus < before.gpus);
  }
}
