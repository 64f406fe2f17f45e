import type { ModelDemand } from '../sizing/types.ts';
import { lowerBound } from './bounds.ts';
import { type PoolCapacity, poolLayout } from './capacity.ts';
import { resolveModels } from './demands.ts';
import type { FleetState } from './fleet.ts';
import { buildPlan } from './output.ts';
import { neverFitsReason, outOfCapacityReason } from './reasons.ts';
import { type PlanningSetup, type RunResult, runPlacement } from './run.ts';
import type { Plan, PlanSummary, UnschedulableReplica } from './types.ts';

export interface PlanInput {
  readonly pools: readonly PoolCapacity[];
  readonly demands: readonly ModelDemand[];
  readonly headroomPercent: number;
  /** The plan in force: unchanged replicas stay, profiles change only when nothing else fits. */
  readonly previous?: Plan;
}

export interface HeuristicSolution {
  readonly setup: PlanningSetup;
  /** Chosen level (index into `levels`) per model. */
  readonly levelOf: readonly number[];
  readonly run: RunResult;
}

export function planningSetup(input: PlanInput): PlanningSetup {
  const layouts = input.pools.map((pool, i) => poolLayout(pool, i));
  return { layouts, models: resolveModels(input.demands, layouts, input.headroomPercent), headroomPercent: input.headroomPercent };
}

/** The fast planner: greedy placement with local improvement, precision chosen jointly. */
export function planHeuristic(input: PlanInput): Plan {
  const solution = solveHeuristic(input);
  return writePlan(input, solution.setup, solution.run.state, solution.run.unschedulable, 'heuristic');
}

/**
 * Precision for `precisionAuto` models is chosen for the fleet as a whole: every model starts at
 * its best level; when replicas do not fit, auto models degrade one precision step at a time —
 * lowest priority first, the largest first within a priority, round-robin over levels — and the
 * fewest steps that place as much as full degradation does are kept (found by bisection, since
 * more degradation never needs more room).
 */
export function solveHeuristic(input: PlanInput): HeuristicSolution {
  const setup = planningSetup(input);
  const steps = degradationSteps(setup);
  const levelsAfter = (k: number) => {
    const levelOf = setup.models.map(() => 0);
    for (let i = 0; i < k; i++) levelOf[steps[i]!]!++;
    return levelOf;
  };
  const solve = (k: number): HeuristicSolution => {
    const levelOf = levelsAfter(k);
    return { setup, levelOf, run: solveWithStability(setup, levelOf, input.previous) };
  };
  const first = solve(0);
  if (first.run.unschedulable.length === 0 || steps.length === 0) return first;
  const full = solve(steps.length);
  const target = shortfall(full.run);
  if (!lexLess(target, shortfall(first.run))) return first;
  let lo = 0;
  let hi = steps.length;
  let best = full;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const trial = solve(mid);
    if (lexLess(target, shortfall(trial.run))) lo = mid;
    else {
      hi = mid;
      best = trial;
    }
  }
  return best;
}

function degradationSteps(setup: PlanningSetup): number[] {
  const steps: number[] = [];
  for (let priority = 3; priority >= 0; priority--) {
    const models = setup.models
      .filter((m) => m.priority === priority && m.demand.precisionAuto && m.levels.length > 1 && m.demand.replicas > 0)
      .sort((a, b) => replicaGiB(b) - replicaGiB(a) || (a.demand.model < b.demand.model ? -1 : 1));
    const depth = Math.max(0, ...models.map((m) => m.levels.length));
    for (let level = 1; level < depth; level++) for (const m of models) if (m.levels.length > level) steps.push(m.index);
  }
  return steps;
}

function replicaGiB(model: PlanningSetup['models'][number]): number {
  const top = model.levels[0]!;
  return top.memoryGiBPerPartition * top.tensorParallel;
}

/** Unplaced replicas per priority, most important first: compared lexicographically. */
function shortfall(run: RunResult): number[] {
  const counts = [0, 0, 0, 0];
  for (const r of run.unschedulable) counts[run.state.replicas[r]!.priority]!++;
  return counts;
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/**
 * With a previous plan: keep everything that can stay. When that leaves replicas out that a plan
 * from scratch would place, release the nodes holding the fewest kept partitions — 1, 2, 4, …
 * at a time — until the stable plan places as much; the fresh plan is the last resort.
 */
function solveWithStability(setup: PlanningSetup, levelOf: readonly number[], previous: Plan | undefined): RunResult {
  if (!previous) return runPlacement(setup, levelOf);
  const stable = runPlacement(setup, levelOf, { previous });
  if (stable.unschedulable.length === 0) return stable;
  const fresh = runPlacement(setup, levelOf);
  const target = shortfall(fresh);
  if (!lexLess(target, shortfall(stable))) return stable;
  const order = releaseOrder(stable.state);
  for (let k = 1; k < order.length; k *= 2) {
    const trial = runPlacement(setup, levelOf, { previous, released: new Set(order.slice(0, k)) });
    if (!lexLess(target, shortfall(trial))) return trial;
  }
  return fresh;
}

function releaseOrder(state: FleetState): string[] {
  const held = new Array<number>(state.nodeCount).fill(0);
  for (const replica of state.replicas) {
    const n = state.replicaNode[replica.index]!;
    if (n >= 0 && state.replicaPinned[replica.index]) held[n]! += replica.tensorParallel;
  }
  return state.nodeNames
    .map((name, n) => ({ name, n }))
    .filter(({ n }) => held[n]! > 0)
    .sort((a, b) => held[a.n]! - held[b.n]! || a.n - b.n)
    .map(({ name }) => name);
}

/** The plan of a finished run: reasons for everything left out, bound and summary. */
export function writePlan(
  input: PlanInput,
  setup: PlanningSetup,
  state: FleetState,
  unschedulable: readonly number[],
  optimizer: PlanSummary['optimizer'],
): Plan {
  const left: UnschedulableReplica[] = [];
  for (const model of setup.models) {
    if (model.levels.length > 0) continue;
    const reason = neverFitsReason(model, setup.layouts, setup.headroomPercent);
    for (let ordinal = 0; ordinal < model.demand.replicas; ordinal++) {
      left.push({ id: `${model.demand.model}#${ordinal}`, model: model.demand.model, reason });
    }
  }
  for (const r of unschedulable) {
    const replica = state.replicas[r]!;
    left.push({ id: replica.id, model: replica.modelName, reason: outOfCapacityReason(state, r) });
  }
  const placed = state.replicas.filter((r) => state.replicaNode[r.index]! >= 0);
  return buildPlan(state, {
    headroomPercent: setup.headroomPercent,
    demandedReplicas: setup.models.reduce((sum, m) => sum + m.demand.replicas, 0),
    unschedulable: left,
    lowerBound: lowerBound(setup.layouts, placed),
    optimizer,
    previous: input.previous,
  });
}
