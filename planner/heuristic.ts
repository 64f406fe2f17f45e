import type { ModelDemand } from '../sizing/types.ts';
import { lowerBound } from './bounds.ts';
import { type PoolCapacity, poolLayout } from './capacity.ts';
import { degreeFreeBound } from './bounds.ts';
import { modelDecisions } from './decisions.ts';
import { choiceOf, type Degrees, lowerDegrees, repairDegrees, startingDegrees } from './degrees.ts';
import { replicaId } from './moved.ts';
import { type Choice, resolveModels } from './demands.ts';
import type { FleetState } from './fleet.ts';
import { buildPlan } from './output.ts';
import { neverFitsReason, outOfCapacityReason } from './reasons.ts';
import { type PlanningSetup, type RunResult, runPlacement } from './run.ts';
import { lexLess, shortfallOf } from './shortfall.ts';
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
  /** Chosen tensor-parallel degree per model, and why. */
  readonly degrees: Degrees;
  /** The option every model runs at. */
  readonly choice: Choice;
  readonly run: RunResult;
}

function planningSetup(input: PlanInput): PlanningSetup {
  const layouts = input.pools.map((pool, i) => poolLayout(pool, i));
  return {
    layouts,
    models: resolveModels(input.demands, layouts, input.headroomPercent),
    headroomPercent: input.headroomPercent,
    outcomes: new Map(),
  };
}

/** The fast planner: greedy placement with local improvement, precision and degrees chosen jointly. */
export function planHeuristic(input: PlanInput): Plan {
  const solution = solveHeuristic(input);
  // planFleet writes the same way: one heuristic run, even in exact mode.
  return writePlan(input, solution, solution.run.state, solution.run.unschedulable, 'heuristic');
}

/**
 * GPUs spread costs: the plan's GPUs minus those of the same choices placed afresh without
 * ScheduleAnyway spread (one more placement run, only when some model spreads and everything is
 * placed).
 */
function spreadGpus(input: PlanInput, solved: Solved, state: FleetState, unschedulable: readonly number[]): number {
  if (unschedulable.length > 0 || !solved.setup.models.some((m) => m.demand.spread && m.demand.replicas > 1)) return 0;
  // Fresh, not against the previous plan: what spread costs does not depend on history.
  const without = runPlacement(solved.setup, solved.choice, { quick: true, ignoreSpread: true });
  return without.unschedulable.length > 0 ? 0 : Math.max(0, state.usedGpus - without.state.usedGpus);
}

/**
 * Precision for `precisionAuto` models is chosen for the fleet as a whole: every model starts at
 * its best level (with a previous plan: at the level it runs at); when replicas do not fit, other
 * tensor-parallel degrees are tried first (`degrees.ts`), then auto models degrade one precision
 * step at a time — lowest priority first, the largest first within a priority, round-robin over
 * levels — and the fewest steps that place as much as full degradation does are kept (found by
 * galloping search and bisection, since more degradation never needs more room). A fresh plan
 * that places everything then lowers degrees wherever that costs no GPU and no node.
 */
export function solveHeuristic(input: PlanInput): HeuristicSolution {
  const spreading = solveWith(planningSetup(input), input);
  // Placing every replica comes before spread: when spreading leaves replicas out, plan again
  // without the ScheduleAnyway spread and keep that when it places more.
  if (spreading.run.unschedulable.length === 0 || !spreading.setup.models.some((m) => m.demand.spread && !m.demand.spread.hard)) return spreading;
  const packed = solveWith({ ...planningSetup(input), softSpreadOff: true }, input);
  return lexLess(shortfall(packed.run), shortfall(spreading.run)) ? packed : spreading;
}

function solveWith(setup: PlanningSetup, input: PlanInput): HeuristicSolution {
  const start = startingLevels(setup, input.previous);
  const steps = degradationSteps(setup, start);
  let degrees = startingDegrees(setup.models, input.previous);
  const levelsAfter = (k: number) => {
    const levelOf = [...start];
    for (let i = 0; i < k; i++) levelOf[steps[i]!]!++;
    return levelOf;
  };
  const solve = (k: number, quick = false, d: Degrees = degrees): HeuristicSolution => {
    const levelOf = levelsAfter(k);
    const choice = choiceOf(setup.models, levelOf, d.tpOf);
    const run = quick ? runPlacement(setup, choice, { previous: input.previous, quick }) : solveWithStability(setup, choice, input.previous);
    return { setup, levelOf, degrees: d, choice, run };
  };
  const fits = (s: HeuristicSolution) => s.run.unschedulable.length === 0;
  const search = (from: HeuristicSolution, how: typeof repairDegrees): HeuristicSolution => {
    const attempt = (tpOf: readonly number[]) => runPlacement(setup, choiceOf(setup.models, from.levelOf, tpOf), { previous: input.previous, quick: true });
    const found = how(setup, from.levelOf, { degrees: from.degrees, run: from.run }, attempt);
    return found.run === from.run ? from : { ...from, degrees: found.degrees, choice: choiceOf(setup.models, from.levelOf, found.degrees.tpOf), run: found.run };
  };
  // A quick run (one placement and its repairs) fits everything exactly when a complete run does
  // without a previous plan, and then it is the complete plan. With a previous plan, repartitioning
  // nodes comes before changing anyone's degree or precision.
  const quickFirst = solve(0, true);
  if (fits(quickFirst)) return input.previous ? quickFirst : search(quickFirst, lowerDegrees);
  const first = input.previous ? solve(0) : undefined;
  if (first && fits(first)) return first;
  if (mayFitWithOtherDegrees(setup, start)) {
    const repaired = search(first ?? quickFirst, repairDegrees);
    if (fits(repaired)) return input.previous ? repaired : search(repaired, lowerDegrees);
    degrees = repaired.degrees;
  }
  if (steps.length === 0) return first && degrees === first.degrees ? first : solve(0);
  const quickFull = solve(steps.length, true);
  if (fits(quickFull)) return fewestSteps(steps.length, (k) => solve(k, true), fits, quickFull);
  const complete = first && degrees === first.degrees ? first : solve(0);
  const full = solve(steps.length);
  const target = shortfall(full.run);
  if (!lexLess(target, shortfall(complete.run))) return complete;
  return fewestSteps(steps.length, (k) => solve(k), (s) => !lexLess(target, shortfall(s.run)), full);
}

/**
 * Trying other degrees is worth it only when some degree choice could hold the demand: the GPU
 * share of every replica at its cheapest degree, summed, does not exceed the fleet.
 */
function mayFitWithOtherDegrees(setup: PlanningSetup, levelOf: readonly number[]): boolean {
  const fleet = setup.layouts.reduce((sum, l) => sum + l.capacity.nodes.length * l.gpusPerNode, 0);
  return degreeFreeBound(setup, levelOf) <= fleet;
}

/**
 * The solution at the fewest degradation steps in 1..`max` that satisfies `good` (assumed
 * monotone: more steps never hurt), by galloping search then bisection; `atMax` if known.
 */
function fewestSteps(
  max: number,
  solve: (k: number) => HeuristicSolution,
  good: (s: HeuristicSolution) => boolean,
  atMax?: HeuristicSolution,
): HeuristicSolution {
  let lo = 0;
  let hi = max;
  let best = atMax;
  for (let k = 1; k < hi; k *= 2) {
    const trial = solve(k);
    if (good(trial)) {
      hi = k;
      best = trial;
    } else lo = k;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const trial = solve(mid);
    if (good(trial)) {
      hi = mid;
      best = trial;
    } else lo = mid;
  }
  return best ?? solve(hi);
}

/**
 * Where precision choice starts: the best level, or — with a previous plan — the precision the
 * model's replicas run at now, so that a change elsewhere does not restart them at another one.
 */
function startingLevels(setup: PlanningSetup, previous: Plan | undefined): number[] {
  const running = new Map((previous?.replicas ?? []).map((r) => [r.model, r.precision]));
  return setup.models.map((m) => {
    if (!m.demand.precisionAuto) return 0;
    const level = m.levels.findIndex((l) => l.precision === running.get(m.demand.model));
    return Math.max(0, level);
  });
}

function degradationSteps(setup: PlanningSetup, start: readonly number[]): number[] {
  const steps: number[] = [];
  for (let priority = 3; priority >= 0; priority--) {
    const models = setup.models
      .filter((m) => m.priority === priority && m.demand.precisionAuto && m.levels.length > start[m.index]! + 1 && m.demand.replicas > 0)
      .sort((a, b) => replicaGiB(b) - replicaGiB(a) || (a.demand.model < b.demand.model ? -1 : 1));
    const depth = Math.max(0, ...models.map((m) => m.levels.length));
    for (let level = 1; level < depth; level++) for (const m of models) if (m.levels.length > level && level > start[m.index]!) steps.push(m.index);
  }
  return steps;
}

function replicaGiB(model: PlanningSetup['models'][number]): number {
  const top = model.levels[0]!;
  return top.memoryGiBPerPartition * top.tensorParallel;
}

function shortfall(run: RunResult): number[] {
  return shortfallOf(run.state.replicas, run.unschedulable);
}

/**
 * With a previous plan: keep everything that can stay. When that leaves out replicas a plan from
 * scratch would place, release the nodes holding the fewest kept partitions — 1, 2, 4, … at a
 * time — and keep the first release that places as much. If none does, keep the release that
 * placed most, unless the fresh plan places everything or more critical or high-priority replicas
 * than it (reshuffling a full fleet for one more medium or low replica costs more than it gains).
 */
function solveWithStability(setup: PlanningSetup, choice: Choice, previous: Plan | undefined): RunResult {
  if (!previous) return runPlacement(setup, choice);
  const stable = runPlacement(setup, choice, { previous });
  if (stable.unschedulable.length === 0) return stable;
  const fresh = runPlacement(setup, choice);
  const target = shortfall(fresh);
  if (!lexLess(target, shortfall(stable))) return stable;
  const order = releaseOrder(stable.state);
  let best = stable;
  for (let k = 1; k < order.length; k *= 2) {
    const trial = runPlacement(setup, choice, { previous, released: new Set(order.slice(0, k)) });
    if (!lexLess(target, shortfall(trial))) return trial;
    if (lexLess(shortfall(trial), shortfall(best))) best = trial;
  }
  return worthMoving(target, shortfall(best)) ? fresh : best;
}

function worthMoving(fresh: readonly number[], stable: readonly number[]): boolean {
  if (!lexLess(fresh, stable)) return false;
  return fresh.every((c) => c === 0) || fresh[0]! < stable[0]! || fresh[1]! < stable[1]!;
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

/** What a plan is written from besides the fleet state: the setup and the per-model choices. */
export type Solved = Pick<HeuristicSolution, 'setup' | 'degrees' | 'choice'>;

/** The plan of a finished run: reasons for everything left out, per-model decisions, bound and summary. */
export function writePlan(
  input: PlanInput,
  solved: Solved,
  state: FleetState,
  unschedulable: readonly number[],
  optimizer: PlanSummary['optimizer'],
): Plan {
  const { setup } = solved;
  const left: UnschedulableReplica[] = [];
  for (const model of setup.models) {
    if (model.levels.length > 0) continue;
    const reason = neverFitsReason(model, setup.layouts, setup.headroomPercent);
    for (let ordinal = 0; ordinal < model.demand.replicas; ordinal++) {
      left.push({ id: replicaId(model.demand.model, ordinal), model: model.demand.model, reason });
    }
  }
  for (const r of unschedulable) {
    const replica = state.replicas[r]!;
    left.push({ id: replica.id, model: replica.modelName, reason: outOfCapacityReason(state, r, setup.headroomPercent) });
  }
  const placed = state.replicas.filter((r) => state.replicaNode[r.index]! >= 0);
  return buildPlan(state, {
    headroomPercent: setup.headroomPercent,
    demandedReplicas: setup.models.reduce((sum, m) => sum + m.demand.replicas, 0),
    unschedulable: left,
    lowerBound: lowerBound(setup.layouts, placed),
    optimizer,
    previous: input.previous,
    models: modelDecisions(solved, state, input.previous),
    spreadGpus: spreadGpus(input, solved, state, unschedulable),
  });
}
