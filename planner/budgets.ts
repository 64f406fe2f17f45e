import type { PoolLayout } from './capacity.ts';

/**
 * How many nodes of each shape a fresh pool should open. Ranks are counted per size class (the
 * finest shape a rank fits); the simulation pours them, coarsest class first, into free slots of
 * GPUs already in use, then nodes of their own shape, then free GPUs of coarser nodes — the same
 * order the placement engine follows — on pooled counts, so trying a budget costs microseconds.
 * When the pool has fewer nodes than the unconstrained mix wants, budgets shrink one node at a
 * time, each time taking the node whose loss strands the fewest ranks, then costs the fewest GPUs.
 */

interface Outcome {
  readonly open: number[];
  readonly gpus: number;
  readonly unplaced: number;
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

function simulate(layout: PoolLayout, ranksByClass: readonly number[], budget: readonly number[], nodes: number): Outcome {
  const G = layout.gpusPerNode;
  const P = layout.shapes.map((s) => s.partitionsPerGpu);
  const S = P.length;
  return pour(0, new Array<number>(S).fill(0), new Array<number>(S).fill(0), 0);

  /**
   * Pours classes c.. into the pool. Where a class's last ranks could open one more node of
   * their own shape or spill onto coarser free GPUs, both are tried to the end: the spare
   * partitions a new node leaves may save a GPU of a finer class later.
   */
  function pour(c: number, used: number[], open: number[], unplaced: number): Outcome {
    if (c === S) {
      let gpus = 0;
      for (let s = 0; s < S; s++) gpus += Math.ceil(used[s]! / P[s]!);
      return { open, gpus, unplaced };
    }
    let R = ranksByClass[c] ?? 0;
    if (R === 0) return pour(c + 1, used, open, unplaced);
    used = [...used];
    open = [...open];
    const totalOpen = () => open.reduce((a, b) => a + b, 0);
    for (let s = c; s >= 0 && R > 0; s--) {
      const take = Math.min(R, Math.ceil(used[s]! / P[s]!) * P[s]! - used[s]!);
      used[s]! += take;
      R -= take;
    }
    const ownFree = Math.min(R, open[c]! * G * P[c]! - used[c]!);
    used[c]! += ownFree;
    R -= ownFree;
    const nodeRanks = G * P[c]!;
    const full = Math.max(0, Math.min(Math.floor(R / nodeRanks), budget[c]! - open[c]!, nodes - totalOpen()));
    open[c]! += full;
    const take = Math.min(R, full * nodeRanks);
    used[c]! += take;
    R -= take;
    const spill = (u: number[], o: number[], rest: number) => {
      u = [...u];
      for (let s = c - 1; s >= 0 && rest > 0; s--) {
        const t = Math.min(rest, o[s]! * G * P[s]! - u[s]!);
        u[s]! += t;
        rest -= t;
      }
      return pour(c + 1, u, o, unplaced + rest);
    };
    const withoutNode = spill(used, open, R);
    if (R === 0 || open[c]! >= budget[c]! || totalOpen() >= nodes) return withoutNode;
    const extraOpen = [...open];
    extraOpen[c]!++;
    const extraUsed = [...used];
    const rest = Math.min(R, nodeRanks);
    extraUsed[c]! += rest;
    const withNode = spill(extraUsed, extraOpen, R - rest);
    return better(withNode, withoutNode) ? withNode : withoutNode;
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
