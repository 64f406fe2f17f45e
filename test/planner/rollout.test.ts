import { describe, expect, it } from 'vitest';
import { withRollouts } from '../../planner/rollout.ts';
import type { Plan } from '../../planner/types.ts';
import { handPlan } from './rollout-fixtures.ts';

/** Budgets do not enter these decisions: no model has one. */
const NO_BUDGETS = new Map<string, number>();
const SAME = new Map([
  ['a', 'image-1'],
  ['b', 'image-1'],
  ['c', 'image-1'],
]);

/** The base plan as a compiler run would have committed it (rollouts decided against nothing). */
function committed(plan: Plan): Plan {
  return withRollouts(plan, { servingInputs: SAME, minAvailable: NO_BUDGETS });
}

function strategies(plan: Plan): Record<string, string> {
  return Object.fromEntries(plan.replicas.map((r) => [r.id, r.rollout?.strategy ?? 'none']));
}

describe('withRollouts: how each replica is replaced', () => {
  it('recreates a replica with nothing before it (there is no old pod to keep)', () => {
    const plan = committed(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }));
    expect(strategies(plan)).toEqual({ 'a#0': 'recreate' });
    expect(plan.replicas[0]?.rollout?.inputs).toMatch(/^[0-9a-f]{16}$/);
  });

  it('surges a replica moved to another node: the new pod starts before the old one stops', () => {
    const base = committed(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }));
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n2:0.3' }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'surge' });
  });

  it('surges a replica moved to other partitions of its node when they are free', () => {
    const base = committed(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }));
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:1.0' }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'surge' });
  });

  it('recreates a change in place: a surge pod would wait for a spare partition for ever', () => {
    const base = committed(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' }));
    const image2 = new Map([...SAME, ['a', 'image-2']]);
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' }), { previous: base, servingInputs: image2, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'recreate', 'b#0': 'recreate' });
    expect(next.replicas[0]?.rollout?.inputs).not.toBe(base.replicas[0]?.rollout?.inputs);
    expect(next.replicas[1]?.rollout).toEqual(base.replicas[1]?.rollout);
  });

  it('recreates a replica whose sizing changes in place (other --gpu-memory-utilization)', () => {
    const base = committed(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }));
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }, { gpuMemoryUtilization: 0.85 }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'recreate' });
    expect(next.replicas[0]?.rollout?.inputs).not.toBe(base.replicas[0]?.rollout?.inputs);
  });

  it('surges every replica of a repartitioned node, even on the same partition indices (they wait for the new profile)', () => {
    const base = committed(handPlan({ n1: 'DPX-NPS2' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' }));
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'surge', 'b#0': 'surge' });
  });

  it('keeps a decided strategy while nothing the pod is made from changes, so a second run changes nothing', () => {
    const base = committed(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }));
    const moved = withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n2:0.0' }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    const again = withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n2:0.0' }), { previous: moved, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(again).toEqual(moved);
    const bumped = withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n2:0.0' }), {
      previous: moved,
      servingInputs: new Map([['a', 'image-2']]),
      minAvailable: NO_BUDGETS,
    });
    expect(strategies(bumped)).toEqual({ 'a#0': 'recreate' });
  });

  it('surges a chain of moves: each waits for the one ahead, which frees its partition once its own new pod is Ready', () => {
    // a takes b's partition, b takes a free one: b surges at once, a after b's old pod stops.
    const base = committed(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' }));
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.1', 'b#0': 'n1:0.2' }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'surge', 'b#0': 'surge' });
  });

  it('surges onto the partition of a removed replica: its pod is deleted at sync', () => {
    const base = committed(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' }));
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.1' }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'surge' });
  });

  it('recreates exactly one replica of a swap, the first by id, and says why', () => {
    const base = committed(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1', 'c#0': 'n1:0.2' }));
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.1', 'b#0': 'n1:0.0', 'c#0': 'n1:0.2' }), {
      previous: base,
      servingInputs: SAME,
      minAvailable: NO_BUDGETS,
    });
    expect(strategies(next)).toEqual({ 'a#0': 'recreate', 'b#0': 'surge', 'c#0': 'recreate' });
    expect(next.replicas[0]?.rollout?.note).toMatch(/held by b#0, whose moves wait for its own partitions/);
    expect(next.replicas[1]?.rollout?.note).toBeUndefined();
  });

  it('breaks a three-way cycle across nodes once, and leaves the rest of the chain surging', () => {
    const nodes = { n1: 'CPX-NPS4', n2: 'CPX-NPS4', n3: 'CPX-NPS4' };
    const base = committed(handPlan(nodes, { 'a#0': 'n1:0.0', 'b#0': 'n2:0.0', 'c#0': 'n3:0.0' }));
    const next = withRollouts(handPlan(nodes, { 'a#0': 'n2:0.0', 'b#0': 'n3:0.0', 'c#0': 'n1:0.0' }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'recreate', 'b#0': 'surge', 'c#0': 'surge' });
    expect(next.replicas[0]?.rollout?.note).toMatch(/held by b#0, c#0/);
  });

  it('names at most five other members of a long cycle in its note', () => {
    const nodes = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`n${i}`, 'CPX-NPS4']));
    const ring = (shift: number) => Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`m${i}#0`, `n${(i + shift) % 8}:0.0`]));
    const base = committed(handPlan(nodes, ring(0)));
    const next = withRollouts(handPlan(nodes, ring(1)), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(next.replicas.filter((r) => r.rollout?.strategy === 'recreate').map((r) => r.id)).toEqual(['m0#0']);
    expect(next.replicas[0]?.rollout?.note).toMatch(/held by m1#0, m2#0, m3#0, m4#0, m5#0 and 2 more, whose moves/);
  });

  it('does not count waits on a repartitioned node as a cycle: the partitioner drains it within its move timeout', () => {
    const base = committed(handPlan({ n1: 'DPX-NPS2' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' }));
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.1', 'b#0': 'n1:0.0' }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'surge', 'b#0': 'surge' });
  });

  it('decides against plans older than rollouts as if every replica changed', () => {
    const old = handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n1:0.1' });
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4', n2: 'CPX-NPS4' }, { 'a#0': 'n1:0.0', 'b#0': 'n2:0.1' }), { previous: old, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'recreate', 'b#0': 'surge' });
  });
});

describe('withRollouts: a move onto its own partitions', () => {
  it('recreates a replica that grows onto partitions it holds (its new pod needs the old one gone)', () => {
    const base = committed(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }));
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0,0.1' }), { previous: base, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(strategies(next)).toEqual({ 'a#0': 'recreate' });
    expect(next.replicas[0]?.rollout?.note).toMatch(/include some of its current ones/);
  });
});

describe('withRollouts: a previous plan edited by hand', () => {
  it('decides again a kept rollout whose strategy is unknown, and drops extra fields', () => {
    const base = committed(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }));
    const edited: Plan = {
      ...base,
      replicas: base.replicas.map((r) => ({ ...r, rollout: { ...r.rollout!, strategy: 'sideways' as never, extra: 'x'.repeat(10) } as never })),
    };
    const next = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }), { previous: edited, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(next.replicas[0]?.rollout).toEqual(base.replicas[0]?.rollout);
    const surged: Plan = { ...base, replicas: base.replicas.map((r) => ({ ...r, rollout: { ...r.rollout!, strategy: 'surge' as const, extra: 1 } as never })) };
    const kept = withRollouts(handPlan({ n1: 'CPX-NPS4' }, { 'a#0': 'n1:0.0' }), { previous: surged, servingInputs: SAME, minAvailable: NO_BUDGETS });
    expect(kept.replicas[0]?.rollout).toEqual({ strategy: 'surge', inputs: base.replicas[0]?.rollout?.inputs });
  });
});
