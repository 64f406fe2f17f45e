import { type FleetState, MAX_PARTITIONS, NODE_EMPTY } from './fleet.ts';
import type { Plan } from './types.ts';

/**
 * Carries a previous plan into a planning run: every GPU remembers its previous profile (so a
 * change can be avoided and counted), and every replica whose model still asks for it with the
 * same precision and tensor parallelism stays in its partitions when they still exist, are still
 * free and still hold it. Nodes in `released` start over as if new.
 */
export function seedPrevious(state: FleetState, previous: Plan, released: ReadonlySet<string> = new Set()): void {
  seedProfiles(state, previous, released);
  keepReplicas(state, previous, released);
}

/** Gives every GPU of a node the previous plan had (unless released) its previous profile. */
export function seedProfiles(state: FleetState, previous: Plan, released: ReadonlySet<string> = new Set()): void {
  const nodeIndex = new Map(state.nodeNames.map((name, n) => [name, n]));
  for (const node of previous.nodes) {
    const n = nodeIndex.get(node.name);
    if (n === undefined || released.has(node.name)) continue;
    const layout = state.layoutOf(n);
    if (node.gpu !== layout.capacity.gpu || node.gpus.length !== state.nodeGpus[n]) continue;
    const profiles = node.gpus.map((g) =>
      layout.profiles.findIndex((p) => p.compute === g.profile.compute && p.memory === g.profile.memory),
    );
    const uniform = profiles.every((p) => p === profiles[0]);
    const mixable = profiles.every((p) => p >= 0 && layout.profileMixable[p]);
    if (profiles.some((p) => p < 0) || !(uniform || mixable)) continue;
    const base = state.nodeGpuBase[n]!;
    profiles.forEach((p, g) => {
      state.gpuPrev[base + g] = p;
      state.gpuProfile[base + g] = p;
    });
  }

}

function keepReplicas(state: FleetState, previous: Plan, released: ReadonlySet<string>): void {
  const nodeIndex = new Map(state.nodeNames.map((name, n) => [name, n]));
  const replicaIndex = new Map(state.replicas.map((r) => [r.id, r.index]));
  for (const kept of previous.replicas) {
    const r = replicaIndex.get(kept.id);
    const n = nodeIndex.get(kept.node);
    if (r === undefined || n === undefined || released.has(kept.node)) continue;
    const replica = state.replicas[r]!;
    if (replica.option.precision !== kept.precision || replica.tensorParallel !== kept.tensorParallel) continue;
    if (kept.partitions.length !== replica.tensorParallel || state.replicaNode[r] !== -1) continue;
    const layout = state.layoutOf(n);
    const range = replica.ranges[layout.index]!;
    const base = state.nodeGpuBase[n]!;
    let profile = -1;
    const slots: number[] = [];
    for (const ref of kept.partitions) {
      if (ref.gpu < 0 || ref.gpu >= state.nodeGpus[n]!) break;
      const gpu = base + ref.gpu;
      const p = state.gpuPrev[gpu]!;
      if (p < 0 || (profile >= 0 && layout.profileShape[p] !== layout.profileShape[profile])) break;
      profile = p;
      if (ref.partition < 0 || ref.partition >= layout.profiles[p]!.partitionsPerGpu) break;
      const slot = gpu * MAX_PARTITIONS + ref.partition;
      if (state.slots[slot] !== -1 || slots.includes(slot)) break;
      slots.push(slot);
    }
    if (slots.length !== replica.tensorParallel) continue;
    const shape = layout.profileShape[profile]!;
    if (shape < range.lo || shape > range.hi) continue;
    if (!consistentWithNode(state, n, profile)) continue;
    state.placeAt(r, n, profile, slots);
    state.replicaPinned[r] = 1;
  }
}

/** A locked node keeps one profile; a mixed node may only add GPUs of NPS1 profiles. */
function consistentWithNode(state: FleetState, n: number, profile: number): boolean {
  const mode = state.nodeMode[n]!;
  if (mode === NODE_EMPTY) return true;
  if (mode >= 0) return mode === profile;
  return state.layoutOf(n).profileMixable[profile]!;
}
