import { dcmModeProblem } from '../hardware/dcm.ts';
import { findProfile } from '../hardware/gpus.ts';
import { diagnostic, where } from './diagnostics.ts';
import type { Diagnostic, Fleet, NodePool } from './types.ts';
import type { DocumentSource } from './yaml-source.ts';

type Loaded<R> = R & { readonly source: DocumentSource };

/**
 * With `partitioning.backend: gpu-operator`, every profile the planner may give a pool's nodes
 * must be one the GPU Operator's Device Config Manager applies (`hardware/dcm.ts`): otherwise the
 * plan would select a DCM profile that DCM refuses after the node was drained. Reported at the
 * pool's `profiles` item, or at `gpu` when the profiles are the catalog's defaults.
 *
 * The other DCM rules hold by construction: a node's profile assigns exactly its GPUs and skips
 * none (the compiler writes it from the plan), and the planner keeps one memory mode per node
 * (`allowMixedProfiles` mixes NPS1 profiles only). Synth checks the emitted ConfigMap against all
 * of them again.
 */
export function dcmPoolChecks(pool: Loaded<NodePool>, fleet: Loaded<Fleet> | undefined): Diagnostic[] {
  if (fleet?.spec.partitioning.backend !== 'gpu-operator') return [];
  const backend = where(fleet.source.at('spec.partitioning.backend'));
  const written = pool.source.has('spec.profiles');
  const found: Diagnostic[] = [];
  pool.spec.profiles.forEach((name, index) => {
    const profile = findProfile(pool.spec.gpu, name);
    if (!profile) return; // not a profile of the product: poolChecks says so
    const problem = dcmModeProblem(profile.compute, profile.memory);
    if (problem === undefined) return;
    const path = written ? `spec.profiles.${index}` : 'spec.gpu';
    const subject = written ? name : `${name}, a default profile of ${pool.spec.gpu},`;
    const message = `${subject} cannot be applied by the GPU Operator's Device Config Manager (partitioning.backend: gpu-operator at ${backend}): ${problem}${written ? '' : '; list the pool\'s profiles without it'}`;
    found.push(diagnostic(pool.source.at(path), 'error', path, message));
  });
  if (pool.spec.allowMixedProfiles) {
    const path = 'spec.allowMixedProfiles';
    const message = `DCM applies a node with different profiles per GPU as a heterogeneous profile, which AMD calls "not a recommended or supported configuration" (gpu-operator docs/dcm/device-config-manager-configmap.md)`;
    found.push(diagnostic(pool.source.at(path), 'warning', path, message));
  }
  return found;
}
