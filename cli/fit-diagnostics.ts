import { diagnostic } from '../api/diagnostics.ts';
import { plural } from '../api/words.ts';
import type { Diagnostic, Model, ModelSpec, NodePool, Spec } from '../api/types.ts';
import { GPU_CATALOG } from '../hardware/gpus.ts';
import { planFleet, type PlanFleetInput, planHeuristic, poolCapacity } from '../planner/plan.ts';
import { gib, NEVER_FITS } from '../planner/reasons.ts';
import type { Plan } from '../planner/types.ts';
import { reservedGiB } from '../sizing/budget.ts';
import { type SizedModel, sizeDemands } from '../sizing/demand.ts';
import type { ModelCatalog } from '../sizing/model-catalog.ts';

/**
 * One diagnostic per model with replicas the plan could not place: how many, why, what one rank
 * needs (headroom included), and the ways out — each a single change to the spec, checked by
 * planning the whole fleet again with it: it must place every replica of the model and take no
 * placed replica from another. It sits at the field that binds: the field of the first way out
 * that works, else `spec.replicas` (capacity) or the precision/model (nothing ever fits).
 */
export function fitDiagnostics(
  spec: Spec,
  plan: Plan,
  catalog: ModelCatalog,
  sized: readonly SizedModel[],
  exactPlaced?: ReadonlyMap<string, number>,
): Diagnostic[] {
  const severity = spec.fleet.spec.planning.allowUnschedulable ? 'warning' : 'error';
  const missing = new Map<string, number>();
  for (const u of plan.unschedulable) missing.set(u.model, (missing.get(u.model) ?? 0) + 1);
  const placedBefore = placedByModel(plan);
  const budget = { trials: MAX_TRIALS };
  return spec.models.flatMap((model) => {
    const name = model.metadata.name;
    const count = missing.get(name);
    if (!count) return [];
    const reason = plan.unschedulable.find((u) => u.model === name)!.reason;
    const outs: WayOut[] = [];
    const found = new Set<string>();
    for (const trial of waysOut(spec, model, sized.find((s) => s.demand.model === name)!)) {
      // Of several values of one field (maxModelLen 8192, 4096, …) the first that works is the one to state.
      if (found.has(trial.field) && trial.field !== 'spec.profiles') continue;
      if (budget.trials-- <= 0 || !placesAll(trial.spec, name, catalog, placedBefore)) continue;
      outs.push(trial);
      found.add(trial.field);
    }
    const binding = outs[0] ?? fallbackField(model, reason);
    // A fleet-wide change, listed last: the model's own fields still say where the need binds.
    const exact = exactPlaced?.get(name) ?? 0;
    if (exact > (placedBefore.get(name) ?? 0)) {
      outs.push({ field: 'spec.planning.optimizer', at: spec.fleet.source.at('spec.planning.optimizer'), text: `planning.optimizer: exact (HiGHS places ${exact} of ${model.spec.replicas})`, spec });
    }
    const message =
      `${count} of ${plural(model.spec.replicas, 'replica')} of ${name} cannot be placed: ${reason}; ` +
      // An out-of-capacity reason already states the planned rank's need; a never-fits one the least any option needs.
      (reason.startsWith(NEVER_FITS) ? `${leastNeed(spec, sized, name)}; ` : '') +
      (outs.length > 0 ? `ways out (each checked by planning with it): ${outs.map((o) => o.text).join('; ')}` : 'no single change to the model or its pools places them: add nodes');
    return [diagnostic(binding.at, severity, binding.field, message)];
  });
}

/** Seconds the exact optimizer may spend checking whether it places what the heuristic left out. */
const EXACT_CHECK_SECONDS = 10;

/**
 * Replicas placed per model when the exact optimizer plans the same input, for the heuristic's
 * unplaced replicas only: the heuristic can leave out replicas that fit (greedy profile choice on
 * mixed pools), and a user must hear that `planning.optimizer: exact` places them before adding
 * nodes. Undefined when it places no more, or when the plan already is the exact optimizer's.
 */
export async function exactPlacements(input: PlanFleetInput, plan: Plan, seconds = EXACT_CHECK_SECONDS): Promise<ReadonlyMap<string, number> | undefined> {
  if (input.optimizer === 'exact' || plan.unschedulable.length === 0) return undefined;
  const exact = await planFleet({ ...input, optimizer: 'exact', timeLimitSeconds: Math.min(input.timeLimitSeconds, seconds) });
  return exact.summary.placed > plan.summary.placed ? placedByModel(exact) : undefined;
}

/** The message of a fit diagnostic starts so: what `isUnschedulableDiagnostic` recognizes. */
export const UNPLACED = /^\d+ of \d+ replicas? of \S+ cannot be placed: /;

/** Fleet plans a diagnostic may run to check ways out (each plans the whole fleet). */
const MAX_TRIALS = 40;

interface Binding {
  readonly field: string;
  readonly at: ReturnType<Model['source']['at']>;
}

interface WayOut extends Binding {
  readonly text: string;
  readonly spec: Spec;
}

function fallbackField(model: Model, reason: string): Binding {
  const field = reason.startsWith(NEVER_FITS) ? (model.spec.precision !== undefined ? 'spec.precision' : 'spec.model') : 'spec.replicas';
  return { field, at: model.source.at(field) };
}

/** The least one rank of any of the model's options needs, headroom included. */
function leastNeed(spec: Spec, sized: readonly SizedModel[], name: string): string {
  const headroom = spec.fleet.spec.planning.headroomPercent;
  const options = sized.find((s) => s.demand.model === name)!.demand.options;
  const least = options.reduce((a, b) => (b.memoryGiBPerPartition < a.memoryGiBPerPartition ? b : a));
  return `needs ≥ ${gib(reservedGiB(least.memoryGiBPerPartition, headroom))} GiB per rank at best (${least.precision}, tensorParallel ${least.tensorParallel}, ${headroom}% headroom included)`;
}

function placedByModel(plan: Plan): Map<string, number> {
  const placed = new Map<string, number>();
  for (const r of plan.replicas) placed.set(r.model, (placed.get(r.model) ?? 0) + 1);
  return placed;
}

/** The fleet planned afresh with `trial`: every replica of `name` placed, no other model losing one. */
function placesAll(trial: Spec, name: string, catalog: ModelCatalog, before: ReadonlyMap<string, number>): boolean {
  const demands = sizeDemands(trial, catalog).map((s) => s.demand);
  const plan = planHeuristic({ pools: trial.pools.map(poolCapacity), demands, headroomPercent: trial.fleet.spec.planning.headroomPercent });
  const after = placedByModel(plan);
  const wanted = trial.models.find((m) => m.metadata.name === name)!.spec.replicas;
  return (after.get(name) ?? 0) === wanted && [...before].every(([model, count]) => model === name || (after.get(model) ?? 0) >= count);
}

/** Single changes that might let the model be placed, the binding field's first. */
function waysOut(spec: Spec, model: Model, sized: SizedModel): WayOut[] {
  const s = model.spec;
  const withModel = (change: Partial<ModelSpec>): Spec => ({
    ...spec,
    models: spec.models.map((m) => (m === model ? { ...m, spec: { ...m.spec, ...change } } : m)),
  });
  const at = (field: string) => model.source.at(field);
  const outs: WayOut[] = [];
  if (s.tensorParallel !== 'auto') {
    outs.push({ field: 'spec.tensorParallel', at: at('spec.tensorParallel'), text: 'tensorParallel: auto (the planner chooses the degree)', spec: withModel({ tensorParallel: 'auto' }) });
  }
  const products = poolsOf(spec, model).map((p) => GPU_CATALOG[p.spec.gpu]);
  if (s.precision !== undefined && s.precision !== 'auto' && s.precision !== 'fp8' && s.precision !== 'int4' && products.every((p) => p.precisions.fp8.support !== 'unsupported')) {
    outs.push({ field: 'spec.precision', at: at('spec.precision'), text: 'precision: fp8', spec: withModel({ precision: 'fp8' }) });
  }
  for (let len = Math.floor(sized.maxModelLen / 2); len >= 1024; len = Math.floor(len / 2)) {
    outs.push({ field: 'spec.maxModelLen', at: at('spec.maxModelLen'), text: `maxModelLen ≤ ${len}`, spec: withModel({ maxModelLen: len }) });
  }
  for (let c = Math.floor(s.concurrency / 2); c >= 1; c = Math.floor(c / 2)) {
    outs.push({ field: 'spec.concurrency', at: at('spec.concurrency'), text: `concurrency ≤ ${c}`, spec: withModel({ concurrency: c }) });
  }
  const all = spec.pools.map((p) => p.metadata.name);
  if (s.pools.length < all.length) outs.push({ field: 'spec.pools', at: at('spec.pools'), text: `pools: [${all.join(', ')}]`, spec: withModel({ pools: all }) });
  for (const pool of poolsOf(spec, model)) {
    for (const profile of GPU_CATALOG[pool.spec.gpu].profiles) {
      if (pool.spec.profiles.includes(profile.name)) continue;
      const pools = spec.pools.map((p) => (p === pool ? { ...p, spec: { ...p.spec, profiles: [...p.spec.profiles, profile.name] } } : p));
      outs.push({ field: 'spec.profiles', at: pool.source.at('spec.profiles'), text: `allow ${profile.name} in pool ${pool.metadata.name}`, spec: { ...spec, pools } });
    }
  }
  return outs;
}

function poolsOf(spec: Spec, model: Model): NodePool[] {
  const names = new Set(model.spec.pools);
  return spec.pools.filter((p) => names.has(p.metadata.name));
}
