import type { PoolLayout } from './capacity.ts';

/**
 * How many nodes of each shape a fresh pool should open. Ranks are counted per size class (the
 * finest shape a rank fits); the simulation pours them, coarsest class first, into free slots of
 * GPUs already in use, then nodes of their own shape, then free GPUs of coarser nodes — the same
 * order the placement engine follows — on pooled counts, so trying a budget costs microseconds.
 * When the pool has fewer nodes than the unconstrained mix wants, budgets shrink one node at a
 * time, each time taking the node whose loss strands the fewest ranks, then costs the fewest GPUs.
 */

export interface Outcome {
  /** Nodes opened per shape. */
  readonly open: number[];
  readonly gpus: number;
  /** Ranks that found no room. */
  readonly unplaced: number;
}

/** What a pool of `nodes` nodes, free to choose every node's shape, makes of these ranks. */
export function poolOutcome(layout: PoolLayout, ranksByClass: readonly number[], nodes: number): Outcome {
  return simulate(layout, ranksByClass, layout.shapes.map(() => Infinity), nodes);
}

export function shapeBudgets(layout: PoolLayout, ranksByClass: readonly number[], nodes: number): Int32Array {
  const unlimited = layout.shapes.map(() => Infinity);
  let budget = simulate(layout, ranksByClass, unlimited, Infinity).open;
  while (sum(budget) > nodes) {
    let best: Outcome | undefined;
    for (let s = 0; s < budget.length; s++) {
      if (budget[s]! === 0) continue;
      const trial = simulate(layout, ranksByClass, budget.map((b, i) => (i === s ? b - 1 : b)), Infinity);
      if (!best || better(trial, best)) best = trial;
    }
    budget = best!.open;
  }
  return Int32Array.from(budget);
}

function better(a: Outcome, b: Outcome): boolean {
  return a.unplaced !== b.unplaced ? a.unplaced < b.unplaced : a.gpus !== b.gpus ? a.gpus < b.gpus : sum(a.open) < sum(b.open);
}

/** The fixed inputs of one simulation. */
interface Pool {
  readonly G: number;
  readonly P: readonly number[];
  readonly ranksByClass: readonly number[];
  readonly budget: readonly number[];
  readonly nodes: number;
}

function simulate(layout: PoolLayout, ranksByClass: readonly number[], budget: readonly number[], nodes: number): Outcome {
  const P = layout.shapes.map((s) => s.partitionsPerGpu);
  const pool: Pool = { G: layout.gpusPerNode, P, ranksByClass, budget, nodes };
  return pour(pool, 0, new Array<number>(P.length).fill(0), new Array<number>(P.length).fill(0), 0);
}

/**
 * Pours classes c.. into the pool. Where a class's last ranks could open one more node of their
 * own shape or spill onto coarser free GPUs, both are tried to the end: the spare partitions a
 * new node leaves may save a GPU of a finer class later. (Plain functions, no closures: this
 * runs for every replica that may go to several pools.)
 */
function pour(pool: Pool, c: number, usedIn: readonly number[], openIn: readonly number[], unplaced: number): Outcome {
  const { G, P } = pool;
  const S = P.length;
  if (c === S) {
    let gpus = 0;
    for (let s = 0; s < S; s++) gpus += Math.ceil(usedIn[s]! / P[s]!);
    return { open: [...openIn], gpus, unplaced };
  }
  let R = pool.ranksByClass[c] ?? 0;
  if (R === 0) return pour(pool, c + 1, usedIn, openIn, unplaced);
  const used = [...usedIn];
  const open = [...openIn];
  for (let s = c; s >= 0 && R > 0; s--) {
    const take = Math.min(R, Math.ceil(used[s]! / P[s]!) * P[s]! - used[s]!);
    used[s]! += take;
    R -= take;
  }
  const ownFree = Math.min(R, open[c]! * G * P[c]! - used[c]!);
  used[c]! += ownFree;
  R -= ownFree;
  const nodeRanks = G * P[c]!;
  const full = Math.max(0, Math.min(Math.floor(R / nodeRanks), pool.budget[c]! - open[c]!, pool.nodes - sum(open)));
  open[c]! += full;
  const take = Math.min(R, full * nodeRanks);
  used[c]! += take;
  R -= take;
  const withoutNode = spill(pool, c, used, open, R, unplaced);
  if (R === 0 || open[c]! >= pool.budget[c]! || sum(open) >= pool.nodes) return withoutNode;
  open[c]!++;
  const rest = Math.min(R, nodeRanks);
  used[c]! += rest;
  const withNode = spill(pool, c, used, open, R - rest, unplaced);
  return better(withNode, withoutNode) ? withNode : withoutNode;
}

/** Puts `rest` ranks of class c on free GPUs of coarser open nodes, finest first, then pours on. */
function spill(pool: Pool, c: number, usedIn: readonly number[], open: readonly number[], rest: number, unplaced: number): Outcome {
  const used = [...usedIn];
  for (let s = c - 1; s >= 0 && rest > 0; s--) {
    const t = Math.min(rest, open[s]! * pool.G * pool.P[s]! - used[s]!);
    used[s]! += t;
    rest -= t;
  }
  return pour(pool, c + 1, used, open, unplaced + rest);
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
