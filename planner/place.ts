import { FleetState, NODE_EMPTY, NODE_MIXED } from './fleet.ts';

/**
 * The placement engine: puts one replica on the best node by a fixed order of preferences.
 *
 * 1. No profile change on a node the previous plan had (repartitioning evicts every pod on it).
 * 2. Spread: a topology domain the model does not use yet, while there is one (a model asking
 *    DoNotSchedule never shares a domain then).
 * 3. The cheapest tier: free partitions of GPUs already in use (no new GPU) → new GPUs of the
 *    replica's own size class on an open node → a new node of its own class (within the shape
 *    budget) → new GPUs of a coarser open node → a new node of a coarser class (within budget)
 *    → any new node, budget or not. Free partitions of GPUs in use in another pool than the
 *    replica's preferred one come after its own pool's open nodes, before opening nodes; other
 *    options in another pool come last (what is free there may be what that pool's own
 *    replicas need).
 * 4. Fewest new GPUs; then, in free partitions of GPUs in use, a node without a replica of the
 *    same model (soft anti-affinity) before the tightest partition size, and for new GPUs the
 *    finest shape before anti-affinity; then the fullest node; then node order.
 */

/** Where a replica's ranks would go, cheapest first. */
export const Tier = {
  /** Free partitions of GPUs already in use: no new GPU. */
  FreePartitions: 0,
  /** New GPUs of the replica's own size class on an open node. */
  OpenNodeOwnShape: 1,
  /** A new node of its own class, within the shape budget. */
  NewNodeOwnShape: 2,
  /** New GPUs of a coarser open node. */
  OpenNodeCoarser: 3,
  /** A new node of a coarser class, within the budget. */
  NewNodeCoarser: 4,
  /** Any new node, budget or not. */
  NewNodeOverBudget: 5,
} as const;
export type Tier = (typeof Tier)[keyof typeof Tier];

/**
 * The rung of a tier: in the replica's preferred pool the tiers in order, with free partitions of
 * another pool's GPUs slotted after its own open nodes (rung 2, before opening nodes); any other
 * option in another pool after everything in its own (what is free there may be what that pool's
 * own replicas need).
 */
function rungOf(tier: Tier, outside: boolean): number {
  if (outside) return tier === Tier.FreePartitions ? 2 : tier + 7;
  return tier <= Tier.OpenNodeOwnShape ? tier : tier + 1;
}

/** The parts of a placement's score, most significant first; lower is better in each. */
interface Score {
  /** 1 when a GPU the previous plan partitioned changes profile. */
  readonly change: number;
  /** 1 when the replica shares a topology domain with its model while another is free. */
  readonly spreadMiss: number;
  readonly rung: number;
  readonly newGpus: number;
  /** Shape and anti-affinity order within a rung (see `offer`). */
  readonly order: number;
  /** Partitions left free on the node (fullest node first); capped. */
  readonly free: number;
}

/** How many values each part of a score takes: the radices of one number ordering scores lexicographically. */
const SCORE_RADIX = { spreadMiss: 2, rung: 16, newGpus: 100, order: 32, free: 10000 } as const;

/** A score as one number (allocation-free comparison in the hot loop), lexicographic in its parts. */
function scoreKey(s: Score): number {
  const R = SCORE_RADIX;
  let key = s.change;
  key = key * R.spreadMiss + s.spreadMiss;
  key = key * R.rung + s.rung;
  key = key * R.newGpus + s.newGpus;
  key = key * R.order + s.order;
  return key * R.free + Math.min(s.free, R.free - 1);
}

export interface PlaceOptions {
  /** Nodes per pool and shape a fresh plan may open before overflowing; null = no budget. */
  readonly budgets: readonly (Int32Array | null)[];
  /** Per replica, the pool it should go to; other pools only take it for free partitions or as overflow. */
  readonly preferredPool: Int32Array;
  /** May open empty nodes (improvement passes only move replicas into open ones). */
  readonly allowOpen: boolean;
  /** A node the replica must not go to (the one an improvement pass is emptying). */
  readonly excludeNode: number;
  /** May change a profile the previous plan gave (improvement passes may not). @default true */
  readonly allowChange?: boolean;
  /** Only free partitions of GPUs already in use (an improvement pass emptying a GPU). @default false */
  readonly freeSlotsOnly?: boolean;
}

export interface Placement {
  readonly node: number;
  readonly profile: number;
  readonly gpus: number[];
  readonly key: number;
}

/** Nodes grouped by what makes two empty nodes interchangeable: pool and previous profiles. */
export class EmptyNodeClasses {
  readonly classOf: Int32Array;
  private readonly stamp: Int32Array;
  private current = 0;

  constructor(state: FleetState) {
    const ids = new Map<string, number>();
    this.classOf = new Int32Array(state.nodeCount);
    if (state.gpuPrev.every((p) => p < 0)) {
      // Nothing carried over: empty nodes of a pool are all alike.
      for (let n = 0; n < state.nodeCount; n++) this.classOf[n] = state.nodePool[n]!;
      this.stamp = new Int32Array(state.layouts.length);
      return;
    }
    for (let n = 0; n < state.nodeCount; n++) {
      const base = state.nodeGpuBase[n]!;
      const prev = Array.from(state.gpuPrev.subarray(base, base + state.nodeGpus[n]!)).join(',');
      const key = `${state.nodePool[n]}:${prev}`;
      if (!ids.has(key)) ids.set(key, ids.size);
      this.classOf[n] = ids.get(key)!;
    }
    this.stamp = new Int32Array(ids.size);
  }

  /** Starts a scan: every class is unseen again. */
  next(): void {
    this.current++;
  }

  /** True the first time a node of this class is seen in the current scan. */
  firstOfClass(node: number): boolean {
    const c = this.classOf[node]!;
    if (this.stamp[c] === this.current) return false;
    this.stamp[c] = this.current;
    return true;
  }
}

export class Placer {
  readonly empties: EmptyNodeClasses;
  /** fitKey → `removals` count at which placement last failed. */
  private readonly failedAt = new Map<number, number>();

  constructor(
    readonly state: FleetState,
    readonly options: PlaceOptions,
  ) {
    this.empties = new EmptyNodeClasses(state);
  }

  /** Places replica `r` where the preferences say; false when it fits nowhere. */
  place(r: number, options: PlaceOptions = this.options): boolean {
    const replica = this.state.replicas[r]!;
    const cacheable = options === this.options;
    if (cacheable && this.failedAt.get(replica.fitKey) === this.state.removals) return false;
    const best = this.best(r, options);
    if (!best) {
      if (cacheable) this.failedAt.set(replica.fitKey, this.state.removals);
      return false;
    }
    this.state.place(r, best.node, best.profile, best.gpus);
    return true;
  }

  best(r: number, options: PlaceOptions = this.options): Placement | undefined {
    const { state } = this;
    const replica = state.replicas[r]!;
    this.empties.next();
    let bestKey = Infinity;
    let bestNode = -1;
    let bestProfile = -1;
    for (let n = 0; n < state.nodeCount; n++) {
      if (n === options.excludeNode) continue;
      const range = replica.ranges[state.nodePool[n]!]!;
      if (range.lo > range.hi) continue;
      const mode = state.nodeMode[n]!;
      if (mode === NODE_EMPTY && (!options.allowOpen || !this.empties.firstOfClass(n))) continue;
      // A locked node with too few free partitions: skip without scoring.
      if (mode >= 0 && state.nodeGpus[n]! * state.layoutOf(n).profiles[mode]!.partitionsPerGpu - state.nodeRanks[n]! < replica.tensorParallel) continue;
      if (this.score(r, n, options, bestKey) < bestKey) {
        bestKey = this.scoredKey;
        bestNode = n;
        bestProfile = this.scoredProfile;
      }
    }
    return bestNode < 0 ? undefined : { node: bestNode, profile: bestProfile, gpus: this.gpuOrder(bestNode, bestProfile), key: bestKey };
  }

  /** The best way to put `r` on node `n`, if any. */
  evaluate(r: number, n: number, options: PlaceOptions): Placement | undefined {
    const key = this.score(r, n, options, Infinity);
    return key === Infinity ? undefined : { node: n, profile: this.scoredProfile, gpus: this.gpuOrder(n, this.scoredProfile), key };
  }

  /** Key of the best option below `bound` from the last `score`, and its profile. */
  private scoredKey = Infinity;
  private scoredProfile = -1;

  /**
   * Scores the best way to put `r` on node `n` (lower is better; Infinity when it does not fit
   * or nothing beats `bound`), leaving the profile in `scoredProfile`. Allocation-free: it runs
   * for every node and every replica.
   */
  private score(r: number, n: number, options: PlaceOptions, bound: number): number {
    const { state } = this;
    const replica = state.replicas[r]!;
    const layout = state.layoutOf(n);
    const range = replica.ranges[layout.index]!;
    const mode = state.nodeMode[n]!;
    const t = replica.tensorParallel;
    const G = state.nodeGpus[n]!;
    const base = state.nodeGpuBase[n]!;
    const anti = state.nodeModelCount[n * state.modelCount + replica.model]! > 0 ? 1 : 0;
    const miss = state.spreadMiss(replica.model, n);
    if (miss && state.spread[replica.model]!.hard) return Infinity;
    this.miss = miss;
    const preferred = options.preferredPool[r]!;
    const outside = preferred >= 0 && preferred !== layout.index;
    this.scoredKey = bound;
    this.scoredProfile = -1;
    this.changeAllowed = options.allowChange !== false;
    this.freeSlotsOnly = options.freeSlotsOnly === true;

    if (mode >= 0) {
      const s = layout.profileShape[mode]!;
      if (s < range.lo || s > range.hi) return Infinity;
      const P = layout.profiles[mode]!.partitionsPerGpu;
      let partial = 0;
      for (let g = base; g < base + G; g++) if (state.gpuUsed[g]! > 0) partial += P - state.gpuUsed[g]!;
      const freeGpus = G - state.nodeUsedGpus[n]!;
      if (partial + freeGpus * P < t) return Infinity;
      const newGpus = t > partial ? Math.ceil((t - partial) / P) : 0;
      const tier = newGpus === 0 ? Tier.FreePartitions : s === range.hi ? Tier.OpenNodeOwnShape : Tier.OpenNodeCoarser;
      this.offer(mode, s, tier, outside, newGpus, 0, anti, partial + freeGpus * P - t);
      return this.scoredProfile < 0 ? Infinity : this.scoredKey;
    }

    if (mode === NODE_MIXED) {
      for (let s = range.lo; s <= range.hi; s++) {
        const q = layout.shapes[s]!.mixableProfile;
        if (q < 0) continue;
        const P = layout.profiles[q]!.partitionsPerGpu;
        let partial = 0;
        let freeGpus = 0;
        let unchangedFree = 0;
        for (let g = base; g < base + G; g++) {
          const used = state.gpuUsed[g]!;
          if (used > 0) {
            if (state.gpuProfile[g] === q) partial += P - used;
          } else {
            freeGpus++;
            if (state.gpuPrev[g]! < 0 || state.gpuPrev[g] === q) unchangedFree++;
          }
        }
        if (partial + freeGpus * P < t) continue;
        const newGpus = t > partial ? Math.ceil((t - partial) / P) : 0;
        const tier = newGpus === 0 ? Tier.FreePartitions : s === range.hi ? Tier.OpenNodeOwnShape : Tier.OpenNodeCoarser;
        this.offer(q, s, tier, outside, newGpus, newGpus > unchangedFree ? 1 : 0, anti, partial + freeGpus * P - t);
      }
      return this.scoredProfile < 0 ? Infinity : this.scoredKey;
    }

    // An empty node: any shape it could take.
    const budget = options.budgets[layout.index];
    let prevUniform = state.gpuPrev[base]!;
    let prevAllMixable = true;
    let prevSet = false;
    for (let g = base; g < base + G; g++) {
      const prev = state.gpuPrev[g]!;
      if (prev !== prevUniform) prevUniform = -1;
      if (prev >= 0) {
        prevSet = true;
        if (!layout.profileMixable[prev]) prevAllMixable = false;
      }
    }
    for (let s = range.lo; s <= range.hi; s++) {
      const shape = layout.shapes[s]!;
      const P = shape.partitionsPerGpu;
      const newGpus = Math.ceil(t / P);
      const withinBudget = !budget || state.openByShape[layout.index]![s]! < budget[s]!;
      const tier = !withinBudget ? Tier.NewNodeOverBudget : s === range.hi ? Tier.NewNodeOwnShape : Tier.NewNodeCoarser;
      const free = G * P - t;
      const q = shape.mixableProfile;
      if (q >= 0) {
        let unchanged = 0;
        for (let g = base; g < base + G; g++) if (state.gpuPrev[g]! < 0 || state.gpuPrev[g] === q) unchanged++;
        this.offer(q, s, tier, outside, newGpus, prevSet && (!prevAllMixable || newGpus > unchanged) ? 1 : 0, anti, free);
      }
      const locked = prevUniform >= 0 && layout.profileShape[prevUniform] === s ? prevUniform : shape.profile;
      if (!layout.profileMixable[locked]) {
        this.offer(locked, s, tier, outside, newGpus, prevSet && prevUniform !== locked ? 1 : 0, anti, free);
      }
    }
    return this.scoredProfile < 0 ? Infinity : this.scoredKey;
  }

  private changeAllowed = true;
  private freeSlotsOnly = false;
  /** 1 when the node being scored is in a domain the replica's model already uses while another is free. */
  private miss = 0;

  private offer(profile: number, s: number, tier: Tier, outside: boolean, newGpus: number, change: number, anti: number, free: number): void {
    if ((change && !this.changeAllowed) || (newGpus > 0 && this.freeSlotsOnly)) return;
    // Free partitions of GPUs in use cost nothing, so spreading the model comes first there;
    // a new GPU is better spent on the finest shape, whose spare partitions take more later.
    const order = tier === Tier.FreePartitions ? anti * 16 + (15 - s) : (15 - s) * 2 + anti;
    const key = scoreKey({ change, spreadMiss: this.miss, rung: rungOf(tier, outside), newGpus, order, free });
    if (key < this.scoredKey) {
      this.scoredKey = key;
      this.scoredProfile = profile;
    }
  }

  /**
   * GPUs to fill, in order: GPUs of `profile` already in use, then free GPUs — on a mixed node
   * those whose previous profile is `profile` or none first, so no GPU changes that need not.
   */
  gpuOrder(n: number, profile: number): number[] {
    const { state } = this;
    const base = state.nodeGpuBase[n]!;
    const G = state.nodeGpus[n]!;
    const partial: number[] = [];
    const keep: number[] = [];
    const change: number[] = [];
    for (let g = base; g < base + G; g++) {
      if (state.gpuUsed[g]! > 0) {
        if (state.gpuProfile[g] === profile) partial.push(g);
      } else if (state.gpuPrev[g]! < 0 || state.gpuPrev[g] === profile) keep.push(g);
      else change.push(g);
    }
    return [...partial, ...keep, ...change];
  }
}
