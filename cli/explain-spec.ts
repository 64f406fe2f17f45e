import { diagnostic, hasErrors } from '../api/diagnostics.ts';
import { loadSpecDir } from '../api/load.ts';
import type { Diagnostic } from '../api/types.ts';
import type { ExplainOptions } from '../sizing/explain.ts';

/**
 * `aim-gpu explain --specs DIR NAME`: the options that explain the Model NAME as configured — its
 * model id, precision (the first allowed one for `auto`), degree, context and concurrency, only its
 * pools' products and profiles with their usable fractions, and the Fleet's headroom — so that
 * explain answers by the planner's rules. Diagnostics when the spec does not load or has no NAME.
 */
export function explainOptionsOf(dir: string, name: string): { id: string; options: ExplainOptions } | { diagnostics: Diagnostic[] } {
  const loaded = loadSpecDir(dir);
  if (!loaded.spec || hasErrors(loaded.diagnostics)) return { diagnostics: [...loaded.diagnostics] };
  const spec = loaded.spec;
  const model = spec.models.find((m) => m.metadata.name === name);
  if (!model) {
    const names = spec.models.map((m) => m.metadata.name).join(', ');
    return { diagnostics: [diagnostic({ file: dir, line: 0, col: 0 }, 'error', '', `no Model named "${name}" in ${dir} (Models: ${names})`)] };
  }
  const s = model.spec;
  const pools = spec.pools.filter((p) => s.pools.includes(p.metadata.name));
  return {
    id: s.model,
    options: {
      ...(s.precision !== undefined && { precision: s.precision === 'auto' ? s.allowedPrecisions[0]! : s.precision }),
      ...(s.tensorParallel !== 'auto' && { tensorParallel: s.tensorParallel }),
      ...(s.maxModelLen !== undefined && { maxModelLen: s.maxModelLen }),
      concurrency: s.concurrency,
      fullSlidingWindowKv: s.fullSlidingWindowKv,
      headroomPercent: spec.fleet.spec.planning.headroomPercent,
      pools: pools.map((p) => ({
        name: p.metadata.name,
        gpu: p.spec.gpu,
        gpusPerNode: p.spec.gpusPerNode,
        profiles: p.spec.profiles,
        usableMemoryFraction: p.spec.usableMemoryFraction,
      })),
    },
  };
}
