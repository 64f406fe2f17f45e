import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planExact } from '../../planner/exact.ts';
import { planHeuristic } from '../../planner/heuristic.ts';
import type { PlanInput } from '../../planner/heuristic.ts';
import { PRIORITIES } from '../../api/types.ts';
import { demand, input, options, pool } from './fixtures.ts';
import { capacityViolations } from './invariants.ts';

/** Replicas some option of their model fits: what a full placement places. */
function placeable(plan: ReturnType<typeof planHeuristic>): number {
  return plan.summary.replicas - plan.unschedulable.filter((u) => u.reason.startsWith('never')).length;
}

/**
 * Tight fleets where the degree matters: one pool of one or two 4- or 8-GPU nodes offering whole
 * GPUs and small partitions, and models of 10–150 GiB of weights that may run at any degree (or
 * one fixed degree), demand close to the fleet.
 */
const tightArb: fc.Arbitrary<PlanInput> = fc
  .record({
    nodes: fc.integer({ min: 1, max: 2 }),
    gpusPerNode: fc.constantFrom(4, 8),
    profiles: fc.constantFrom(['SPX-NPS1', 'CPX-NPS4'] as const, ['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS4'] as const, ['SPX-NPS1', 'QPX-NPS4', 'CPX-NPS4'] as const),
    models: fc.array(
      fc.record({
        replicas: fc.integer({ min: 1, max: 6 }),
        weights: fc.constantFrom(10, 18, 24, 40, 60, 90, 150),
        fixed: fc.option(fc.constantFrom(1, 2, 4, 8), { nil: undefined, freq: 4 }),
        priority: fc.constantFrom(...PRIORITIES),
      }),
      { minLength: 1, maxLength: 5 },
    ),
    headroomPercent: fc.constantFrom(0, 5),
  })
  .map(({ nodes, gpusPerNode, profiles, models, headroomPercent }) =>
    input(
      [pool('mi300x', Array.from({ length: nodes }, (_, n) => `n${n}`), [...profiles], { gpusPerNode })],
      models.map((m, i) => demand(`m${i}`, m.replicas, options('bf16', m.weights, m.fixed ? [m.fixed] : [1, 2, 4, 8]), { priority: m.priority })),
      { headroomPercent },
    ),
  );

describe('degree choice against the exact optimizer', () => {
  it('places every replica whenever HiGHS proves a placement of every replica exists', async () => {
    const cases = fc.sample(tightArb, { seed: 12, numRuns: 40 });
    let full = 0;
    let provenShort = 0;
    for (const problem of cases) {
      const heuristic = planHeuristic(problem);
      expect(capacityViolations(heuristic, problem)).toEqual([]);
      const all = placeable(heuristic);
      if (heuristic.summary.placed === all) {
        full++;
        continue;
      }
      // The heuristic left replicas out: HiGHS must prove that no plan places them all.
      const exact = await planExact(problem, 10, { minimizeNodes: false });
      expect(exact.status).toBe('optimal');
      expect(capacityViolations(exact.plan!, problem)).toEqual([]);
      expect(exact.plan!.summary.placed, JSON.stringify(problem)).toBeLessThan(all);
      provenShort++;
    }
    // The sample holds both kinds of fleet: ones everything fits and over-full ones HiGHS must judge.
    expect(full).toBeGreaterThanOrEqual(10);
    expect(provenShort).toBeGreaterThanOrEqual(10);
  }, 300_000);
});

describe('planHeuristic: tensor-parallel degree', () => {
  const fleet = (nodes: string[], gpusPerNode = 8) => pool('mi300x', nodes, ['SPX-NPS1', 'CPX-NPS4'], { gpusPerNode });

  it('trades a higher degree for small partitions to share GPUs with small models', () => {
    // 150 GiB: one whole GPU at degree 1, or eight 24 GiB partitions at degree 8 (19 GiB a rank).
    const plan = planHeuristic(input([fleet(['n1'], 4)], [demand('big', 2, options('bf16', 135)), demand('small', 12, options('bf16', 15))]));
    expect(plan.unschedulable).toEqual([]);
    expect(plan.replicas.filter((r) => r.model === 'big').map((r) => r.tensorParallel)).toEqual([8, 8]);
    expect(plan.summary.gpusUsed).toBe(4); // 16 + 12 ranks of 24 GiB; at degree 1 the node needed SPX and 2 + 12 GPUs
  });

  it('runs a 23 GiB model at degree 2 on 24 GiB partitions instead of a whole GPU', () => {
    const plan = planHeuristic(input([fleet(['n1', 'n2'])], [demand('qwen3-8b', 30, options('bf16', 19, [1, 2, 4, 8], 4))]));
    expect(plan.unschedulable).toEqual([]);
    expect(plan.models[0]).toMatchObject({ name: 'qwen3-8b', tensorParallel: 2 });
    expect(plan.summary.gpusUsed).toBe(8); // 60 ranks of 24 GiB
  });

  it('keeps the lowest degree among choices that cost the same GPUs and nodes', () => {
    // Alone, degree 8 on CPX and degree 1 on SPX both take one GPU: degree 1 wins.
    const plan = planHeuristic(input([fleet(['n1'])], [demand('big', 1, options('bf16', 135))]));
    expect(plan.replicas[0]).toMatchObject({ tensorParallel: 1 });
    expect(plan.models[0]!.tensorParallelReason).toContain('lowest degree');
    expect(plan.summary.gpusUsed).toBe(1);
  });

  it('respects an explicit degree', () => {
    const plan = planHeuristic(input([fleet(['n1'])], [demand('pinned', 2, options('bf16', 135, [4]))]));
    expect(plan.replicas.map((r) => r.tensorParallel)).toEqual([4, 4]);
    expect(plan.models[0]!.tensorParallelReason).toBe('4: set by spec.tensorParallel');
  });

  it('moves a model to finer partitions when its whole-GPU rank would hold a node that a wider model needs', () => {
    // Found by the bench (mi300x-tight, seed 5; HiGHS places all 29): a 79 GiB 70B rank at degree 1
    // made a ninth node SPX for one GPU, leaving the eighth 405B replica (8 × 100.8 GiB) no node.
    // At degree 8 the 70B shares the CPX node with the small models.
    const at = (precision: 'bf16' | 'fp8' | 'int4', sizes: Record<number, number>) =>
      Object.entries(sizes).map(([tp, gib]) => ({ precision, tensorParallel: Number(tp), memoryGiBPerPartition: gib }));
    const nodes = Array.from({ length: 9 }, (_, n) => `n${n}`);
    const problem = input(
      [pool('mi300x', nodes, ['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS4'])],
      [
        demand('qwen-32b', 8, at('fp8', { 4: 12 }), { priority: 'high' }),
        demand('qwen-32b-long', 1, at('fp8', { 4: 14 })),
        demand('mistral-24b', 1, at('bf16', { 1: 47.3, 2: 24.7, 4: 13.4, 8: 7.7 })),
        demand('llama-405b', 8, at('bf16', { 8: 100.8 }), { priority: 'high' }),
        demand('llama-8b', 6, at('int4', { 1: 13.8, 2: 7.8, 4: 4.7, 8: 3.2 })),
        demand('qwen-1-5b', 1, at('fp8', { 1: 4.7, 2: 3.1, 4: 2.3, 8: 1.9 }), { priority: 'low' }),
        demand('mistral-7b', 1, at('int4', { 1: 9.4, 2: 5.5, 4: 3.6, 8: 2.7 }), { priority: 'low' }),
        demand('qwen-0-5b', 1, at('fp8', { 1: 2.2, 2: 1.8, 4: 1.7, 8: 1.6 })),
        demand('llama-8b-long', 1, at('int4', { 1: 21.8, 2: 11.8, 4: 6.7, 8: 4.2 })),
        demand('llama-70b', 1, at('fp8', { 1: 79, 2: 41.1, 4: 22.2, 8: 12.7 }), { priority: 'high' }),
      ],
    );
    const plan = planHeuristic(problem);
    expect(plan.unschedulable).toEqual([]);
    expect(capacityViolations(plan, problem)).toEqual([]);
    expect(plan.replicas.find((r) => r.model === 'llama-70b')!.tensorParallel).toBe(8);
  });

  it('reports a lower bound valid under degree choice', () => {
    const problem = input([fleet(['n1'], 4)], [demand('big', 2, options('bf16', 135)), demand('small', 12, options('bf16', 15))]);
    expect(planHeuristic(problem).summary.lowerBound).toBe(4); // ⌈(2 × 1 + 12 / 8)⌉
  });
});

describe('planHeuristic: spread', () => {
  const spread = (hard = false, maxDomains?: number) => ({ spread: { topologyKey: 'kubernetes.io/hostname', hard, ...(maxDomains && { maxDomains }) } });
  const fleet = pool('mi300x', ['n1', 'n2', 'n3'], ['SPX-NPS1', 'CPX-NPS4']);

  it('puts the replicas of a spreading model on distinct nodes even when that costs GPUs', () => {
    const problem = input([fleet], [demand('m', 3, options('bf16', 15, [1]), spread())]);
    const plan = planHeuristic(problem);
    expect(new Set(plan.replicas.map((r) => r.node)).size).toBe(3);
    expect(plan.summary.gpusUsed).toBe(3);
    expect(plan.summary.spreadGpus).toBe(2);
    expect(plan.models[0]!.spread).toEqual({ topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', domains: 3, wanted: 3 });
    expect(capacityViolations(plan, problem)).toEqual([]);
  });

  it('spans two nodes by default and packs the rest', () => {
    const plan = planHeuristic(input([fleet], [demand('m', 6, options('bf16', 15, [1]), spread(false, 2))]));
    expect(new Set(plan.replicas.map((r) => r.node)).size).toBe(2);
    expect(plan.summary.gpusUsed).toBe(2);
  });

  it('spreads by a pool label: one domain per value', () => {
    const racks = [pool('a', ['a1', 'a2'], ['CPX-NPS4'], { labels: { rack: 'r1' } }), pool('b', ['b1'], ['CPX-NPS4'], { labels: { rack: 'r2' } })];
    const plan = planHeuristic(input(racks, [demand('m', 2, options('bf16', 15, [1]), { pools: ['a', 'b'], spread: { topologyKey: 'rack', hard: true } })]));
    expect(plan.replicas.map((r) => r.node).sort()).toEqual(['a1', 'b1']);
  });

  it('leaves a replica out under DoNotSchedule rather than share a node while another is free, and shares under ScheduleAnyway', () => {
    // n2 is a domain m may use, but a critical filler holds its only GPU.
    const pools = [pool('a', ['n1'], ['SPX-NPS1'], { gpusPerNode: 2 }), pool('b', ['n2'], ['SPX-NPS1'], { gpusPerNode: 1 })];
    const filler = demand('filler', 1, options('bf16', 100, [1]), { pools: ['b'], priority: 'critical' });
    const m = (hard: boolean) => demand('m', 2, options('bf16', 100, [1]), { pools: ['a', 'b'], ...spread(hard) });
    const hard = planHeuristic(input(pools, [filler, m(true)]));
    expect(hard.replicas.map((r) => `${r.id}@${r.node}`).sort()).toEqual(['filler#0@n2', 'm#0@n1']);
    expect(hard.unschedulable.map((u) => u.id)).toEqual(['m#1']);
    const soft = planHeuristic(input(pools, [filler, m(false)]));
    expect(soft.summary.placed).toBe(3);
    expect(soft.models.find((x) => x.name === 'm')!.spread).toMatchObject({ domains: 1, wanted: 2 });
  });
});
