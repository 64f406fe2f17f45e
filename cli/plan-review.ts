import { formatDiagnostic } from '../api/diagnostics.ts';
import type { Files } from '../review/files.ts';
import { reviewChange, type ReviewDiff } from '../review/review.ts';
import { compile, type CompileResult, isUnschedulableDiagnostic, renderDist } from './compile.ts';
import { planInTree } from './outputs.ts';

export interface PlanReview {
  readonly result: CompileResult;
  /** Present when the specs compiled. */
  readonly diff?: ReviewDiff;
}

/**
 * `aim-gpu plan`'s pipeline: compile the specs against the plan in `baseFiles` (the output tree
 * at the base), render the output they would commit, and review the change file by file.
 */
export async function planReview(
  specDir: string,
  baseFiles: Files,
  onStage: (stage: string) => void = () => {},
  where = 'base',
): Promise<PlanReview> {
  // A base plan that is not a plan (conflict markers, …) is a warning: the review plans from scratch.
  const previous = planInTree(baseFiles, where);
  const base = previous.plan;
  const compiled = await compile(specDir, base, onStage);
  const result = { ...compiled, diagnostics: [...previous.diagnostics, ...compiled.diagnostics] };
  if (!result.compiled) return { result };
  onStage('construct');
  const nextFiles = renderDist(result.compiled);
  onStage('diff');
  const { plan, spec } = result.compiled;
  const diff = reviewChange({
    base,
    next: plan,
    baseFiles,
    nextFiles,
    priorities: new Map(spec.models.map((m) => [m.metadata.name, m.spec.priority])),
    // Unschedulable replicas are in the diff itself, once each.
    diagnostics: result.diagnostics.filter((d) => d.severity === 'warning' && !isUnschedulableDiagnostic(d)).map(formatDiagnostic),
  });
  return { result, diff };
}
