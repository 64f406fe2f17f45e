import { type FleetState, MAX_PARTITIONS, NODE_EMPTY, NODE_MIXED } from './fleet.ts';
import type { Placer } from './place.ts';

/**
 * Local search after the greedy placement. Moves only replicas the previous plan does not pin,
 * and accepts a move only when the fleet uses no more GPUs than before.
 */
export function improve(state: FleetState, placer: Placer, rank: Int32Array): void {
  refineProfiles(state, placer, rank);
  eliminateNodes(state, placer, rank);
  refineProfiles(state, placer, rank);
}

interface Saved {
  readonly r: number;
  readonly node: number;
  readonly profile: number;
  readonly slots: number[];
}

function save(state: FleetState, r: number): Saved {
  const slots = state.slotsOf(r);
  return { r, node: state.replicaNode[r]!, profile: state.gpuProfile[Math.floor(slots[0]! / MAX_PARTITIONS)]!, slots };
}

function restore(state: FleetState, saved: readonly Saved[], moved: readonly number[]): void {
  for (const r of moved) if (state.replicaNode[r]! >= 0) state.remove(r);
  for (const s of saved) state.placeAt(s.r, s.node, s.profile, s.slots);
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
  for (const n of candidates) {
    if (state.nodeMode[n] === NODE_EMPTY) continue;
    const replicas = movable(state, n);
    if (!replicas || !roomElsewhere(state, n)) continue;
    const gpusBefore = state.usedGpus;
    const saved = replicas.map((r) => save(state, r));
    for (const r of replicas) state.remove(r);
    const options = { ...placer.options, allowOpen: false, excludeNode: n };
    const moved: number[] = [];
    let ok = true;
    for (const r of [...replicas].sort((a, b) => rank[a]! - rank[b]!)) {
      if (!placer.place(r, options)) {
        ok = false;
        break;
      }
      moved.push(r);
    }
    if (!ok || state.usedGpus > gpusBefore) restore(state, saved, moved);
  }
}

/** A cheap necessary condition: other open nodes of the pool have at least as many free partitions. */
function roomElsewhere(state: FleetState, n: number): boolean {
  const pool = state.nodePool[n]!;
  let need = 0;
  const base = state.nodeGpuBase[n]!;
  for (let g = base; g < base + state.nodeGpus[n]!; g++) need += state.gpuUsed[g]!;
  let free = 0;
  for (let m = 0; m < state.nodeCount && free < need; m++) {
    if (m === n || state.nodeMode[m] === NODE_EMPTY) continue;
    if (state.nodePool[m] !== pool) {
      free += need; // another pool may take flexible replicas; let the real attempt decide
      break;
    }
    const mb = state.nodeGpuBase[m]!;
    for (let g = mb; g < mb + state.nodeGpus[m]!; g++) {
      const P = state.nodeMode[m] === NODE_MIXED && state.gpuUsed[g] === 0 ? MAX_PARTITIONS : state.partitionsOf(g);
      free += P - state.gpuUsed[g]!;
    }
  }
  return free >= need;
}

/**
 * Re-profiles a locked node to the finest shape all its replicas fit when that needs fewer GPUs
 * (replicas that landed on coarse partitions because of an earlier choice).
 */
function refineProfiles(state: FleetState, placer: Placer, rank: Int32Array): void {
  for (let n = 0; n < state.nodeCount; n++) {
    const mode = state.nodeMode[n]!;
    if (mode < 0) continue;
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
    const gpusBefore = state.usedGpus;
    const saved = replicas.map((r) => save(state, r));
    for (const r of replicas) state.remove(r);
    const order = [...replicas].sort((a, b) => state.replicas[b]!.tensorParallel - state.replicas[a]!.tensorParallel || rank[a]! - rank[b]!);
    const moved: number[] = [];
    for (const r of order) {
      const placement = placer.evaluate(r, n, { ...placer.options, allowOpen: true, excludeNode: -1 });
      if (!placement) break;
      state.place(r, n, state.nodeMode[n] === NODE_EMPTY ? profile : placement.profile, state.nodeMode[n] === NODE_EMPTY ? placer.gpuOrder(n, profile) : placement.gpus);
      moved.push(r);
    }
    if (moved.length !== replicas.length || state.usedGpus >= gpusBefore) restore(state, saved, moved);
  }
}
