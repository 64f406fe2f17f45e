import type { Model, Spec } from '../api/types.ts';
import { fingerprint } from '../planner/moved.ts';

/**
 * Model fields that only decide how many replicas run and where, never what a pod holds: the
 * planner's choices from them (node, partitions, precision, sizing) are part of each replica's own
 * fingerprint (`planner/rollout.ts`). Every other field counts, so a field added later is counted
 * until listed here: counting too much only recomputes a strategy, missing one could keep a
 * `surge` strategy for a change in place, whose new pod would wait for a spare partition for ever.
 */
const PLACEMENT_ONLY: ReadonlySet<string> = new Set(['replicas', 'minAvailable', 'spread', 'slo', 'pools']);

/**
 * Per model, a fingerprint of what its pods are made from besides the plan: the model's serving
 * fields, the fleet's vLLM image and release, isolation, device naming, token Secret and namespace,
 * and the taints of its pools (its tolerations).
 */
export function servingInputs(spec: Spec): Map<string, string> {
  const { fleet } = spec;
  const shared = {
    images: { vllm: fleet.spec.images.vllm, vllmVersion: fleet.spec.images.vllmVersion },
    isolation: fleet.spec.isolation,
    deviceResourceNaming: fleet.spec.deviceResourceNaming,
    huggingFaceToken: fleet.spec.huggingFaceToken,
    namespace: fleet.spec.namespace,
  };
  const taints = new Map(spec.pools.map((p) => [p.metadata.name, p.spec.taints]));
  return new Map(
    spec.models.map((model) => [
      model.metadata.name,
      fingerprint([shared, servingFields(model), model.spec.pools.map((pool) => taints.get(pool) ?? [])]),
    ]),
  );
}

function servingFields(model: Model): [string, unknown][] {
  return Object.entries(model.spec)
    .filter(([key]) => !PLACEMENT_ONLY.has(key))
    .sort(([a], [b]) => (a < b ? -1 : 1));
}
