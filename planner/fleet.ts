import { HOSTNAME_TOPOLOGY_KEY } from '../api/types.ts';
import type { PoolLayout } from './capacity.ts';
import type { ReplicaSpec } from './demands.ts';

/** Where a replica was before it was taken off. */
interface TakenOff {
  readonly r: number;
  readonly node: number;
  readonly profile: number;
  readonly slots: readonly number[];
  readonly pinned: number;
}

/** A point the fleet state can roll back to (see `checkpoint`). */
export interface Checkpoint {
  readonly at: number;
}

/** One change to the fleet, journaled while a checkpoint is open: a placement, or a removal and where it was. */
type Change = { readonly placed: true; readonly r: number } | ({ readonly placed: false } & TakenOff);

/**
 * Per model whose replicas should spread: the topology domain of every node (-1 where the model
 * cannot go), its replicas per domain, and the domains it may use.
 */
interface SpreadTable {
  readonly domainOf: Int32Array;
  readonly count: Int32Array;
  /** Domains worth covering: those the model may use, at most its `maxDomains`. */
  readonly wanted: number;
  readonly hard: boolean;
}

/** The most partitions any catalog profile cuts a GPU into (CPX). */
export const MAX_PARTITIONS = 8;

export const NODE_EMPTY = -1;
/** Node in NPS1 memory mode with per-GPU compute modes (mixed pools only). */
export const NODE_MIXED = -2;

/**
 * The mutable state of one planning run: every node and GPU of the fleet, which profile each GPU
 * has, and which replica holds each partition. Flat typed arrays, because the planner evaluates
 * thousands of candidate placements per replica set.
 *
 * A GPU's profile only matters while it holds a replica; a free GPU's profile is soft (what the
 * previous plan gave it, or nothing), and the plan writer resolves it at the end.
 */
export class FleetState {
  readonly nodeCount: number;
  readonly gpuCount: number;
  readonly nodeNames: readonly string[];
  readonly nodePool: Int32Array;
  readonly nodeGpuBase: Int32Array;
  readonly nodeGpus: Int32Array;
  /** Previous profile of each GPU (index into its pool's profiles), -1 when there is none. */
  readonly gpuPrev: Int16Array;
  readonly gpuProfile: Int16Array;
  readonly gpuUsed: Int16Array;
  /** Replica index in each partition slot (`gpu * MAX_PARTITIONS + partition`), -1 when free. */
  readonly slots: Int32Array;
  /** NODE_EMPTY, NODE_MIXED, or the profile every GPU of the node is locked to. */
  readonly nodeMode: Int16Array;
  readonly nodeUsedGpus: Int32Array;
  /** Occupied partitions per node. */
  readonly nodeRanks: Int32Array;
  readonly nodeReplicas: Int32Array;
  /** Replicas per node and priority rank. */
  readonly nodePriorityCount: Int32Array;
  /** Replicas per node and model. */
  readonly nodeModelCount: Uint16Array;
  /** Non-empty nodes per pool and shape, for the shape budgets of a fresh plan. */
  readonly openByShape: Int32Array[];
  readonly replicaNode: Int32Array;
  readonly replicaSlots: Int32Array;
  /** Replica stays where the previous plan put it; improvement passes leave it alone. */
  readonly replicaPinned: Uint8Array;
  /** GPUs in use per pool. */
  readonly poolUsedGpus: Int32Array;
  usedGpus = 0;
  usedNodes = 0;
  /**
   * A new value after every removal and every rollback (never reused): capacity may have grown,
   * so failures cached under an older value are stale.
   */
  removals = 0;
  private stamp = 0;
  /** Per model, its spread table (null: no spread asked), placed replicas and domains covered. */
  readonly spread: readonly (SpreadTable | null)[];
  readonly modelPlaced: Int32Array;
  readonly modelCovered: Int32Array;
  /** Σ over spreading models of min(placed, wanted domains) − domains covered. */
  spreadMisses = 0;
  private readonly journal: Change[] = [];
  private openCheckpoints = 0;

  constructor(
    readonly layouts: readonly PoolLayout[],
    readonly replicas: readonly ReplicaSpec[],
    readonly modelCount: number,
  ) {
    const nodes = layouts
      .flatMap((layout) => layout.capacity.nodes.map((name) => ({ name, pool: layout.index })))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.pool - b.pool));
    this.nodeCount = nodes.length;
    this.nodeNames = nodes.map((n) => n.name);
    this.nodePool = Int32Array.from(nodes, (n) => n.pool);
    this.nodeGpus = Int32Array.from(nodes, (n) => layouts[n.pool]!.gpusPerNode);
    this.nodeGpuBase = new Int32Array(this.nodeCount);
    let gpus = 0;
    for (let n = 0; n < this.nodeCount; n++) {
      this.nodeGpuBase[n] = gpus;
      gpus += this.nodeGpus[n]!;
    }
    this.gpuCount = gpus;
    this.gpuPrev = new Int16Array(gpus).fill(-1);
    this.gpuProfile = new Int16Array(gpus).fill(-1);
    this.gpuUsed = new Int16Array(gpus);
    this.slots = new Int32Array(gpus * MAX_PARTITIONS).fill(-1);
    this.nodeMode = new Int16Array(this.nodeCount).fill(NODE_EMPTY);
    this.nodeUsedGpus = new Int32Array(this.nodeCount);
    this.nodeRanks = new Int32Array(this.nodeCount);
    this.nodeReplicas = new Int32Array(this.nodeCount);
    this.nodePriorityCount = new Int32Array(this.nodeCount * 4);
    this.nodeModelCount = new Uint16Array(this.nodeCount * Math.max(1, modelCount));
    this.openByShape = layouts.map((l) => new Int32Array(l.shapes.length));
    this.poolUsedGpus = new Int32Array(layouts.length);
    this.replicaNode = new Int32Array(replicas.length).fill(-1);
    this.replicaSlots = new Int32Array(replicas.length * MAX_PARTITIONS).fill(-1);
    this.replicaPinned = new Uint8Array(replicas.length);
    this.spread = spreadTables(layouts, replicas, modelCount, this.nodeNames, this.nodePool);
    this.modelPlaced = new Int32Array(Math.max(1, modelCount));
    this.modelCovered = new Int32Array(Math.max(1, modelCount));
  }

  /** Opens a checkpoint: every change from here on can be undone with `rollback`. */
  checkpoint(): Checkpoint {
    this.openCheckpoints++;
    return { at: this.journal.length };
  }

  /** Undoes every change since `cp` (placements taken off, removals put back where they were). */
  rollback(cp: Checkpoint): void {
    while (this.journal.length > cp.at) {
      const change = this.journal.pop()!;
      if (change.placed) this.removeQuietly(change.r);
      else {
        this.placeQuietly(change.r, change.node, change.profile, change.slots);
        this.replicaPinned[change.r] = change.pinned;
      }
    }
    this.removals = ++this.stamp;
    this.close();
  }

  /** Keeps every change since `cp`. */
  commit(_cp: Checkpoint): void {
    this.close();
  }

  private close(): void {
    if (--this.openCheckpoints === 0) this.journal.length = 0;
  }

  /** Spread missed by placing a replica of `model` on `node` now: 1 when it shares a domain while one is free. */
  spreadMiss(model: number, node: number): number {
    const table = this.spread[model];
    if (!table || this.modelCovered[model]! >= table.wanted) return 0;
    const d = table.domainOf[node]!;
    return d >= 0 && table.count[d]! > 0 ? 1 : 0;
  }

  /** Keeps the spread counts of `model` up to date as a replica lands on or leaves `node`. */
  private countSpread(model: number, node: number, delta: 1 | -1): void {
    const table = this.spread[model];
    if (!table) {
      this.modelPlaced[model]! += delta;
      return;
    }
    const before = this.missesOf(model, table);
    this.modelPlaced[model]! += delta;
    const d = table.domainOf[node]!;
    if (d >= 0) {
      if (delta > 0 && table.count[d]! === 0) this.modelCovered[model]!++;
      table.count[d]! += delta;
      if (delta < 0 && table.count[d]! === 0) this.modelCovered[model]!--;
    }
    this.spreadMisses += this.missesOf(model, table) - before;
  }

  private missesOf(model: number, table: SpreadTable): number {
    return Math.max(0, Math.min(this.modelPlaced[model]!, table.wanted) - this.modelCovered[model]!);
  }

  layoutOf(node: number): PoolLayout {
    return this.layouts[this.nodePool[node]!]!;
  }

  partitionsOf(gpu: number): number {
    const profile = this.gpuProfile[gpu]!;
    return profile < 0 ? 0 : this.layouts[this.nodePool[this.gpuNodeOf(gpu)]!]!.profiles[profile]!.partitionsPerGpu;
  }

  gpuNodeOf(gpu: number): number {
    // Binary search over node GPU bases: nodes are few, GPUs are many.
    let lo = 0;
    let hi = this.nodeCount - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.nodeGpuBase[mid]! <= gpu) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Puts replica `r` on `node`: its GPUs of `gpus` (in order) get `profile` and their free
   * partitions in index order, until `tensorParallel` partitions are taken. On an empty node of a
   * pool that cannot mix, every GPU takes the profile.
   */
  place(r: number, node: number, profile: number, gpus: readonly number[]): void {
    this.placeByGpus(r, node, profile, gpus);
    if (this.openCheckpoints > 0) this.journal.push({ placed: true, r });
  }

  private placeByGpus(r: number, node: number, profile: number, gpus: readonly number[]): void {
    const replica = this.replicas[r]!;
    const layout = this.layoutOf(node);
    const partitions = layout.profiles[profile]!.partitionsPerGpu;
    const base = this.nodeGpuBase[node]!;
    if (this.nodeMode[node] === NODE_EMPTY) {
      const mixed = layout.profileMixable[profile]!;
      this.nodeMode[node] = mixed ? NODE_MIXED : profile;
      if (!mixed) for (let g = 0; g < this.nodeGpus[node]!; g++) this.gpuProfile[base + g] = profile;
      if (!mixed) this.openByShape[layout.index]![layout.profileShape[profile]!]!++;
      this.usedNodes++;
    }
    let need = replica.tensorParallel;
    let k = 0;
    for (const gpu of gpus) {
      if (need === 0) break;
      if (this.gpuUsed[gpu] === 0) {
        this.gpuProfile[gpu] = profile;
        this.nodeUsedGpus[node]!++;
        this.poolUsedGpus[layout.index]!++;
        this.usedGpus++;
      }
      for (let p = 0; p < partitions && need > 0; p++) {
        const slot = gpu * MAX_PARTITIONS + p;
        if (this.slots[slot] !== -1) continue;
        this.slots[slot] = r;
        this.replicaSlots[r * MAX_PARTITIONS + k++] = slot;
        this.gpuUsed[gpu]!++;
        need--;
      }
    }
    if (need > 0) throw new Error(`planner: replica ${replica.id} does not fit node ${this.nodeNames[node]}`);
    this.nodeRanks[node]! += replica.tensorParallel;
    this.replicaNode[r] = node;
    this.nodeReplicas[node]!++;
    this.nodePriorityCount[node * 4 + replica.priority]!++;
    this.nodeModelCount[node * this.modelCount + replica.model]!++;
    this.countSpread(replica.model, node, 1);
  }

  /** Puts replica `r` into exactly these slots of GPUs with `profile` (a kept placement or an undo). */
  placeAt(r: number, node: number, profile: number, slots: readonly number[]): void {
    this.placeQuietly(r, node, profile, slots);
    if (this.openCheckpoints > 0) this.journal.push({ placed: true, r });
  }

  private placeQuietly(r: number, node: number, profile: number, slots: readonly number[]): void {
    const replica = this.replicas[r]!;
    const layout = this.layoutOf(node);
    if (this.nodeMode[node] === NODE_EMPTY) {
      const mixed = layout.profileMixable[profile]!;
      this.nodeMode[node] = mixed ? NODE_MIXED : profile;
      if (!mixed) {
        const base = this.nodeGpuBase[node]!;
        for (let g = 0; g < this.nodeGpus[node]!; g++) this.gpuProfile[base + g] = profile;
        this.openByShape[layout.index]![layout.profileShape[profile]!]!++;
      }
      this.usedNodes++;
    }
    slots.forEach((slot, k) => {
      const gpu = Math.floor(slot / MAX_PARTITIONS);
      if (this.gpuUsed[gpu] === 0) {
        this.gpuProfile[gpu] = profile;
        this.nodeUsedGpus[node]!++;
        this.poolUsedGpus[layout.index]!++;
        this.usedGpus++;
      }
      this.gpuUsed[gpu]!++;
      this.slots[slot] = r;
      this.replicaSlots[r * MAX_PARTITIONS + k] = slot;
    });
    this.nodeRanks[node]! += replica.tensorParallel;
    this.replicaNode[r] = node;
    this.nodeReplicas[node]!++;
    this.nodePriorityCount[node * 4 + replica.priority]!++;
    this.nodeModelCount[node * this.modelCount + replica.model]!++;
    this.countSpread(replica.model, node, 1);
  }

  /** Takes replica `r` off its node and returns the slots it held. */
  remove(r: number): number[] {
    if (this.openCheckpoints === 0) return this.removeQuietly(r);
    const slots = this.slotsOf(r);
    const taken: TakenOff = {
      r,
      node: this.replicaNode[r]!,
      profile: this.gpuProfile[Math.floor(slots[0]! / MAX_PARTITIONS)]!,
      slots,
      pinned: this.replicaPinned[r]!,
    };
    this.removeQuietly(r);
    this.journal.push({ placed: false, ...taken });
    return slots;
  }

  private removeQuietly(r: number): number[] {
    const node = this.replicaNode[r]!;
    const replica = this.replicas[r]!;
    const held: number[] = [];
    for (let k = 0; k < replica.tensorParallel; k++) {
      const slot = this.replicaSlots[r * MAX_PARTITIONS + k]!;
      held.push(slot);
      this.replicaSlots[r * MAX_PARTITIONS + k] = -1;
      this.slots[slot] = -1;
      const gpu = Math.floor(slot / MAX_PARTITIONS);
      if (--this.gpuUsed[gpu]! === 0) {
        this.nodeUsedGpus[node]!--;
        this.poolUsedGpus[this.nodePool[node]!]!--;
        this.usedGpus--;
      }
    }
    this.nodeRanks[node]! -= replica.tensorParallel;
    this.replicaNode[r] = -1;
    this.replicaPinned[r] = 0;
    this.nodeReplicas[node]!--;
    this.nodePriorityCount[node * 4 + replica.priority]!--;
    this.nodeModelCount[node * this.modelCount + replica.model]!--;
    this.countSpread(replica.model, node, -1);
    if (this.nodeReplicas[node] === 0) {
      const mode = this.nodeMode[node]!;
      if (mode >= 0) {
        const layout = this.layoutOf(node);
        this.openByShape[layout.index]![layout.profileShape[mode]!]!--;
      }
      this.nodeMode[node] = NODE_EMPTY;
      const base = this.nodeGpuBase[node]!;
      for (let g = 0; g < this.nodeGpus[node]!; g++) this.gpuProfile[base + g] = this.gpuPrev[base + g]!;
      this.usedNodes--;
    }
    this.removals = ++this.stamp;
    return held;
  }

  /** Slots replica `r` holds, in order. */
  slotsOf(r: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.replicas[r]!.tensorParallel; k++) out.push(this.replicaSlots[r * MAX_PARTITIONS + k]!);
    return out;
  }

  /** Replicas on `node`, by slot order. */
  replicasOn(node: number): number[] {
    const out: number[] = [];
    const base = this.nodeGpuBase[node]!;
    for (let g = 0; g < this.nodeGpus[node]!; g++) {
      for (let p = 0; p < MAX_PARTITIONS; p++) {
        const r = this.slots[(base + g) * MAX_PARTITIONS + p]!;
        if (r >= 0 && !out.includes(r)) out.push(r);
      }
    }
    return out;
  }
}

/** The spread table of every model that asks for spread (from its first replica: all share the option). */
function spreadTables(
  layouts: readonly PoolLayout[],
  replicas: readonly ReplicaSpec[],
  modelCount: number,
  nodeNames: readonly string[],
  nodePool: Int32Array,
): (SpreadTable | null)[] {
  const out: (SpreadTable | null)[] = new Array<SpreadTable | null>(Math.max(1, modelCount)).fill(null);
  for (const replica of replicas) {
    if (replica.ordinal !== 0 || !replica.spread) continue;
    const key = replica.spread.topologyKey;
    const ids = new Map<string, number>();
    const domainOf = new Int32Array(nodeNames.length).fill(-1);
    for (let n = 0; n < nodeNames.length; n++) {
      const pool = nodePool[n]!;
      const range = replica.ranges[pool]!;
      if (range.lo > range.hi) continue;
      // A pool without the label is a domain of its own (validation reports it).
      const capacity = layouts[pool]!.capacity;
      const domain = key === HOSTNAME_TOPOLOGY_KEY ? `node:${nodeNames[n]}` : capacity.labels?.[key] !== undefined ? `value:${capacity.labels[key]}` : `pool:${capacity.name}`;
      if (!ids.has(domain)) ids.set(domain, ids.size);
      domainOf[n] = ids.get(domain)!;
    }
    out[replica.model] = { domainOf, count: new Int32Array(ids.size), wanted: Math.min(ids.size, replica.spread.maxDomains ?? Infinity), hard: replica.spread.hard };
  }
  return out;
}
