import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { MODEL_CONTAINER_SECURITY, MODEL_POD_SECURITY } from './container-security.ts';
import { INFERENCE_SERVICE_NAME_MAX, isDns1035Label } from './names.ts';
import { KSERVE_CONTAINER_NAME, VLLM_MODEL_FORMAT } from './serving-runtime.ts';

export const DEPLOYMENT_MODE_ANNOTATION = 'serving.kserve.io/deploymentMode';
export const AUTOSCALER_CLASS_ANNOTATION = 'serving.kserve.io/autoscalerClass';
export const GPU_RESOURCE_TYPES_ANNOTATION = 'serving.kserve.io/gpu-resource-types';
/**
 * KServe labels every predictor pod `component: predictor` (and `serving.kserve.io/inferenceservice:
 * <name>`) on top of `spec.predictor.labels` (kserve/kserve pkg/controller/v1beta1/inferenceservice/
 * components/predictor.go, v0.20.0): with the model label it selects exactly a model's serving pods.
 */
export const PREDICTOR_POD_LABELS: Readonly<Record<string, string>> = { component: 'predictor' };

/** `Deployment.spec.strategy`, which KServe copies from `spec.predictor.deploymentStrategy` verbatim. */
export type DeploymentStrategy =
  | { readonly type: 'Recreate' }
  | { readonly type: 'RollingUpdate'; readonly rollingUpdate: { readonly maxSurge: number; readonly maxUnavailable: number } };

export interface InferenceServiceProps {
  /** DNS-1035 label of at most 53 characters (KServe derives `<name>-predictor`). */
  readonly name: string;
  readonly namespace: string;
  /** Labels of the InferenceService and of its predictor pods. */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Annotations of the InferenceService alone (not of its pods).
   * @default - only KServe's mode and autoscaler annotations
   */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Fixed pod count: the replicas the plan puts behind this object. */
  readonly replicas: number;
  /** Name of the ServingRuntime in `namespace`. */
  readonly runtime: string;
  readonly storageUri: string;
  /** Appended by KServe to the runtime's args. */
  readonly args: readonly string[];
  readonly env: readonly k8s.EnvVar[];
  /** Requested and limited alike (Guaranteed QoS; partitions cannot be overcommitted anyway). */
  readonly resources: Readonly<Record<string, k8s.Quantity>>;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly k8s.Toleration[];
  readonly priorityClassName: string;
  readonly serviceAccountName: string;
  /**
   * How a changed pod template rolls out.
   * @default { type: 'Recreate' }: a new pod cannot get a partition until the old one frees it
   */
  readonly deploymentStrategy?: DeploymentStrategy;
  /**
   * Extra GPU resource names for KServe to accept besides its built-in list.
   * @default - none (`amd.com/gpu` is built in)
   */
  readonly gpuResourceTypes?: readonly string[];
  /** @default - none */
  readonly volumes?: readonly k8s.Volume[];
  /** @default - none */
  readonly volumeMounts?: readonly k8s.VolumeMount[];
}

/**
 * A KServe InferenceService (v1beta1) in Standard mode that runs exactly `replicas` pods of a
 * vLLM model where it is told to. No autoscaler: a partition is a fixed slot, so replicas equal
 * `minReplicas` (`autoscalerClass: none`). Rollouts recreate by default, because a new pod on the
 * same partitions cannot start until the old one frees them; a move surges. The mode annotation says `Standard`: KServe's
 * webhook rewrites the legacy `RawDeployment`, which GitOps would report as drift forever.
 */
export class InferenceService extends Construct {
  public readonly name: string;

  constructor(scope: Construct, id: string, props: InferenceServiceProps) {
    super(scope, id);
    if (!isDns1035Label(props.name, INFERENCE_SERVICE_NAME_MAX)) {
      throw new Error(
        `${this.node.path}: name must match [a-z]([-a-z0-9]*[a-z0-9])? and have at most ${INFERENCE_SERVICE_NAME_MAX} characters, got "${props.name}"`,
      );
    }
    if (!Number.isInteger(props.replicas) || props.replicas < 1) {
      throw new Error(`${this.node.path}: replicas must be a positive integer, got ${props.replicas}`);
    }
    this.name = props.name;
    const annotations: Record<string, string> = {
      ...props.annotations,
      [DEPLOYMENT_MODE_ANNOTATION]: 'Standard',
      [AUTOSCALER_CLASS_ANNOTATION]: 'none',
    };
    if (props.gpuResourceTypes?.length) annotations[GPU_RESOURCE_TYPES_ANNOTATION] = JSON.stringify(props.gpuResourceTypes);

    const container = k8s.toJson_Container({
      name: KSERVE_CONTAINER_NAME,
      args: [...props.args],
      env: props.env.length ? [...props.env] : undefined,
      resources: { requests: { ...props.resources }, limits: { ...props.resources } },
      securityContext: MODEL_CONTAINER_SECURITY,
      volumeMounts: props.volumeMounts?.length ? [...props.volumeMounts] : undefined,
    });
    new ApiObject(this, 'Resource', {
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels }, annotations },
      spec: {
        predictor: {
          minReplicas: props.replicas,
          maxReplicas: props.replicas,
          deploymentStrategy: props.deploymentStrategy ?? { type: 'Recreate' },
          labels: { ...props.labels },
          nodeSelector: { ...props.nodeSelector },
          tolerations: props.tolerations.length ? props.tolerations.map((t) => k8s.toJson_Toleration(t)) : undefined,
          priorityClassName: props.priorityClassName,
          serviceAccountName: props.serviceAccountName,
          automountServiceAccountToken: false,
          securityContext: k8s.toJson_PodSecurityContext(MODEL_POD_SECURITY),
          volumes: props.volumes?.length ? props.volumes.map((v) => k8s.toJson_Volume(v)) : undefined,
          model: {
            ...container,
            modelFormat: { ...VLLM_MODEL_FORMAT },
            runtime: props.runtime,
            storageUri: props.storageUri,
          },
        },
      },
    });
  }
}
