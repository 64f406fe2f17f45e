import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { IMAGE_DIGEST } from '../api/reserved.ts';
import { MODEL_CONTAINER_SECURITY } from './container-security.ts';

export const VLLM_RUNTIME_NAME = 'vllm-rocm';
export const VLLM_MODEL_FORMAT = { name: 'vLLM', version: '1' } as const;
/** The container KServe merges the InferenceService's `predictor.model` into. */
export const KSERVE_CONTAINER_NAME = 'kserve-container';
/** vLLM's OpenAI API and its Prometheus `/metrics` share this port. */
export const SERVING_PORT = 8080;
export const SERVING_PORT_NAME = 'http';
/** Where the storage initializer puts the downloaded model. */
export const MODEL_MOUNT_PATH = '/mnt/models';


export interface VllmServingRuntimeProps {
  readonly namespace: string;
  /** ROCm vLLM image, pinned by digest (`vllm/vllm-openai-rocm:<tag>@sha256:<digest>`). */
  readonly image: string;
  /**
   * Size of the `/dev/shm` memory volume (tensor-parallel ranks exchange through it); it counts
   * against the container's memory limit.
   * @default 8Gi
   */
  readonly sharedMemorySize?: string;
}

/**
 * A namespaced KServe ServingRuntime for vLLM on ROCm. Its name is not one of KServe's built-in
 * runtimes and it has no `serving.kserve.io/server-type` annotation, and the image is pinned by
 * digest: each of these on its own keeps KServe's `UpdateImageTag` from swapping the image for a
 * CPU or CUDA sibling (it only recognises `nvidia.com/gpu` as a GPU).
 *
 * The runtime holds what every model shares; each InferenceService appends its engine flags
 * (KServe concatenates runtime args and model args) and sets its resources, which win the merge.
 * `--served-model-name` is set per InferenceService to the model name, so every InferenceService
 * of one model, and the Service spanning them, answer to the same name (KServe's `{{.Name}}`
 * would give the per-node object name).
 */
export class VllmServingRuntime extends Construct {
  public readonly name = VLLM_RUNTIME_NAME;

  constructor(scope: Construct, id: string, props: VllmServingRuntimeProps) {
    super(scope, id);
    if (!IMAGE_DIGEST.test(props.image)) {
      throw new Error(`${this.node.path}: the vLLM image must be pinned by digest (…@sha256:<64 hex>), got "${props.image}"`);
    }
    const container: k8s.Container = {
      name: KSERVE_CONTAINER_NAME,
      image: props.image,
      command: ['python3', '-m', 'vllm.entrypoints.openai.api_server'],
      args: [`--port=${SERVING_PORT}`, `--model=${MODEL_MOUNT_PATH}`],
      env: [
        { name: 'HF_HOME', value: '/tmp/hf_home' },
        { name: 'VLLM_CONFIG_ROOT', value: '/tmp/vllm' },
        { name: 'VLLM_NO_USAGE_STATS', value: '1' },
        { name: 'VLLM_WORKER_MULTIPROC_METHOD', value: 'spawn' },
        // ROCm tuning AMD recommends for vLLM on Instinct (ROCm vLLM V1 optimization guide).
        { name: 'HIP_FORCE_DEV_KERNARG', value: '1' },
        { name: 'TORCH_BLAS_PREFER_HIPBLASLT', value: '1' },
      ],
      ports: [{ name: SERVING_PORT_NAME, containerPort: SERVING_PORT, protocol: 'TCP' }],
      // vLLM listens only once the weights are loaded: the startup probe allows 30 minutes for
      // large models, readiness then tracks the engine.
      startupProbe: { httpGet: { path: '/health', port: k8s.IntOrString.fromNumber(SERVING_PORT) }, periodSeconds: 30, failureThreshold: 60 },
      readinessProbe: { httpGet: { path: '/health', port: k8s.IntOrString.fromNumber(SERVING_PORT) }, periodSeconds: 10, failureThreshold: 3 },
      // Placeholders every InferenceService replaces with its sized values.
      resources: {
        requests: { cpu: k8s.Quantity.fromString('2'), memory: k8s.Quantity.fromString('16Gi') },
        limits: { cpu: k8s.Quantity.fromString('2'), memory: k8s.Quantity.fromString('16Gi') },
      },
      securityContext: MODEL_CONTAINER_SECURITY,
      volumeMounts: [{ name: 'devshm', mountPath: '/dev/shm' }],
    };
    const sharedMemory: k8s.Volume = {
      name: 'devshm',
      emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString(props.sharedMemorySize ?? '8Gi') },
    };
    new ApiObject(this, 'Resource', {
      apiVersion: 'serving.kserve.io/v1alpha1',
      kind: 'ServingRuntime',
      metadata: { name: VLLM_RUNTIME_NAME, namespace: props.namespace },
      spec: {
        annotations: { 'prometheus.kserve.io/port': String(SERVING_PORT), 'prometheus.kserve.io/path': '/metrics' },
        supportedModelFormats: [{ ...VLLM_MODEL_FORMAT, autoSelect: true }],
        multiModel: false,
        containers: [k8s.toJson_Container(container)],
        volumes: [k8s.toJson_Volume(sharedMemory)],
      },
    });
  }
}
