import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { diagnostic } from '../api/diagnostics.ts';
import { minAvailablePods } from '../api/min-available.ts';
import type { Diagnostic, MinAvailable, Model, Spec } from '../api/types.ts';
import type { Plan, PlanReplica } from '../planner/types.ts';
import { PREDICTOR_POD_LABELS } from './inference-service.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, MODEL_LABEL } from './labels.ts';

/**
 * A model's PodDisruptionBudget, and when it would stall a drain. Model pods are pinned to their
 * planned node (a host node selector), so an evicted pod cannot become Ready anywhere else while
 * its node is cordoned: draining a node holding `k` of a model's `n` placed replicas needs `k`
 * evictions, and a budget of `minAvailable` allows `n - minAvailable` of them until the node is
 * back. The default is therefore the largest budget under which any one node can drain.
 */
export interface DisruptionBudget {
  /** What the PodDisruptionBudget says: the Model's `minAvailable`, or the derived count. */
  readonly minAvailable: MinAvailable;
  /** `minAvailable` in pods, of the placed replicas. */
  readonly pods: number;
  readonly placed: number;
  /** Nodes holding more of the model's replicas than the budget lets go: their drains wait. */
  readonly stalls: readonly { readonly node: string; readonly replicas: number }[];
}

/** Replicas per node, most first, ties by node name. */
function replicasPerNode(replicas: readonly PlanReplica[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const replica of replicas) counts.set(replica.node, (counts.get(replica.node) ?? 0) + 1);
  return [...counts].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The budget of one model, given its placed replicas; none for fewer than two (nothing to keep up
 * while another goes), for a budget of 0 pods, and by default when one node holds every replica
 * (its drain takes the model down whatever the budget says; a budget would only stop the drain).
 */
export function disruptionBudget(model: Model, replicas: readonly PlanReplica[]): DisruptionBudget | undefined {
  const placed = replicas.length;
  if (placed < 2) return undefined;
  const perNode = replicasPerNode(replicas);
  const minAvailable = model.spec.minAvailable ?? placed - perNode[0]![1];
  const pods = minAvailablePods(minAvailable, placed);
  if (pods < 1) return undefined;
  const stalls = perNode.filter(([, count]) => count > placed - pods).map(([node, count]) => ({ node, replicas: count }));
  return { minAvailable, pods, placed, stalls };
}

/** `minAvailable` in pods of every model that gets a budget, by model name. */
export function budgetPods(spec: Spec, plan: Plan): Map<string, number> {
  const byModel = new Map<string, PlanReplica[]>();
  for (const replica of plan.replicas) byModel.set(replica.model, [...(byModel.get(replica.model) ?? []), replica]);
  return new Map(
    spec.models.flatMap((model) => {
      const budget = disruptionBudget(model, byModel.get(model.metadata.name) ?? []);
      return budget ? [[model.metadata.name, budget.pods] as const] : [];
    }),
  );
}

/**
 * A warning at `spec.minAvailable` for each model whose budget stalls the drain of a planned node
 * (the spec check already refuses a budget of every replica; this one needs the plan). The
 * partitioner gives way at each drain timeout and retries, so such a node is never repartitioned.
 */
export function disruptionBudgetDiagnostics(spec: Spec, plan: Plan): Diagnostic[] {
  return spec.models.flatMap((model) => {
    if (model.spec.minAvailable === undefined) return [];
    const budget = disruptionBudget(model, plan.replicas.filter((r) => r.model === model.metadata.name));
    if (!budget || budget.stalls.length === 0) return [];
    const nodes = budget.stalls.map((s) => `${s.node} (${s.replicas})`).join(', ');
    const fits = budget.placed - budget.stalls[0]!.replicas;
    const message =
      `keeps ${budget.pods} of the ${budget.placed} placed replicas Ready, so a drain may evict ${budget.placed - budget.pods}, ` +
      `but the plan puts more on ${nodes}: their pods are pinned there, so draining such a node waits ` +
      `(kubectl drain for ever, the partitioner giving way at each drain timeout and retrying, so the node is never repartitioned); ` +
      (fits > 0 ? `at most ${fits} lets every node drain` : 'one node holds every replica, so only 0 (no budget) lets it drain');
    return [diagnostic(model.source.at('spec.minAvailable'), 'warning', 'spec.minAvailable', message)];
  });
}

export interface ModelDisruptionBudgetProps {
  readonly model: string;
  readonly namespace: string;
  readonly budget: DisruptionBudget;
}

/**
 * policy/v1 PodDisruptionBudget over one model's predictor pods. `unhealthyPodEvictionPolicy:
 * AlwaysAllow` lets a pod that is not Ready (crash-looping, still loading) be evicted even while
 * the model is below its budget: such a pod serves nothing, and under the default
 * (`IfHealthyBudget`) it would hold the drain until the timeout (kubernetes/kubernetes
 * staging/src/k8s.io/api/policy/v1/types.go, pkg/registry/core/pod/storage/eviction.go; feature
 * PDBUnhealthyPodEvictionPolicy beta and on by default from 1.27, GA in 1.31).
 */
export class ModelDisruptionBudget extends Construct {
  constructor(scope: Construct, id: string, props: ModelDisruptionBudgetProps) {
    super(scope, id);
    const { minAvailable } = props.budget;
    new k8s.KubePodDisruptionBudget(this, 'Resource', {
      metadata: { name: props.model, namespace: props.namespace, labels: { [MODEL_LABEL]: props.model, [MANAGED_BY_LABEL]: MANAGED_BY } },
      spec: {
        minAvailable: typeof minAvailable === 'number' ? k8s.IntOrString.fromNumber(minAvailable) : k8s.IntOrString.fromString(minAvailable),
        selector: { matchLabels: { [MODEL_LABEL]: props.model, ...PREDICTOR_POD_LABELS } },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });
  }
}
