import type { DemandOption } from '../sizing/types.ts';
import { type Choice, gpuShare, type ResolvedModel, shapeRange } from './demands.ts';
import type { PlanningSetup, RunResult } from './run.ts';
import { lexLess, shortfallOf } from './shortfall.ts';
import type { Plan } from './types.ts';

/**
 * The fleet-wide choice of tensor-parallel degrees for `tensorParallel: auto` models, chosen
 * together with the node profiles: every candidate degree is judged by actually placing the fleet
 * with it. A fresh plan starts from each model's preferred degree (smallest GPU share, see
 * `demands.ts`); when replicas are left out, other degrees of the models are tried (a higher degree
 * on smaller partitions, or a lower one on whole GPUs) and kept when more is placed; when
 * everything is placed, degrees are lowered wherever the fleet stays on as few GPUs and nodes.
 * Degrees are per model (one engine configuration per model), never per replica.
 */

/** Why a model runs at its degree. */
export type DegreeWhy = 'only' | 'share' | 'lowered' | 'repair' | 'running' | 'exact';

/** Degree per model, 0 for the level's preferred one; and why. */
export interface Degrees {
  readonly tpOf: readonly number[];
  readonly why: readonly DegreeWhy[];
}

/** Placement runs a degree search may spend: bounded so planning time stays predictable. */
const SEARCH_RUNS = 12;

export function choiceOf(models: readonly ResolvedModel[], levelOf: readonly number[], tpOf: readonly number[]): Choice {
  return models.map((m) => optionAt(m, levelOf[m.index]!, tpOf[m.index]!));
}

function optionAt(model: ResolvedModel, level: number, tp: number): DemandOption | undefined {
  const preferred = model.levels[level];
  if (!preferred || tp === 0) return preferred;
  return model.degrees[level]!.find((o) => o.tensorParallel === tp) ?? preferred;
}

/** Start: the degree the previous plan runs a model at (changing it restarts every replica), else preferred. */
export function startingDegrees(models: readonly ResolvedModel[], previous: Plan | undefined): Degrees {
  const running = new Map((previous?.replicas ?? []).map((r) => [r.model, r.tensorParallel]));
  const tpOf = models.map((m) => running.get(m.demand.model) ?? 0);
  const why = models.map((m): DegreeWhy => (m.degrees.every((d) => d.length <= 1) ? 'only' : running.has(m.demand.model) ? 'running' : 'share'));
  return { tpOf, why };
}

/** What a run achieves, compared lexicographically: shortfall by priority, spread misses, GPUs, nodes. */
export function outcomeOf(run: RunResult): number[] {
  return [...shortfallOf(run.state.replicas, run.unschedulable), run.spreadMisses, run.state.usedGpus, run.state.usedNodes];
}

type Attempt = (tpOf: readonly number[]) => RunResult;

interface Searched {
  readonly degrees: Degrees;
  readonly run: RunResult;
}

/**
 * Replicas were left out: tries every other degree of each model with a choice, models with
 * replicas left out first (most important first), and keeps a degree whenever the fleet then
 * places more (by priority), or as much with less spread missed, fewer GPUs or fewer nodes.
 */
export function repairDegrees(setup: DegreeSetup, levelOf: readonly number[], start: Searched, attempt: Attempt): Searched {
  const { models } = setup;
  const budget = runBudget(setup, 1);
  let best = start;
  let runs = 0;
  const left = new Set(best.run.unschedulable.map((r) => best.run.state.replicas[r]!.model));
  const candidates = models
    .filter((m) => (m.degrees[levelOf[m.index]!]?.length ?? 0) > 1)
    .sort((a, b) => Number(left.has(b.index)) - Number(left.has(a.index)) || a.priority - b.priority || a.index - b.index);
  // First, all at once: every model at the lowest degree that runs on its pools' finest partitions.
  // One coarse-partition model can hold a whole node's profile (a 79 GiB rank on an SPX node that a
  // 405B replica needed), which no single-model change found within the budget.
  const fine = finestDegrees(setup, levelOf, best.degrees);
  if (fine && best.run.unschedulable.length > 0 && runs < budget) {
    const run = attempt(fine.tpOf);
    runs++;
    if (lexLess(outcomeOf(run), outcomeOf(best.run))) best = { degrees: fine, run };
  }
  for (const model of candidates) {
    const current = optionAt(model, levelOf[model.index]!, best.degrees.tpOf[model.index]!)!.tensorParallel;
    for (const option of model.degrees[levelOf[model.index]!]!) {
      if (best.run.unschedulable.length === 0 || runs >= budget) return best;
      if (option.tensorParallel === current) continue;
      const tpOf = withDegree(best.degrees.tpOf, model.index, option.tensorParallel);
      const run = attempt(tpOf);
      runs++;
      if (lexLess(outcomeOf(run), outcomeOf(best.run))) best = { degrees: { tpOf, why: withWhy(best.degrees.why, model.index, 'repair') }, run };
    }
  }
  return best;
}

/**
 * Degrees with every model that has a choice at the lowest degree whose ranks fit the finest
 * partitions of one of its pools; undefined when that changes nothing.
 */
function finestDegrees(setup: DegreeSetup, levelOf: readonly number[], from: Degrees): Degrees | undefined {
  let tpOf = from.tpOf;
  let why = from.why;
  for (const m of setup.models) {
    const options = m.degrees[levelOf[m.index]!] ?? [];
    if (options.length <= 1) continue;
    const finest = options.find((o) =>
      m.pools.some((p) => {
        const range = shapeRange(o, setup.layouts[p]!, setup.headroomPercent);
        return range.lo <= range.hi && range.hi === setup.layouts[p]!.shapes.length - 1;
      }),
    );
    const current = optionAt(m, levelOf[m.index]!, tpOf[m.index]!)!.tensorParallel;
    if (!finest || finest.tensorParallel === current) continue;
    tpOf = withDegree(tpOf, m.index, finest.tensorParallel);
    why = withWhy(why, m.index, 'repair');
  }
  return tpOf === from.tpOf ? undefined : { tpOf, why };
}

/**
 * Everything is placed: lowers degrees (lower degrees cost less communication) wherever the fleet
 * keeps every replica, its spread, its GPU count and its node count. First the lower degrees that
 * take no larger GPU share (a whole GPU at 1 against eight 24 GiB partitions at 8): all such
 * models at once, then halves of a group that failed; then, while the run budget lasts, any lower
 * degree of one model at a time (slack in the fleet may absorb it).
 */
export function lowerDegrees(setup: DegreeSetup, levelOf: readonly number[], start: Searched, attempt: Attempt): Searched {
  let best = start;
  let runs = 0;
  const budget = runBudget(setup, 0);
  const current = (m: ResolvedModel) => optionAt(m, levelOf[m.index]!, best.degrees.tpOf[m.index]!)!;
  const share = (m: ResolvedModel, o: DemandOption) => gpuShare(o, m.pools, setup.layouts, setup.headroomPercent);
  const lower = (m: ResolvedModel) => m.degrees[levelOf[m.index]!]!.filter((o) => o.tensorParallel < current(m).tensorParallel);
  const tieOf = (m: ResolvedModel) => lower(m).find((o) => share(m, o) <= share(m, current(m)) + 1e-9);
  const tryDegrees = (changes: readonly (readonly [ResolvedModel, number])[]): boolean => {
    if (changes.length === 0 || runs >= budget) return false;
    let tpOf = best.degrees.tpOf;
    let why = best.degrees.why;
    for (const [m, tp] of changes) {
      tpOf = withDegree(tpOf, m.index, tp);
      why = withWhy(why, m.index, 'lowered');
    }
    const run = attempt(tpOf);
    runs++;
    if (lexLess(outcomeOf(best.run), outcomeOf(run))) return false;
    best = { degrees: { tpOf, why }, run };
    return true;
  };
  const groupTest = (group: readonly (readonly [ResolvedModel, number])[]): void => {
    if (tryDegrees(group) || group.length <= 1) return;
    const half = Math.ceil(group.length / 2);
    groupTest(group.slice(0, half));
    groupTest(group.slice(half));
  };
  const withDegreeAbove1 = setup.models.filter((m) => m.levels[levelOf[m.index]!] !== undefined && lower(m).length > 0);
  withDegreeAbove1.sort((a, b) => current(b).tensorParallel - current(a).tensorParallel || a.index - b.index);
  groupTest(withDegreeAbove1.flatMap((m) => (tieOf(m) ? [[m, tieOf(m)!.tensorParallel] as const] : [])));
  for (const m of withDegreeAbove1) for (const o of lower(m)) tryDegrees([[m, o.tensorParallel]]);
  return best;
}

/** What a degree search needs of the planning setup. */
export type DegreeSetup = Pick<PlanningSetup, 'models' | 'layouts' | 'headroomPercent'>;

/**
 * Placement runs one degree search may spend: up to SEARCH_RUNS on small fleets, fewer as the
 * demand grows (a run costs about linear time in the replicas), at least `floor`. Repairs get at
 * least one run; lowering, which only trades communication, none on large fleets (there the
 * preferred degree already takes the lowest among equal shares and partition sizes).
 */
function runBudget(setup: DegreeSetup, floor: number): number {
  const replicas = setup.models.reduce((sum, m) => sum + m.demand.replicas, 0);
  return Math.max(floor, Math.min(SEARCH_RUNS, Math.floor(REPLICA_RUNS / Math.max(1, replicas))));
}

/** Replica placements a degree search may spend in total: planning time stays within its targets. */
const REPLICA_RUNS = 600;

function withDegree(tpOf: readonly number[], m: number, tp: number): number[] {
  const out = [...tpOf];
  out[m] = tp;
  return out;
}

function withWhy(why: readonly DegreeWhy[], m: number, reason: DegreeWhy): DegreeWhy[] {
  const out = [...why];
  out[m] = reason;
  return out;
}
