import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { imagePinning } from '../api/reserved.ts';
import { DEFAULT_GPU_OPERATOR } from '../api/resolve.ts';
import type { DeviceResourceNaming, Isolation, NodePool, PartitioningBackend } from '../api/types.ts';
import { DCM_APP_NAME, DCM_PROFILE_LABEL, DCM_STATE_LABEL } from '../hardware/dcm.ts';
import type { PlanNode, PlanReplica } from '../planner/types.ts';
import { DCM_CONFIGMAP_NAME, dcmConfigMapData, dcmPlan, dcmPlanProblems } from './dcm-profiles.ts';
import {
  CORDONED_ANNOTATION,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  MODEL_LABEL,
  PARTITION_STATE_LABEL,
  PARTITIONING_TAINT_KEY,
  PROFILE_LABEL,
  RELOAD_ANNOTATION,
  REPLICA_LABEL,
} from './labels.ts';
import { NodeSelfPatchPolicy } from './node-self-patch-policy.ts';
import { type NodePartitionProfile, partitionPlanProblems, partitionProfilesData } from './partition-profiles.ts';
import { PartitionRbac } from './partition-rbac.ts';
import { type BackendPod, builtinPod, dcmPod } from './partitioner-pods.ts';
import { dcmLockHeldSeconds, DEFAULT_PARTITION_TIMEOUTS, lockHeldSeconds, type PartitionTimeouts, timeoutProblems } from './partition-timeouts.ts';

/**
 * Each backend's node script, shipped in a ConfigMap with the files it sources and run by bash in
 * the partitioner image: the builtin amd-smi partitioner, or the orchestrator around the GPU
 * Operator's Device Config Manager.
 */
const SCRIPT_FILES = { builtin: 'partition-node.sh', 'gpu-operator': 'dcm-node.sh' } as const satisfies Record<PartitioningBackend, string>;
/** Files of `constructs/scripts/` every node script needs. */
export const SHARED_SCRIPT_FILES = ['node-rollout.sh', 'node_json.py'] as const;

/** A file of `constructs/scripts/`. Through the project root, so the bundled CLI in `.build/` (one level deep too) reads the same file. */
export function scriptFile(name: string): string {
  return readFileSync(new URL(`../constructs/scripts/${name}`, import.meta.url), 'utf8');
}

/** metadata.name of the DaemonSet, ServiceAccount and ClusterRole; the other objects add a suffix. */
export const NODE_PARTITIONER_NAME = 'aim-node-partitioner';
/** Pod-template annotation carrying the sha256 of both ConfigMaps, so any change rolls the pods. */
export const CONFIG_HASH_ANNOTATION = 'gpusharing.aim/config-sha256';

/**
 * The GPU Operator labels the pods of a DeviceConfig's operands `daemonset-name=<DeviceConfig
 * name>` (ROCm/gpu-operator internal/plugin/plugin.go, internal/nodelabeller/nodelabeller.go,
 * internal/metricsexporter): the device plugin, node labeller and metrics exporter, which must
 * restart to see new partitions, but also the Device Config Manager (internal/configmanager), which
 * must not be deleted: the partitioning taint would keep it off the node. Its documented
 * DeviceConfig is `gpu-operator` in `kube-amd-gpu`.
 */
export function operandSelector(deviceConfig: string): string {
  return `daemonset-name=${deviceConfig},app.kubernetes.io/name!=${DCM_APP_NAME}`;
}

/** The DCM pods of a DeviceConfig (internal/configmanager: `daemonset-name` and `app.kubernetes.io/name`). */
export function dcmSelector(deviceConfig: string): string {
  return `daemonset-name=${deviceConfig},app.kubernetes.io/name=${DCM_APP_NAME}`;
}

export const DEFAULT_DEVICE_CONFIG = DEFAULT_GPU_OPERATOR.deviceConfig;
export const DEFAULT_DEVICE_PLUGIN_NAMESPACE = DEFAULT_GPU_OPERATOR.namespace;

const PROFILES_DIR = '/etc/aim-gpu-sharing/profiles';
const SCRIPT_DIR = '/opt/aim-gpu-sharing';
const READY_FILE = '/tmp/partition-ready';

export interface NodePartitioningProps {
  /** Namespace for the DaemonSet, ServiceAccount, ConfigMaps, Leases and the Events role. */
  readonly namespace: string;
  /** Namespace of the model pods (the drain waits for moved replicas there). */
  readonly modelNamespace: string;
  /** Image with amd-smi, kubectl, bash, python3, coreutils and kmod (see the Dockerfile), pinned by tag or digest. */
  readonly image: string;
  /** The fleet's pools: the DaemonSet tolerates their taints. */
  readonly pools: readonly NodePool[];
  /** The plan's nodes: one pod each, partitioned to the node's planned profile. */
  readonly nodes: readonly PlanNode[];
  /** The plan's replicas: which models each node holds, for the wait on moved replicas. */
  readonly replicas: readonly PlanReplica[];
  /** How the device plugin names partitions: the allocatable verified after a change. */
  readonly deviceResourceNaming: DeviceResourceNaming;
  /** With `env` there is no device plugin and no allocatable to verify. */
  readonly isolation: Isolation;
  /**
   * Nodes under change at once, fleet-wide (one Lease each).
   * @default 1
   */
  readonly maxUnavailableNodes?: number;
  /** @default DEFAULT_PARTITION_TIMEOUTS */
  readonly timeouts?: Partial<PartitionTimeouts>;
  /**
   * Namespace of the GPU Operator: the operand pods restarted on a node after repartitioning, and
   * with the `gpu-operator` backend its Device Config Manager and the DCM profiles ConfigMap.
   * @default kube-amd-gpu
   */
  readonly devicePluginNamespace?: string;
  /**
   * Label selector of the operand pods (device plugin, node labeller, metrics exporter).
   * @default operandSelector(deviceConfig)
   */
  readonly devicePluginSelector?: string;
  /**
   * `builtin`: this DaemonSet partitions with amd-smi (privileged). `gpu-operator`: DCM partitions;
   * the DaemonSet is an unprivileged orchestrator that selects DCM profiles by node label.
   * @default builtin
   */
  readonly backend?: PartitioningBackend;
  /** metadata.name of the GPU Operator's DeviceConfig (selects its DCM and operand pods). @default gpu-operator */
  readonly deviceConfig?: string;
  /** systemd units DCM stops on the host before partitioning (`gpu-operator` backend). @default [amd-metrics-exporter, gpuagent] */
  readonly gpuClientSystemdServices?: readonly string[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;


/**
 * Puts every planned GPU node into its planned partition profile: a DaemonSet over the plan's nodes
 * compares the node with its entry in the profiles ConfigMap and, only when they differ, waits for
 * the replicas moving elsewhere, takes one of `maxUnavailableNodes` Leases, cordons, evicts the pods
 * holding GPUs through the Eviction API, has the GPUs repartitioned, restarts the GPU Operator's
 * operands, waits for the planned allocatable and uncordons (`scripts/node-rollout.sh`).
 *
 * Who repartitions is the backend. `builtin`: the pod itself, privileged, with amd-smi and modprobe
 * (`scripts/partition-node.sh`), after the host's GPU processes ended. `gpu-operator`: the GPU
 * Operator's Device Config Manager, which the unprivileged pod drives through the node label
 * `dcm.amd.com/gpu-config-profile` and a DCM profiles ConfigMap written to the operator's namespace
 * (`scripts/dcm-node.sh`, `dcm-profiles.ts`); no amd-smi or modprobe runs in our pods.
 *
 * Put it in a chart whose namespace is unset or matches `namespace`; cluster-scoped objects drop a
 * chart namespace. With `builtin` the namespace must admit privileged pods (Pod Security `privileged`).
 */
export class NodePartitioning extends Construct {
  public readonly daemonSet: k8s.KubeDaemonSet;
  public readonly profilesConfigMap: k8s.KubeConfigMap;
  public readonly scriptConfigMap: k8s.KubeConfigMap;
  /** The Device Config Manager's profiles, with the `gpu-operator` backend. */
  public readonly dcmConfigMap?: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: NodePartitioningProps) {
    super(scope, id);
    const backend = props.backend ?? 'builtin';
    const deviceConfig = props.deviceConfig ?? DEFAULT_DEVICE_CONFIG;
    const devicePluginNamespace = props.devicePluginNamespace ?? DEFAULT_DEVICE_PLUGIN_NAMESPACE;
    const devicePluginSelector = props.devicePluginSelector ?? operandSelector(deviceConfig);
    const timeouts = { ...DEFAULT_PARTITION_TIMEOUTS, ...props.timeouts };
    const maxUnavailableNodes = props.maxUnavailableNodes ?? 1;
    const dcm = backend === 'gpu-operator' ? dcmPlan(props.nodes, props.pools, props.gpuClientSystemdServices ?? DEFAULT_GPU_OPERATOR.gpuClientSystemdServices) : undefined;

    const problems = [
      ...propsProblems(props, devicePluginNamespace, devicePluginSelector, maxUnavailableNodes),
      ...timeoutProblems(timeouts),
      ...partitionPlanProblems(props.pools, props.nodes),
      ...(dcm ? dcmPlanProblems(dcm).map((problem) => `DCM profiles: ${problem}`) : []),
    ];
    if (problems.length > 0) {
      throw new Error(problems.map((problem) => `[${this.node.path}] ${problem}`).join('\n'));
    }

    const name = NODE_PARTITIONER_NAME;
    const { namespace } = props;
    const labels = { 'app.kubernetes.io/name': name, [MANAGED_BY_LABEL]: MANAGED_BY };
    const nodeNames = props.nodes.map((node) => node.name).sort();
    const gpusPerNode = Math.max(...props.nodes.map((node) => node.gpus.length));

    const rbac = new PartitionRbac(this, 'Rbac', { name, namespace, labels, nodeNames, devicePluginNamespace, readDcmEvents: dcm !== undefined });
    new NodeSelfPatchPolicy(this, 'SelfPatch', { name, serviceAccount: { name, namespace }, labels });

    if (dcm) {
      this.dcmConfigMap = new k8s.KubeConfigMap(this, 'DcmProfiles', {
        metadata: { name: DCM_CONFIGMAP_NAME, namespace: devicePluginNamespace, labels },
        data: dcmConfigMapData(dcm.config),
      });
    }
    const scriptFileName = SCRIPT_FILES[backend];
    const profilesData = partitionProfilesData(props.nodes, { ...props, backend });
    const scriptData = Object.fromEntries([scriptFileName, ...SHARED_SCRIPT_FILES].sort().map((file) => [file, scriptFile(file)]));
    this.profilesConfigMap = new k8s.KubeConfigMap(this, 'Profiles', {
      metadata: { name: `${name}-profiles`, namespace, labels },
      data: profilesData,
    });
    this.scriptConfigMap = new k8s.KubeConfigMap(this, 'Script', {
      metadata: { name: `${name}-script`, namespace, labels },
      data: scriptData,
    });
    const configHash = configHashOf(profilesData, scriptData);

    const sharedEnv = {
      DEVICE_PLUGIN_NAMESPACE: devicePluginNamespace,
      DEVICE_PLUGIN_SELECTOR: devicePluginSelector,
    };
    const rollout = { modelNamespace: props.modelNamespace, lockName: name, maxUnavailableNodes, timeouts };
    const pod: BackendPod =
      backend === 'builtin'
        ? builtinPod(timeouts, gpusPerNode, { ...rolloutEnv({ ...rollout, lockSeconds: lockHeldSeconds(timeouts, gpusPerNode) }), RELOAD_ANNOTATION, ...sharedEnv })
        : dcmPod(timeouts, {
            ...rolloutEnv({ ...rollout, lockSeconds: dcmLockHeldSeconds(timeouts) }),
            ...sharedEnv,
            DCM_PROFILE_LABEL,
            DCM_STATE_LABEL,
            DCM_SELECTOR: dcmSelector(deviceConfig),
            DCM_TIMEOUT_SECONDS: String(timeouts.dcmSeconds),
          });

    this.daemonSet = new k8s.KubeDaemonSet(this, 'Resource', {
      metadata: { name, namespace, labels },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': name } },
        // The Leases order the fleet's changes; the update only replaces pods, which are ready once
        // they run with a readable plan (they must not wait for serving objects a later wave creates).
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(1) } },
        template: {
          metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: configHash } },
          spec: {
            serviceAccountName: rbac.serviceAccountName,
            // The script calls the API server with kubectl.
            automountServiceAccountToken: true,
            priorityClassName: 'system-node-critical',
            terminationGracePeriodSeconds: pod.terminationGraceSeconds,
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: nodeNames }] },
                  ],
                },
              },
            },
            tolerations: tolerations(props.pools),
            containers: [
              {
                name: pod.containerName,
                image: props.image,
                imagePullPolicy: 'IfNotPresent',
                command: ['/bin/bash', `${SCRIPT_DIR}/${scriptFileName}`],
                env: [
                  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                  { name: 'EVENT_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  ...envVars(pod.env),
                ],
                securityContext: pod.securityContext,
                resources: {
                  requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('128Mi') },
                  limits: { cpu: k8s.Quantity.fromString('500m'), memory: k8s.Quantity.fromString('512Mi') },
                },
                readinessProbe: { exec: { command: ['cat', READY_FILE] }, periodSeconds: 10, failureThreshold: 1 },
                volumeMounts: [
                  { name: 'profiles', mountPath: PROFILES_DIR, readOnly: true },
                  { name: 'script', mountPath: SCRIPT_DIR, readOnly: true },
                  ...pod.volumeMounts,
                ],
              },
            ],
            volumes: [
              { name: 'profiles', configMap: { name: this.profilesConfigMap.name } },
              { name: 'script', configMap: { name: this.scriptConfigMap.name } },
              ...pod.volumes,
            ],
          },
        },
      },
    });
  }
}

/**
 * The pod-template hash: the scripts and each node's profile roll the pods; replica placements do
 * not (the scripts re-read the mounted ConfigMap, which the kubelet updates in place), so scaling or
 * moving a model restarts no partitioner.
 */
export function configHashOf(profilesData: Record<string, string>, scriptData: Record<string, string>): string {
  const profiles = Object.entries(profilesData).map(([key, json]) => {
    const { replicas: _, ...profile } = JSON.parse(json) as NodePartitionProfile;
    return [key, profile];
  });
  return createHash('sha256').update(JSON.stringify({ profiles, script: scriptData })).digest('hex');
}


export function envVars(values: Record<string, string>): k8s.EnvVar[] {
  return Object.entries(values).map(([envName, value]) => ({ name: envName, value }));
}

export interface RolloutEnvInput {
  readonly modelNamespace: string;
  readonly lockName: string;
  readonly maxUnavailableNodes: number;
  readonly timeouts: PartitionTimeouts;
  /** How long a Lease is held at most: everything the backend does under it. */
  readonly lockSeconds: number;
}

/** The settings of `scripts/node-rollout.sh`, shared by both backends' pods. */
export function rolloutEnv(input: RolloutEnvInput): Record<string, string> {
  const { timeouts } = input;
  return {
    PROFILE_LABEL,
    PARTITION_STATE_LABEL,
    PARTITIONING_TAINT_KEY,
    CORDONED_ANNOTATION,
    MODEL_LABEL,
    REPLICA_LABEL,
    MODEL_NAMESPACE: input.modelNamespace,
    PROFILES_DIR,
    READY_FILE,
    LOCK_NAME: input.lockName,
    MAX_UNAVAILABLE_NODES: String(input.maxUnavailableNodes),
    LOCK_DURATION_SECONDS: String(input.lockSeconds),
    POLL_INTERVAL_SECONDS: String(timeouts.pollSeconds),
    KUBECTL_TIMEOUT_SECONDS: String(timeouts.kubectlSeconds),
    MOVE_TIMEOUT_SECONDS: String(timeouts.moveSeconds),
    DRAIN_TIMEOUT_SECONDS: String(timeouts.drainSeconds),
    ALLOCATABLE_TIMEOUT_SECONDS: String(timeouts.allocatableSeconds),
  };
}

function propsProblems(
  props: NodePartitioningProps,
  devicePluginNamespace: string,
  devicePluginSelector: string,
  maxUnavailableNodes: number,
): string[] {
  const problems: string[] = [];
  for (const [field, value] of [
    ['namespace', props.namespace],
    ['modelNamespace', props.modelNamespace],
    ['devicePluginNamespace', devicePluginNamespace],
  ] as const) {
    if (!DNS_LABEL.test(value) || value.length > 63) problems.push(`${field}: "${value}" is not a valid namespace name`);
  }
  if (imagePinning(props.image) === 'floating') {
    problems.push(`image: "${props.image}" must be pinned by a tag other than latest or by an @sha256 digest`);
  }
  if (devicePluginSelector.trim() === '') problems.push('devicePluginSelector: must not be empty');
  if (!Number.isInteger(maxUnavailableNodes) || maxUnavailableNodes < 1) {
    problems.push(`maxUnavailableNodes: must be a whole number >= 1, got ${maxUnavailableNodes}`);
  }
  return problems;
}

/** The pools' taints (model nodes carry them) and the partitioning taint, whatever its effect (older versions used NoExecute). */
function tolerations(pools: readonly NodePool[]): k8s.Toleration[] {
  const unique = new Map<string, k8s.Toleration>();
  for (const taint of pools.flatMap((pool) => pool.spec.taints)) {
    const toleration: k8s.Toleration =
      taint.value === undefined
        ? { key: taint.key, operator: 'Exists', effect: taint.effect }
        : { key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect };
    unique.set(JSON.stringify(toleration), toleration);
  }
  const sorted = [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, toleration]) => toleration);
  return [...sorted, { key: PARTITIONING_TAINT_KEY, operator: 'Exists' }];
}
