import { planExact } from './exact.ts';
import { type PlanInput, solveHeuristic, writePlan } from './heuristic.ts';
import type { Plan } from './types.ts';

export { type PoolCapacity, poolCapacity } from './capacity.ts';
export { type ExactOptions, type ExactResult, type ExactStatus, planExact } from './exact.ts';
export { type PlanInput, planHeuristic } from './heuristic.ts';

export interface PlanFleetInput extends PlanInput {
  readonly optimizer: 'heuristic' | 'exact';
  /** Time limit of the exact optimizer, after which the heuristic's plan stands. */
  readonly timeLimitSeconds: number;
}

/**
 * The planner's entry point. `exact` runs the MILP within the time limit and keeps its plan when
 * it places more, or as much with no less spread on no more GPUs and nodes, never with more churn
 * or a broken DoNotSchedule spread; otherwise the heuristic's plan stands.
 */
export async function planFleet(input: PlanFleetInput): Promise<Plan> {
  const solution = solveHeuristic(input);
  const heuristic = writePlan(input, solution, solution.run.state, solution.run.unschedulable, 'heuristic');
  if (input.optimizer !== 'exact') return heuristic;
  const exact = await planExact(input, input.timeLimitSeconds, { heuristic: solution });
  return exact.plan && noWorse(exact.plan, heuristic) ? exact.plan : heuristic;
}

/** Domains the plan's models span fewer than they should (the exact optimizer does not model spread). */
function spreadMissed(plan: Plan): number {
  return plan.models.reduce((sum, m) => sum + (m.spread ? Math.max(0, m.spread.wanted - m.spread.domains) : 0), 0);
}

/** A model whose DoNotSchedule spread the plan breaks (the exact optimizer does not model spread). */
function breaksHardSpread(plan: Plan): boolean {
  return plan.models.some((m) => m.spread?.whenUnsatisfiable === 'DoNotSchedule' && m.spread.domains < m.spread.wanted);
}

/**
 * The planner's objective in order: replicas placed (without more churn), spread, GPUs, nodes.
 * A DoNotSchedule spread is a rule, not an objective: a plan that breaks it never wins.
 */
function noWorse(candidate: Plan, incumbent: Plan): boolean {
  if (breaksHardSpread(candidate)) return false;
  const a = candidate.summary;
  const b = incumbent.summary;
  if (a.placed !== b.placed) return a.placed > b.placed && a.profileChanges <= b.profileChanges && a.replicaMoves <= b.replicaMoves;
  if (spreadMissed(candidate) > spreadMissed(incumbent)) return false;
  if (a.profileChanges > b.profileChanges || a.replicaMoves > b.replicaMoves) return false;
  return a.gpusUsed < b.gpusUsed || (a.gpusUsed === b.gpusUsed && a.nodesUsed <= b.nodesUsed);
}
