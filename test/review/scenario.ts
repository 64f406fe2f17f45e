import { cpSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDiagnostic } from '../../api/diagnostics.ts';
import { compile, PLAN_FILE, renderDist } from '../../cli/compile.ts';
import { planReview } from '../../cli/plan-review.ts';
import type { Plan } from '../../planner/types.ts';
import type { ReviewDiff } from '../../review/review.ts';

export const SCENARIOS = join(import.meta.dirname, '..', 'scenarios');

/** Every scenario: a folder holding a `before/` and an `after/` spec tree (the Fleet is shared). */
export function scenarioNames(): string[] {
  return readdirSync(SCENARIOS, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** One side of a scenario as a spec directory: its files plus the shared fleet.yaml, unless it has its own. */
function specTree(name: string, side: 'before' | 'after'): string {
  const dir = mkdtempSync(join(tmpdir(), `aim-gpu-scenario-${name}-${side}-`));
  cpSync(join(SCENARIOS, name, side), dir, { recursive: true });
  if (!existsSync(join(dir, 'fleet.yaml'))) cpSync(join(SCENARIOS, 'fleet.yaml'), join(dir, 'fleet.yaml'));
  return dir;
}

export interface ScenarioRun {
  readonly base: Plan;
  readonly next: Plan;
  readonly diff: ReviewDiff;
}

/**
 * Compiles `before` as the committed state (its plan and output files), then reviews `after`
 * against it through the pipeline `aim-gpu plan --base` runs after a spec edit.
 */
export async function runScenario(name: string): Promise<ScenarioRun> {
  const before = await compile(specTree(name, 'before'));
  if (!before.compiled) throw new Error(`${name}/before: ${before.diagnostics.map(formatDiagnostic).join('\n')}`);
  const baseFiles = renderDist(before.compiled);
  const { result, diff } = await planReview(specTree(name, 'after'), baseFiles);
  if (!result.compiled || !diff) throw new Error(`${name}/after: ${result.diagnostics.map(formatDiagnostic).join('\n')}`);
  return { base: JSON.parse(baseFiles.get(PLAN_FILE)!) as Plan, next: result.compiled.plan, diff };
}
