import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { servedCheckpoint } from '../api/checkpoint.ts';
import { COMPILER_OWNED_ENV, derivedFlagOf } from '../api/reserved.ts';
import type { DeviceResourceNaming, Isolation, Model, NodePool, Precision, SecretKeyRef } from '../api/types.ts';
import { replicaOrdinal } from '../planner/moved.ts';
import type { PlanNode, PlanReplica } from '../planner/types.ts';
import { disruptionBudget, ModelDisruptionBudget } from './disruption-budget.ts';
import { logicalDeviceIndices, partitionResourceName } from './gpu-devices.ts';
import { type DeploymentStrategy, InferenceService } from './inference-service.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, MODEL_LABEL, PROFILE_LABEL, profileLabelValue, REPLICA_LABEL } from './labels.ts';
import { HF_TOKEN_KEY } from './model-service-account.ts';
import { childName } from './names.ts';
import { priorityClassName } from './priority-classes.ts';
import { SERVING_PORT, SERVING_PORT_NAME } from './serving-runtime.ts';

const HOSTNAME_LABEL = 'kubernetes.io/hostname';
/** The only host paths a model pod may mount: the ROCm compute device and the render nodes. */
const GPU_DEVICE_MOUNTS = [
  { name: 'kfd', path: '/dev/kfd', type: 'CharDevice' },
  { name: 'dri', path: '/dev/dri', type: 'Directory' },
] as const;

export interface ModelServingProps {
  readonly model: Model;
  /** The model's placed replicas (the plan's unschedulable ones are not served). */
  readonly replicas: readonly PlanReplica[];
  /** Every node of the plan, by name. */
  readonly nodes: ReadonlyMap<string, PlanNode>;
  /** Every pool of the spec, by name (for the taints model pods tolerate). */
  readonly pools: ReadonlyMap<string, NodePool>;
  readonly namespace: string;
  readonly isolation: Isolation;
  readonly deviceResourceNaming: DeviceResourceNaming;
  /** `--max-model-len`, resolved by sizing. */
  readonly maxModelLen: number;
  /** vLLM flags that select a precision for this model (dtype, quantization, KV-cache dtype). */
  readonly precisionFlags: (precision: Precision) => readonly string[];
  /** Name of the ServingRuntime. */
  readonly runtime: string;
  readonly serviceAccountName: string;
  /**
   * Secret with the Hugging Face token, exposed to vLLM as `HF_TOKEN`.
   * @default - no token
   */
  readonly huggingFaceToken?: SecretKeyRef;
}

/** Host CPU and memory of one replica. */
interface HostResources {
  readonly cpu: number;
  readonly memoryGiB: number;
}

/**
 * Two cores and 8 GiB per tensor-parallel rank for vLLM's API server and engine processes, plus a
 * quarter of the replica's sized GPU memory for staging weights on load (safetensors are read
 * through the page cache, which the kernel reclaims under the limit).
 */
function hostResources(replica: PlanReplica): HostResources {
  return { cpu: 2 * replica.tensorParallel, memoryGiB: 8 * replica.tensorParallel + Math.ceil(replica.memoryGiB / 4) };
}

/** `['--dtype', 'bfloat16']` → `['--dtype=bfloat16']`, matching the `--flag=value` style of the other args. */
function joinFlagValues(flags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i] as string;
    const next = flags[i + 1];
    if (flag.startsWith('--') && !flag.includes('=') && next !== undefined && !next.startsWith('--')) {
      out.push(`${flag}=${next}`);
      i++;
    } else {
      out.push(flag);
    }
  }
  return out;
}

/** KServe's `hf://<owner>/<repo>[:<revision>]`: the storage initializer wants exactly two path parts. */
function huggingFaceUri(modelId: string, revision: string | undefined): string {
  if (!/^[^/\s:]+\/[^/\s:]+$/.test(modelId)) throw new Error(`model id must be "<owner>/<name>", got "${modelId}"`);
  return `hf://${modelId}${revision ? `:${revision}` : ''}`;
}

/** One InferenceService's replica, with its node. */
interface ReplicaGroup {
  readonly node: PlanNode;
  readonly replica: PlanReplica;
  /** The extended resource the replica's partitions are advertised as. */
  readonly resourceName: string;
  /** Suffix of the object name after the model name: the replica's ordinal. */
  readonly namePart: string;
}

/**
 * Serves one model exactly as planned:
 * - `devicePlugin` isolation: one InferenceService per node the model has replicas on, with that
 *   many pods, pinned to the node and requesting the planned partitions from the device plugin;
 * - `env` isolation: one InferenceService per replica, each pod told its exact partitions through
 *   `ROCR_VISIBLE_DEVICES` (an environment variable is not a security boundary: a process in
 *   the pod can open any GPU on the node; use it only among trusted models);
 * plus one Service named after the model spanning all of its pods, and its PodDisruptionBudget
 * (`disruption-budget.ts`) when more than one replica is placed.
 */
export class ModelServing extends Construct {
  public readonly inferenceServices: readonly InferenceService[];
  public readonly serviceName: string;

  constructor(scope: Construct, id: string, props: ModelServingProps) {
    super(scope, id);
    const { model } = props;
    const fail = (message: string): never => {
      throw new Error(`${this.node.path}: ${message}`);
    };
    if (model.spec.runtime !== 'vllm') {
      fail(`runtime "${model.spec.runtime}" is not supported yet: the fleet has no image for it, only images.vllm`);
    }
    if (!Number.isInteger(props.maxModelLen) || props.maxModelLen < 1) fail(`maxModelLen must be a positive integer, got ${props.maxModelLen}`);
    // The spec checks (api/safety-checks.ts) reject both with positions; these lists are theirs.
    const envKeys = Object.keys(model.spec.env);
    const owned = envKeys.filter((name) => Object.hasOwn(COMPILER_OWNED_ENV, name));
    if (owned.length) fail(`spec.env must not set ${owned.join(', ')}: the compiler sets them`);
    const derived = model.spec.args.flatMap((arg) => derivedFlagOf(arg) ?? []);
    if (derived.length) fail(`spec.args must not repeat ${derived.join(', ')}: the compiler derives them`);

    const labels = { [MODEL_LABEL]: model.metadata.name, [MANAGED_BY_LABEL]: MANAGED_BY };
    const services: InferenceService[] = [];
    for (const group of this.groups(props, fail)) {
      const first = group.replica;
      const resourceName = group.resourceName;
      const indices = attempt(() => logicalDeviceIndices(group.node, first.partitions), `replica ${first.id}`, fail);
      const checkpoint = servedCheckpoint(model.spec, first.precision);
      const checkpointField = checkpoint.preQuantized ? `spec.checkpoints.${first.precision}` : 'spec.model';
      const storageUri = attempt(() => huggingFaceUri(checkpoint.model, checkpoint.revision), checkpointField, fail);
      const host = hostResources(first);
      const resources: Record<string, k8s.Quantity> = {
        cpu: k8s.Quantity.fromString(String(host.cpu)),
        memory: k8s.Quantity.fromString(`${host.memoryGiB}Gi`),
      };
      const env: k8s.EnvVar[] = [];
      if (props.huggingFaceToken) {
        env.push({ name: HF_TOKEN_KEY, valueFrom: { secretKeyRef: { name: props.huggingFaceToken.name, key: props.huggingFaceToken.key } } });
      }
      // Older ROCm vLLM builds run AWQ only through its Triton kernels, and only when asked to.
      if (first.precision === 'int4') env.push({ name: 'VLLM_USE_TRITON_AWQ', value: '1' });
      for (const name of [...envKeys].sort()) env.push({ name, value: model.spec.env[name] });
      const pinned = props.isolation === 'env';
      if (pinned) {
        // ROCr filters first; HIP indices then count within what ROCr left visible.
        env.push({ name: 'ROCR_VISIBLE_DEVICES', value: indices.join(',') });
        env.push({ name: 'HIP_VISIBLE_DEVICES', value: indices.map((_, i) => i).join(',') });
      } else {
        resources[resourceName] = k8s.Quantity.fromString(String(first.tensorParallel));
      }
      const pool = props.pools.get(group.node.pool) ?? fail(`node ${group.node.name} names pool "${group.node.pool}", which the spec does not have`);
      const isvcName = childName(model.metadata.name, group.namePart);
      services.push(
        new InferenceService(this, isvcName, {
          name: isvcName,
          namespace: props.namespace,
          labels: { ...labels, [REPLICA_LABEL]: group.namePart },
          replicas: 1,
          deploymentStrategy: deploymentStrategy(first),
          runtime: props.runtime,
          storageUri,
          args: [
            `--served-model-name=${model.metadata.name}`,
            `--max-model-len=${props.maxModelLen}`,
            `--tensor-parallel-size=${first.tensorParallel}`,
            `--gpu-memory-utilization=${first.gpuMemoryUtilization}`,
            // Passed explicitly: vLLM's own defaults depend on the device size, and sizing chose these.
            `--max-num-batched-tokens=${first.maxNumBatchedTokens}`,
            `--max-num-seqs=${first.maxNumSeqs}`,
            ...joinFlagValues(props.precisionFlags(first.precision)),
            ...model.spec.args,
          ],
          env,
          resources,
          nodeSelector: { [HOSTNAME_LABEL]: group.node.name, [PROFILE_LABEL]: profileLabelValue(group.node) },
          tolerations: pool.spec.taints.map((taint) => ({
            key: taint.key,
            operator: taint.value === undefined ? 'Exists' : 'Equal',
            value: taint.value,
            effect: taint.effect,
          })),
          priorityClassName: priorityClassName(model.spec.priority),
          serviceAccountName: props.serviceAccountName,
          gpuResourceTypes: !pinned && resourceName !== 'amd.com/gpu' ? [resourceName] : undefined,
          volumes: pinned ? GPU_DEVICE_MOUNTS.map(({ name, path, type }) => ({ name, hostPath: { path, type } })) : undefined,
          volumeMounts: pinned ? GPU_DEVICE_MOUNTS.map(({ name, path }) => ({ name, mountPath: path })) : undefined,
        }),
      );
    }
    this.inferenceServices = services;

    this.serviceName = model.metadata.name;
    new k8s.KubeService(this, 'Service', {
      metadata: { name: this.serviceName, namespace: props.namespace, labels },
      spec: {
        type: 'ClusterIP',
        selector: { [MODEL_LABEL]: model.metadata.name },
        ports: [{ name: SERVING_PORT_NAME, port: SERVING_PORT, targetPort: k8s.IntOrString.fromNumber(SERVING_PORT), protocol: 'TCP' }],
      },
    });

    const budget = disruptionBudget(model, props.replicas);
    if (budget) new ModelDisruptionBudget(this, 'DisruptionBudget', { model: model.metadata.name, namespace: props.namespace, budget });
  }

  /**
   * One InferenceService per replica, named by its ordinal: a move or a repartition changes one
   * object's pod template, which its Deployment rolls out with the replica's strategy (a count
   * change on a per-node object would delete a pod at sync, before its replacement is Ready).
   */
  private groups(props: ModelServingProps, fail: (message: string) => never): ReplicaGroup[] {
    const name = props.model.metadata.name;
    return props.replicas
      .map((replica) => {
        if (replica.model !== name) fail(`replica ${replica.id} belongs to model "${replica.model}"`);
        const node = props.nodes.get(replica.node) ?? fail(`replica ${replica.id} is placed on node "${replica.node}", which the plan does not have`);
        if (replica.partitions.length !== replica.tensorParallel) {
          fail(`replica ${replica.id} has ${replica.partitions.length} partitions for tensor parallelism ${replica.tensorParallel}`);
        }
        // With `single` naming every partition is `amd.com/gpu`, which only says which size a pod
        // gets when all of a node's partitions match.
        if (props.isolation === 'devicePlugin' && node.mixed && props.deviceResourceNaming === 'single') {
          fail(`node ${node.name} mixes partition profiles, which devicePlugin isolation can only request with deviceResourceNaming: mixed`);
        }
        const resourceName = attempt(() => partitionResourceName(node, replica.partitions, props.deviceResourceNaming), `replica ${replica.id}`, fail);
        return { node, replica, resourceName, namePart: ordinal(replica, fail) };
      })
      .sort((a, b) => Number(a.namePart) - Number(b.namePart));
  }
}

/**
 * The Deployment strategy of a replica's InferenceService (`planner/rollout.ts` decides which).
 * RollingUpdate with maxSurge 1 and maxUnavailable 0 keeps the old pod until the new one is Ready
 * (Kubernetes' deployment controller: availability never below replicas − maxUnavailable); KServe
 * copies `deploymentStrategy` to the Deployment verbatim (pkg/controller/v1beta1/inferenceservice/
 * reconcilers/deployment/deployment_reconciler.go, v0.20.0).
 */
function deploymentStrategy(replica: PlanReplica): DeploymentStrategy {
  return replica.rollout?.strategy === 'surge' ? { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } : { type: 'Recreate' };
}

/** Runs `fn`, turning its error into a construct error about `subject`. */
function attempt<T>(fn: () => T, subject: string, fail: (message: string) => never): T {
  try {
    return fn();
  } catch (error) {
    return fail(`${subject}: ${(error as Error).message}`);
  }
}

function ordinal(replica: PlanReplica, fail: (message: string) => never): string {
  const found = replicaOrdinal(replica.id);
  return found === undefined ? fail(`replica id "${replica.id}" is not "<model>#<ordinal>"`) : String(found);
}
