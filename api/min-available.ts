import { diagnostic } from './diagnostics.ts';
import type { Diagnostic, MinAvailable, Model } from './types.ts';
import type { DocumentSource } from './yaml-source.ts';

/**
 * A model's `minAvailable` in pods, read as Kubernetes reads a PodDisruptionBudget's: a count as
 * written, a percentage of the expected pods rounded up (the disruption controller's
 * `intstr.GetScaledValueFromIntOrPercent(minAvailable, expectedCount, true)`,
 * kubernetes/kubernetes pkg/controller/disruption/disruption.go). Rounding up keeps at least the
 * share asked for.
 */
export function minAvailablePods(value: MinAvailable, pods: number): number {
  if (typeof value === 'number') return value;
  return Math.ceil((Number(value.slice(0, -1)) * pods) / 100);
}

/**
 * A budget of all the model's replicas (or more) lets the Eviction API evict none of them: every
 * drain of a node holding one would wait: kubectl drain for ever; the partitioner gives way at each
 * drain timeout and retries, so the node is never repartitioned. One replica needs no budget, so it
 * is not checked.
 */
export function minAvailableChecks(model: Model & { readonly source: DocumentSource }): Diagnostic[] {
  const { minAvailable, replicas } = model.spec;
  if (minAvailable === undefined || replicas < 2) return [];
  const pods = minAvailablePods(minAvailable, replicas);
  if (pods < replicas) return [];
  const shown = typeof minAvailable === 'number' ? String(pods) : `${minAvailable} of ${replicas}, rounded up, is ${pods}`;
  const message =
    `must be below replicas (${replicas}): with ${shown} no replica could ever be evicted, so draining any of its nodes would wait ` +
    `(kubectl drain for ever, the partitioner giving way at each drain timeout and retrying, so the node is never repartitioned); at most ${replicas - 1}, or 0 for no budget`;
  return [diagnostic(model.source.at('spec.minAvailable'), 'error', 'spec.minAvailable', message)];
}
