import { App } from 'cdk8s';
import { append, diagnostic, hasErrors, sortDiagnostics } from '../api/diagnostics.ts';
import { loadSpecDir } from '../api/load.ts';
import type { Diagnostic, Precision, Spec } from '../api/types.ts';
import { budgetPods, disruptionBudgetDiagnostics } from '../constructs/disruption-budget.ts';
import { buildFleetCharts } from '../constructs/fleet.ts';
import { servingInputs } from '../constructs/serving-inputs.ts';
import { servingNameCollisions } from '../constructs/serving-names.ts';
import { renderPlanMarkdown } from '../planner/render.ts';
import { planFleet, type PlanFleetInput, poolCapacity } from '../planner/plan.ts';
import { withRollouts } from '../planner/rollout.ts';
import type { Plan } from '../planner/types.ts';
import { checkModels } from '../sizing/check.ts';
import { sizeDemands } from '../sizing/demand.ts';
import { loadModelCatalog } from '../sizing/model-catalog.ts';
import { exactPlacements, fitDiagnostics, UNPLACED } from './fit-diagnostics.ts';
import { renderManifests, type Tree } from './tree.ts';

export interface Compiled {
  readonly spec: Spec;
  readonly plan: Plan;
  /** Resolved `--max-model-len` per model name. */
  readonly maxModelLen: ReadonlyMap<string, number>;
  /** vLLM flags selecting a precision for a model (dtype, quantization, KV cache dtype). */
  readonly engineFlags: (model: string, precision: Precision) => readonly string[];
}

export interface CompileResult {
  /** Present when the specs are valid (the plan may still hold unschedulable replicas). */
  readonly compiled?: Compiled;
  /** Errors and warnings, sorted; unschedulable replicas are errors unless the Fleet allows them. */
  readonly diagnostics: readonly Diagnostic[];
}

/**
 * Load → check → size → plan. `previous` keeps unchanged replicas where they are; `onStage` hears
 * each stage start (timings, progress).
 */
export async function compile(specDir: string, previous?: Plan, onStage: (stage: string) => void = () => {}): Promise<CompileResult> {
  onStage('load');
  const loaded = loadSpecDir(specDir);
  const catalog = loadModelCatalog();
  const diagnostics = [...loaded.diagnostics, ...catalog.diagnostics];
  if (!loaded.spec || hasErrors(diagnostics)) return { diagnostics: sortDiagnostics(diagnostics) };
  const spec = loaded.spec;

  // Object names depend on the plan at synth; every placement the spec allows is checked here.
  append(diagnostics, servingNameCollisions(spec));
  onStage('size');
  append(diagnostics, checkModels(spec, catalog.models));
  if (hasErrors(diagnostics)) return { diagnostics: sortDiagnostics(diagnostics) };

  const demands = sizeDemands(spec, catalog.models);
  const { planning } = spec.fleet.spec;
  onStage('plan');
  const input: PlanFleetInput = {
    pools: spec.pools.map(poolCapacity),
    demands: demands.map((d) => d.demand),
    headroomPercent: planning.headroomPercent,
    previous,
    optimizer: planning.optimizer,
    timeLimitSeconds: planning.timeLimitSeconds,
  };
  // Each replica's rollout strategy follows from how the plan changes it (moves surge, changes in place recreate).
  const placed = await planFleet(input);
  const unchecked = (why: string) => {
    const message = `this change's rollout is not checked to complete (${why}); review the moves, or make the change in smaller steps`;
    diagnostics.push(diagnostic(spec.fleet.source.at('spec'), 'warning', 'spec', message));
  };
  const plan = withRollouts(placed, { previous, servingInputs: servingInputs(spec), minAvailable: budgetPods(spec, placed), onUnchecked: unchecked });
  append(diagnostics, fitDiagnostics(spec, plan, catalog.models, demands, await exactPlacements(input, plan)));
  append(diagnostics, disruptionBudgetDiagnostics(spec, plan));
  const sized = new Map(demands.map((d) => [d.demand.model, d]));
  const compiled: Compiled = {
    spec,
    plan,
    maxModelLen: new Map(demands.map((d) => [d.demand.model, d.maxModelLen])),
    engineFlags: (model, precision) => sized.get(model)!.engineFlags(precision),
  };
  return { compiled, diagnostics: sortDiagnostics(diagnostics) };
}

/** True for the diagnostic of unschedulable replicas (the plan diff reports those itself). */
export function isUnschedulableDiagnostic(d: Diagnostic): boolean {
  return UNPLACED.test(d.message);
}

/**
 * The machine-readable plan in the output tree. Its extension is not `.json` because
 * `kubectl apply -R -f dist/` reads every `.json`, `.yaml` and `.yml` file as a manifest
 * (kubectl's resource builder, FileExtensions); JSON with comments is a superset, so JSON tools
 * and editors still read it. `plan.json` is where releases before 0.2 wrote it (read, never written).
 */
export const PLAN_FILE = 'plan.jsonc';
export const LEGACY_PLAN_FILE = 'plan.json';
export const PLAN_MARKDOWN_FILE = 'plan.md';

/**
 * The plan as committed: without the churn figures, which describe a change rather than the
 * desired state (they compare against whatever the output held, so a second run would rewrite
 * them). `aim-gpu plan` reports churn against the base.
 */
export function committedPlan(plan: Plan): Plan {
  const { replicaMoves: _moves, profileChanges: _changes, ...summary } = plan.summary;
  return { ...plan, summary: summary as Plan['summary'] };
}

/** The whole `dist/` tree: manifests, the plan, its markdown rendering. */
export function renderDist(compiled: Compiled): Tree {
  const app = new App({ recordConstructMetadata: false });
  buildFleetCharts(app, compiled);
  const plan = committedPlan(compiled.plan);
  return new Map([
    ...renderManifests(app),
    [PLAN_FILE, JSON.stringify(plan, null, 2) + '\n'],
    [PLAN_MARKDOWN_FILE, renderPlanMarkdown(plan)],
  ]);
}
