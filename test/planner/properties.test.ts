import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planHeuristic } from '../../planner/heuristic.ts';
import { replicaMoved } from '../../planner/moved.ts';
import type { Plan } from '../../planner/types.ts';
import { inputArb } from './arbitraries.ts';
import { capacityViolations, fitsAsIs, priorityViolations } from './invariants.ts';

const RUNS = { seed: 20240611, numRuns: 60 } as const;

function nodesInUse(plan: Plan): Set<string> {
  return new Set(plan.replicas.map((r) => r.node));
}

/**
 * Replicas of the previous plan on other partitions now, at the same precision and tensor
 * parallelism (a model whose automatic precision had to drop restarts anyway).
 */
function moved(before: Plan, after: Plan): string[] {
  const old = new Map(before.replicas.map((r) => [r.id, r]));
  return after.replicas
    .filter((now) => {
      const was = old.get(now.id);
      return was !== undefined && was.precision === now.precision && was.tensorParallel === now.tensorParallel && replicaMoved(was, now);
    })
    .map((r) => r.id);
}

/** Nodes in use before whose profile changed. */
function repartitionedInUse(before: Plan, after: Plan): string[] {
  const used = nodesInUse(before);
  const profile = (plan: Plan) => new Map(plan.nodes.map((n) => [n.name, JSON.stringify(n.gpus.map((g) => g.profile))]));
  const old = profile(before);
  return [...profile(after)].filter(([name, p]) => used.has(name) && old.get(name) !== p).map(([name]) => name);
}

describe('planHeuristic properties', () => {
  it('never overfills a partition, places each replica once or says why not, and keeps tensor-parallel groups on equal partitions of one node', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        expect(capacityViolations(planHeuristic(input), input)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('leaves no higher-priority replica out that would fit without lower-priority ones', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        expect(priorityViolations(planHeuristic(input), input)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('is deterministic and never beats its own lower bound', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const plan = planHeuristic(input);
        expect(JSON.stringify(planHeuristic(input))).toBe(JSON.stringify(plan));
        expect(plan.summary.gpusUsed).toBeGreaterThanOrEqual(plan.summary.lowerBound);
        expect(plan.summary.placed).toBe(plan.replicas.length);
      }),
      RUNS,
    );
  });

  it('adds one replica without moving others or repartitioning, when it fits as things are', () => {
    fc.assert(
      fc.property(inputArb, fc.nat(), (input, pick) => {
        const before = planHeuristic(input);
        const target = input.demands[pick % input.demands.length]!;
        fc.pre(before.unschedulable.every((u) => u.reason.startsWith('never')) && fitsAsIs(before, input, target.model));
        const grown = { ...input, demands: input.demands.map((d) => (d === target ? { ...d, replicas: d.replicas + 1 } : d)) };
        const after = planHeuristic({ ...grown, previous: before });
        expect(after.summary.replicaMoves).toBe(0);
        expect(after.summary.profileChanges).toBe(0);
        expect(moved(before, after)).toEqual([]);
        expect(repartitionedInUse(before, after)).toEqual([]);
        expect(capacityViolations(after, grown)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('removes one model without moving others or repartitioning a node in use, when nothing waits for room', () => {
    fc.assert(
      fc.property(inputArb, fc.nat(), (input, pick) => {
        const before = planHeuristic(input);
        fc.pre(before.unschedulable.every((u) => u.reason.startsWith('never')));
        const gone = input.demands[pick % input.demands.length]!;
        const shrunk = { ...input, demands: input.demands.filter((d) => d !== gone) };
        const after = planHeuristic({ ...shrunk, previous: before });
        expect(moved(before, after)).toEqual([]);
        expect(repartitionedInUse(before, after)).toEqual([]);
        expect(capacityViolations(after, shrunk)).toEqual([]);
      }),
      RUNS,
    );
  });
});
