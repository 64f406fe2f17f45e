import { diagnostic } from '../api/diagnostics.ts';
import type { Diagnostic, Spec } from '../api/types.ts';
import { childName } from './names.ts';

/**
 * Object names a model's serving may claim under any plan: an InferenceService per node of its
 * pools (device plugin) or per replica ordinal (env isolation), the Services KServe creates for
 * each (`<name>`, `<name>-predictor`), and the model's own Service. Names are derived per model,
 * so two models can meet (`a-b` on node `c` and `a` on node `b-c` both give `a-b-c`); `FleetServing`
 * refuses that at synth for the plan it got. Checking every placement here lets `validate` refuse
 * it with a position, before some later plan happens to place the two models there.
 * (Nodes holding replicas of different shapes get hashed names, which do not meet.)
 */
export function servingNameCollisions(spec: Spec): Diagnostic[] {
  const owners = new Map<string, string>();
  const found: Diagnostic[] = [];
  // `<a>-<x>` can only equal `<b>-<y>` (or `<b>`, or `<b>-<y>-predictor`) when one model name
  // is the other's followed by `-`: only such models are expanded, which keeps a fleet of
  // unrelated names (the usual case) at one pass over the names.
  const names = new Set(spec.models.map((m) => m.metadata.name));
  const related = new Set<string>();
  for (const name of names) {
    for (let dash = name.indexOf('-'); dash > 0; dash = name.indexOf('-', dash + 1)) {
      if (names.has(name.slice(0, dash))) related.add(name).add(name.slice(0, dash));
    }
  }
  for (const model of spec.models) {
    const name = model.metadata.name;
    if (!related.has(name)) continue;
    const parts = Array.from({ length: model.spec.replicas }, (_, i) => String(i));
    const claims = new Set([`Service/${name}`]);
    for (const part of parts) {
      const isvc = childName(name, part);
      for (const claim of [`InferenceService/${isvc}`, `Service/${isvc}`, `Service/${isvc}-predictor`]) claims.add(claim);
    }
    const clashes = new Map<string, string>();
    for (const claim of claims) {
      const other = owners.get(claim);
      if (other === undefined) owners.set(claim, name);
      else if (other !== name && !clashes.has(other)) clashes.set(other, claim);
    }
    for (const [other, claim] of clashes) {
      const message = `models "${other}" and "${name}" could both need the name ${claim} (object names join the model name and the replica ordinal); rename one of them`;
      found.push(diagnostic(model.source.at('metadata.name'), 'error', 'metadata.name', message));
    }
  }
  return found;
}
