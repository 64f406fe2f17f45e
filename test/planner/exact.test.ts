import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planExact } from '../../planner/exact.ts';
import { planHeuristic } from '../../planner/heuristic.ts';
import { planFleet } from '../../planner/plan.ts';
import { inputArb } from './arbitraries.ts';
import { demand, input, options, placements, pool } from './fixtures.ts';
import { capacityViolations } from './invariants.ts';

const HAND_PICKED = {
  'four 8B replicas on one node': input([pool('mi300x', ['n1'], ['SPX-NPS1', 'CPX-NPS4'])], ['a', 'b', 'c', 'd'].map((m) => demand(m, 1, options('bf16', 15)))),
  'whole-GPU and 24 GiB replicas on two nodes': input(
    [pool('mi300x', ['n1', 'n2'], ['SPX-NPS1', 'CPX-NPS4'])],
    [demand('small', 9, options('bf16', 15, [1])), demand('big', 3, options('bf16', 131.5, [1]))],
  ),
  'a tensor-parallel group among 96 GiB replicas': input(
    [pool('mi300x', ['n1', 'n2'], ['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS4'])],
    [demand('tp', 2, options('bf16', 150, [2])), demand('mid', 3, options('bf16', 60, [1])), demand('small', 5, options('bf16', 15, [1]))],
  ),
  'a mixed node': input(
    [pool('mi300x', ['n1'], ['SPX-NPS1', 'DPX-NPS1', 'CPX-NPS1'], { allowMixedProfiles: true })],
    [demand('big', 2, options('bf16', 131.5, [1])), demand('mid', 3, options('bf16', 60, [1])), demand('small', 10, options('bf16', 15, [1]))],
  ),
};

describe('planExact', () => {
  for (const [name, problem] of Object.entries(HAND_PICKED)) {
    it(`proves the heuristic optimal on ${name}`, async () => {
      const exact = await planExact(problem, 20);
      const heuristic = planHeuristic(problem);
      expect(exact.status).toBe('optimal');
      expect(exact.plan!.summary.gpusUsed).toBe(heuristic.summary.gpusUsed);
      expect(exact.plan!.summary.placed).toBe(heuristic.summary.placed);
      expect(capacityViolations(exact.plan!, problem)).toEqual([]);
    });
  }

  it('turns the solution into a plan with concrete partitions', async () => {
    const problem = HAND_PICKED['whole-GPU and 24 GiB replicas on two nodes'];
    const { plan } = await planExact(problem, 20);
    expect(plan!.summary).toMatchObject({ gpusUsed: 5, placed: 12, optimizer: 'exact' });
    expect(Object.keys(placements(plan!))).toHaveLength(12);
  });

  it('places as many replicas and stays within one GPU of the optimum on small generated fleets', async () => {
    const cases = fc.sample(inputArb, { seed: 7, numRuns: 12 });
    let compared = 0;
    for (const problem of cases) {
      const exact = await planExact(problem, 10, { minimizeNodes: false });
      if (exact.status !== 'optimal' || exact.gpus === undefined) continue;
      compared++;
      const heuristic = planHeuristic(problem);
      const exactPlaced = exact.plan?.summary.placed ?? heuristic.summary.placed;
      expect(heuristic.summary.placed).toBeLessThanOrEqual(exactPlaced);
      if (heuristic.summary.placed === exactPlaced) expect(heuristic.summary.gpusUsed).toBeLessThanOrEqual(exact.gpus + 1);
    }
    expect(compared).toBeGreaterThanOrEqual(10);
  });
});

describe('planFleet', () => {
  it('keeps the exact plan when it is as good as the heuristic one', async () => {
    const problem = HAND_PICKED['a mixed node'];
    const plan = await planFleet({ ...problem, optimizer: 'exact', timeLimitSeconds: 20 });
    expect(plan.summary.optimizer).toBe('exact');
    expect(capacityViolations(plan, problem)).toEqual([]);
  });

  it('returns the heuristic plan when asked for it', async () => {
    const problem = HAND_PICKED['four 8B replicas on one node'];
    const plan = await planFleet({ ...problem, optimizer: 'heuristic', timeLimitSeconds: 20 });
    expect(plan).toEqual(planHeuristic(problem));
  });
});
