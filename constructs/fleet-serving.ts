import { Construct } from 'constructs';
import type { NodePool, Precision, Spec } from '../api/types.ts';
import type { Plan, PlanNode, PlanReplica } from '../planner/types.ts';
import { ModelServiceAccount } from './model-service-account.ts';
import { ModelServing } from './model-serving.ts';
import { VllmServingRuntime } from './serving-runtime.ts';

export interface FleetServingProps {
  readonly spec: Spec;
  readonly plan: Plan;
  /** Resolved `--max-model-len` per model name. */
  readonly maxModelLen: ReadonlyMap<string, number>;
  /** vLLM flags selecting a model's precision (dtype, quantization, KV-cache dtype). */
  readonly engineFlags: (model: string, precision: Precision) => readonly string[];
}

/**
 * Everything that serves the fleet's models, in two parts applied in order: `runtime` (the
 * ServingRuntime and the model ServiceAccount) before `models` (InferenceServices and Services).
 */
export class FleetServing extends Construct {
  public readonly runtime: Construct;
  public readonly models: Construct;

  constructor(scope: Construct, id: string, props: FleetServingProps) {
    super(scope, id);
    const { fleet } = props.spec;
    const namespace = fleet.spec.namespace;

    this.runtime = new Construct(this, 'Runtime');
    const runtime = new VllmServingRuntime(this.runtime, 'Vllm', { namespace, image: fleet.spec.images.vllm });
    const account = new ModelServiceAccount(this.runtime, 'ServiceAccount', { namespace, huggingFaceToken: fleet.spec.huggingFaceToken });

    const models = new Map(props.spec.models.map((m) => [m.metadata.name, m]));
    const replicasByModel = new Map<string, PlanReplica[]>();
    for (const replica of props.plan.replicas) {
      if (!models.has(replica.model)) throw new Error(`${this.node.path}: plan replica ${replica.id} names model "${replica.model}", which the spec does not have`);
      replicasByModel.set(replica.model, [...(replicasByModel.get(replica.model) ?? []), replica]);
    }
    const nodes = new Map<string, PlanNode>(props.plan.nodes.map((n) => [n.name, n]));
    const pools = new Map<string, NodePool>(props.spec.pools.map((p) => [p.metadata.name, p]));

    this.models = new Construct(this, 'Models');
    const served = [...models.values()]
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))
      .map((model) => {
        const name = model.metadata.name;
        const maxModelLen = props.maxModelLen.get(name);
        if (maxModelLen === undefined) throw new Error(`${this.node.path}: no resolved maxModelLen for model "${name}"`);
        return new ModelServing(this.models, name, {
          model,
          replicas: replicasByModel.get(name) ?? [],
          nodes,
          pools,
          namespace,
          isolation: fleet.spec.isolation,
          deviceResourceNaming: fleet.spec.deviceResourceNaming,
          maxModelLen,
          precisionFlags: (precision) => props.engineFlags(name, precision),
          runtime: runtime.name,
          serviceAccountName: account.name,
          huggingFaceToken: fleet.spec.huggingFaceToken,
        });
      });
    this.checkNamesAreDistinct(served);
  }

  /**
   * Models' object names are derived independently, so two can meet: model `a-b` on node `c` and
   * model `a` on node `b-c` both give `a-b-c`. KServe also creates Services for each
   * InferenceService (`<name>-predictor`, and in some setups `<name>`), which a model's Service
   * must not shadow.
   */
  private checkNamesAreDistinct(served: readonly ModelServing[]): void {
    const owners = new Map<string, string>();
    const claim = (name: string, owner: string): void => {
      const other = owners.get(name);
      if (other) throw new Error(`${this.node.path}: ${owner} and ${other} both need the name "${name}"; rename one of the models`);
      owners.set(name, owner);
    };
    for (const model of served) {
      for (const isvc of model.inferenceServices) {
        claim(`InferenceService/${isvc.name}`, `an InferenceService of model ${model.node.id}`);
        claim(`Service/${isvc.name}`, `the Service KServe may create for an InferenceService of model ${model.node.id}`);
        claim(`Service/${isvc.name}-predictor`, `the predictor Service of an InferenceService of model ${model.node.id}`);
      }
      claim(`Service/${model.serviceName}`, `the Service of model ${model.node.id}`);
    }
  }
}
