import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planHeuristic } from '../../planner/heuristic.ts';
import { withRollouts } from '../../planner/rollout.ts';
import { type RolloutSimulation, simulateRollout } from '../../planner/rollout-sim.ts';
import type { Plan } from '../../planner/types.ts';
import { defaultBudgetPods } from '../support/budgets.ts';
import { demand, options, pool } from './fixtures.ts';
import { handPlan } from './rollout-fixtures.ts';

const MODELS = ['a', 'b', 'c', 'm0', 'm1', 'm2', 'm3', 'm4', 'm5'];
const INPUTS = new Map(MODELS.map((m) => [m, 'same-image']));

/** `base` as a compiler run committed it, then `next` planned against it, both with their rollouts. */
function transition(base: Plan, next: Plan): { base: Plan; next: Plan } {
  const committed = withRollouts(base, { servingInputs: INPUTS, minAvailable: defaultBudgetPods(base) });
  return { base: committed, next: withRollouts(next, { previous: committed, servingInputs: INPUTS, minAvailable: defaultBudgetPods(next) }) };
}

const run = ({ base, next }: { base: Plan; next: Plan }) => simulateRollout(base, next, defaultBudgetPods(next));

/**
 * Replicas whose serving stopped before a replacement ran where the plan promised otherwise: only a
 * recreated replica (a change in place, or one the plan names with the reason), a replica that stays
 * on a node being repartitioned (the drain evicts it, through its budget) or one whose node drained
 * after its move timeout may stop first, and replicas the next plan drops.
 */
function brokenPromises(base: Plan, next: Plan, outcome: RolloutSimulation): string[] {
  const after = new Map(next.replicas.map((r) => [r.id, r]));
  const before = new Map(base.replicas.map((r) => [r.id, r]));
  return [...outcome.gaps].flatMap(([id, how]) => {
    const r = after.get(id);
    if (!r) return [];
    if (how === 'deleted at sync' && r.rollout?.strategy === 'recreate') return [];
    const from = before.get(id)!.node;
    if (how === 'evicted by a drain' && (r.node === from || outcome.moveTimeouts.includes(from))) return [];
    return [`${id} (${r.rollout?.strategy}, ${how})`];
  });
}

describe('simulateRollout: the cluster model', () => {
  it('keeps a moved replica serving until its new pod runs, where recreating would stop it first', () => {
    const change = transition(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }), handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n2:0.0' }));
    const surged = run(change);
    expect(surged.completed).toBe(true);
    expect([...surged.gaps]).toEqual([]);
    // The same move with the old behaviour (Recreate everywhere): a gap, which the check reports.
    const recreated = { ...change.next, replicas: change.next.replicas.map((r) => ({ ...r, rollout: { ...r.rollout!, strategy: 'recreate' as const } })) };
    const outcome = simulateRollout(change.base, recreated, new Map());
    expect([...outcome.gaps]).toEqual([['a#0', 'deleted at sync']]);
    expect(brokenPromises(change.base, change.next, outcome)).toEqual(['a#0 (surge, deleted at sync)']);
  });

  it('resolves a chain of 40 moves across nodes from its free end, with no replica stopping first', () => {
    const at = (i: number) => `n${Math.floor(i / 16)}:${Math.floor((i % 16) / 8)}.${i % 8}`;
    const nodes = Object.fromEntries(Array.from({ length: 4 }, (_, k) => [`n${k}`, 'CPX-NPS4']));
    const ids = Array.from({ length: 40 }, (_, i) => `m${i}#0`);
    const change = transition(handPlan(nodes, Object.fromEntries(ids.map((id, i) => [id, at(i)]))), handPlan(nodes, Object.fromEntries(ids.map((id, i) => [id, at(i + 1)]))));
    expect(change.next.replicas.every((r) => r.rollout?.strategy === 'surge')).toBe(true);
    const outcome = run(change);
    expect(outcome.completed).toBe(true);
    expect([...outcome.gaps]).toEqual([]);
  });

  it('completes a swap, stopping only the replica the plan names; two surges would wait for each other for ever', () => {
    const change = transition(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' }), handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.1', 'b#0': 'n1:0.0' }));
    const outcome = run(change);
    expect(outcome.completed).toBe(true);
    expect([...outcome.gaps]).toEqual([['a#0', 'deleted at sync']]);
    const surging = { ...change.next, replicas: change.next.replicas.map((r) => ({ ...r, rollout: { ...r.rollout!, strategy: 'surge' as const } })) };
    expect(simulateRollout(change.base, surging, new Map()).completed).toBe(false);
  });

  it('drains a repartitioned node only once the replicas moving off it run at their destinations', () => {
    const change = transition(
      handPlan({ n1: 'DPX-NPS2', n2: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'a#1': 'n2:0.0', 'b#0': 'n1:0.1' }),
      handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n2:0.1', 'a#1': 'n2:0.0', 'b#0': 'n1:0.0' }),
    );
    const outcome = run(change);
    expect(outcome).toMatchObject({ completed: true, moveTimeouts: [], stalled: [] });
    // a#0 moved off before the drain; b#0 stays on n1 and is evicted by it.
    expect([...outcome.gaps]).toEqual([['b#0', 'evicted by a drain']]);
  });

  it('lets a node whose drain budgets hold give way, so that the node its model waits for goes first', () => {
    // m grows to two replicas: the new one is planned on n3, which is repartitioned too; n1 (first by
    // name) cannot evict m#0 (the budget keeps 1 of 2) until n3 is done.
    const change = transition(
      handPlan({ n1: 'DPX-NPS2', n3: 'SPX-NPS1' }, { 'm#0': 'n1:0.0' }),
      handPlan({ n1: 'CPX-NPS4', n3: 'DPX-NPS2' }, { 'm#0': 'n1:0.0', 'm#1': 'n3:0.0' }),
    );
    const outcome = run(change);
    expect(outcome).toMatchObject({ completed: true, stalled: [], moveTimeouts: [] });
    // Evicted only once m#1 runs on n3: the budget held until then.
    expect([...outcome.gaps]).toEqual([['m#0', 'evicted by a drain']]);
    expect(change.next.replicas.map((r) => r.rollout?.strategy)).toEqual(['surge', 'recreate']);
  });
});

describe('withRollouts: every plan change completes on the cluster model', () => {
  it('recreates at sync a replica whose drain its budget would hold for ever, and says why', () => {
    // n1 (repartitioned) holds m#0, which moves to b#0's partition on n2; m's new replica gets c#0's
    // on n3; b#0 and c#0 move onto n1. Every wait leads to n1's drain, which m's budget (1 of 2) holds.
    const nodes = (n1: string) => ({ n1, n2: 'CPX-NPS4', n3: 'CPX-NPS4' });
    const change = transition(
      handPlan(nodes('DPX-NPS2'), { 'm#0': 'n1:0.0', 'b#0': 'n2:0.0', 'c#0': 'n3:0.0' }),
      handPlan(nodes('CPX-NPS4'), { 'm#0': 'n2:0.0', 'm#1': 'n3:0.0', 'b#0': 'n1:0.1', 'c#0': 'n1:0.0' }),
    );
    const outcome = run(change);
    expect(outcome.completed).toBe(true);
    const recreated = change.next.replicas.filter((r) => r.rollout?.note?.includes('disruption budget'));
    expect(recreated.map((r) => r.id)).toEqual(['m#0']);
    expect(recreated[0]?.rollout?.note).toMatch(/the drain of n1 needs it gone/);
    expect(brokenPromises(change.base, change.next, outcome)).toEqual([]);
  });

  const pools = [pool('mi300x', ['n1', 'n2', 'n3'], ['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS4'], { gpusPerNode: 2 })];
  const plan = (demands: { replicas: number; weights: number }[], previous?: Plan) =>
    planHeuristic({ pools, demands: demands.map((d, i) => demand(`m${i}`, d.replicas, options('bf16', d.weights, [1, 2]))), headroomPercent: 5, previous });
  const demandsArb = fc.array(fc.record({ replicas: fc.integer({ min: 0, max: 6 }), weights: fc.constantFrom(8, 15, 30, 60, 140) }), { minLength: 6, maxLength: 6 });

  it('completes, breaking no promise, over 300 random plan changes on three MI300X nodes', () => {
    let moves = 0;
    let surges = 0;
    fc.assert(
      fc.property(demandsArb, demandsArb, (a, b) => {
        const base = withRollouts(plan(a), { servingInputs: INPUTS, minAvailable: new Map() });
        const { next } = transition(base, plan(b, base));
        const outcome = run({ base, next });
        const moved = next.replicas.filter((r) => base.replicas.some((o) => o.id === r.id && o.node !== r.node));
        moves += moved.length;
        surges += moved.filter((r) => r.rollout?.strategy === 'surge').length;
        expect(outcome.stalled).toEqual([]);
        expect(outcome.completed).toBe(true);
        expect(brokenPromises(base, next, outcome)).toEqual([]);
      }),
      { numRuns: 300, seed: 20261130 },
    );
    // The generator does exercise moves, and most of them surge.
    expect(moves).toBeGreaterThan(100);
    expect(surges).toBeGreaterThan(moves / 2);
  });
});

describe('withRollouts: a change it cannot check', () => {
  it('says so when more replicas surge than the check takes, and still decides each strategy', () => {
    const base = withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' }), { servingInputs: INPUTS, minAvailable: new Map() });
    const heard: string[] = [];
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n2:0.0', 'b#0': 'n2:0.1' }), {
      previous: base,
      servingInputs: INPUTS,
      minAvailable: new Map(),
      maxCheckedSurges: 1,
      onUnchecked: (why) => heard.push(why),
    });
    expect(heard).toEqual(['2 replicas move at once, more than the 1 the completion check takes']);
    expect(next.replicas.map((r) => r.rollout?.strategy)).toEqual(['surge', 'surge']);
    // Within the limit nothing is heard.
    const quiet: string[] = [];
    withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n2:0.0', 'b#0': 'n2:0.1' }), { previous: base, servingInputs: INPUTS, minAvailable: new Map(), onUnchecked: (why) => quiet.push(why) });
    expect(quiet).toEqual([]);
  });
});
