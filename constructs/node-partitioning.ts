import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { imagePinning } from '../api/reserved.ts';
import type { NodePool } from '../api/types.ts';
import type { PlanNode } from '../planner/types.ts';
import {
  MANAGED_BY,
  MANAGED_BY_LABEL,
  PARTITION_STATE_LABEL,
  PARTITIONING_TAINT_KEY,
  PROFILE_LABEL,
} from './labels.ts';
import { partitionPlanProblems, partitionProfilesData } from './partition-profiles.ts';
import { PartitionRbac } from './partition-rbac.ts';

/** The setup script, shipped in a ConfigMap and run by bash in the partitioner image. */
const SCRIPT_FILE = 'partition-node.sh';
// Through the project root, so the bundled CLI in `.build/` (one level deep too) reads the same file.
const SCRIPT = readFileSync(new URL(`../constructs/scripts/${SCRIPT_FILE}`, import.meta.url), 'utf8');

/** metadata.name of the DaemonSet, ServiceAccount and ClusterRole; the other objects add a suffix. */
export const NODE_PARTITIONER_NAME = 'aim-node-partitioner';
/** Pod-template annotation carrying the sha256 of both ConfigMaps, so any change rolls the pods. */
export const CONFIG_HASH_ANNOTATION = 'gpusharing.aim/config-sha256';

/**
 * The GPU Operator labels the device plugin and node labeller pods of a DeviceConfig
 * `daemonset-name=<DeviceConfig name>`, and its documented DeviceConfig is `gpu-operator` in
 * `kube-amd-gpu` (ROCm/gpu-operator internal/plugin/plugin.go, internal/nodelabeller/nodelabeller.go).
 */
export const DEFAULT_DEVICE_PLUGIN_NAMESPACE = 'kube-amd-gpu';
export const DEFAULT_DEVICE_PLUGIN_SELECTOR = 'daemonset-name=gpu-operator';

const PROFILES_DIR = '/etc/aim-gpu-sharing/profiles';
const SCRIPT_DIR = '/opt/aim-gpu-sharing';
const READY_FILE = '/tmp/partition-ready';

export interface NodePartitioningProps {
  /** Namespace for the DaemonSet, ServiceAccount, ConfigMaps and the Events role. */
  readonly namespace: string;
  /** Image with amd-smi, kubectl, bash, python3 and modprobe (kmod), pinned by tag or digest. */
  readonly image: string;
  /** The fleet's pools: the DaemonSet tolerates their taints. */
  readonly pools: readonly NodePool[];
  /** The plan's nodes: one pod each, partitioned to the node's planned profile. */
  readonly nodes: readonly PlanNode[];
  /**
   * Namespace of the AMD device plugin pods restarted on a node after repartitioning.
   * @default kube-amd-gpu
   */
  readonly devicePluginNamespace?: string;
  /**
   * Label selector of those pods (the GPU Operator's node labeller shares it and is restarted too).
   * @default daemonset-name=gpu-operator
   */
  readonly devicePluginSelector?: string;
  /**
   * How long a node waits for GPU processes to exit after its model pods were evicted, before it
   * reports GpuBusy and stays tainted.
   * @default 600
   */
  readonly drainTimeoutSeconds?: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Partitions every planned GPU node to its profile: a DaemonSet over the plan's nodes runs
 * `scripts/partition-node.sh`, which compares the node with its entry in the profiles ConfigMap and,
 * only when they differ, drains the GPUs (NoExecute taint), repartitions with amd-smi, verifies,
 * restarts the device plugin and labels the node. A pod is ready only while its node is in its
 * planned profile; the rolling update takes one node at a time, so a plan change repartitions the
 * fleet node by node and stops at the first node that fails.
 *
 * Put it in a chart whose namespace is unset or matches `namespace`; cluster-scoped objects drop a
 * chart namespace. The namespace must admit privileged pods (Pod Security `privileged`).
 */
export class NodePartitioning extends Construct {
  public readonly daemonSet: k8s.KubeDaemonSet;
  public readonly profilesConfigMap: k8s.KubeConfigMap;
  public readonly scriptConfigMap: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: NodePartitioningProps) {
    super(scope, id);
    const devicePluginNamespace = props.devicePluginNamespace ?? DEFAULT_DEVICE_PLUGIN_NAMESPACE;
    const devicePluginSelector = props.devicePluginSelector ?? DEFAULT_DEVICE_PLUGIN_SELECTOR;
    const drainTimeoutSeconds = props.drainTimeoutSeconds ?? 600;

    const problems = [
      ...propsProblems(props, devicePluginNamespace, devicePluginSelector, drainTimeoutSeconds),
      ...partitionPlanProblems(props.pools, props.nodes),
    ];
    if (problems.length > 0) {
      throw new Error(problems.map((problem) => `[${this.node.path}] ${problem}`).join('\n'));
    }

    const name = NODE_PARTITIONER_NAME;
    const { namespace } = props;
    const labels = { 'app.kubernetes.io/name': name, [MANAGED_BY_LABEL]: MANAGED_BY };
    const nodeNames = props.nodes.map((node) => node.name).sort();

    const rbac = new PartitionRbac(this, 'Rbac', { name, namespace, labels, nodeNames, devicePluginNamespace });

    const profilesData = partitionProfilesData(props.nodes);
    const scriptData = { [SCRIPT_FILE]: SCRIPT };
    this.profilesConfigMap = new k8s.KubeConfigMap(this, 'Profiles', {
      metadata: { name: `${name}-profiles`, namespace, labels },
      data: profilesData,
    });
    this.scriptConfigMap = new k8s.KubeConfigMap(this, 'Script', {
      metadata: { name: `${name}-script`, namespace, labels },
      data: scriptData,
    });
    const configHash = createHash('sha256')
      .update(JSON.stringify({ profiles: profilesData, script: scriptData }))
      .digest('hex');

    const env = (values: Record<string, string>): k8s.EnvVar[] =>
      Object.entries(values).map(([envName, value]) => ({ name: envName, value }));

    this.daemonSet = new k8s.KubeDaemonSet(this, 'Resource', {
      metadata: { name, namespace, labels },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': name } },
        // One node at a time: the next pod is replaced only once this one is ready, i.e. its node
        // is partitioned, so a plan change never drains two nodes at once.
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(1) } },
        template: {
          metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: configHash } },
          spec: {
            serviceAccountName: rbac.serviceAccountName,
            // The script calls the API server with kubectl.
            automountServiceAccountToken: true,
            priorityClassName: 'system-node-critical',
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
                name: 'partitioner',
                image: props.image,
                imagePullPolicy: 'IfNotPresent',
                command: ['/bin/bash', `${SCRIPT_DIR}/${SCRIPT_FILE}`],
                env: [
                  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                  { name: 'EVENT_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  ...env({
                    PROFILE_LABEL,
                    PARTITION_STATE_LABEL,
                    PARTITIONING_TAINT_KEY,
                    PROFILES_DIR,
                    READY_FILE,
                    DEVICE_PLUGIN_NAMESPACE: devicePluginNamespace,
                    DEVICE_PLUGIN_SELECTOR: devicePluginSelector,
                    DRAIN_TIMEOUT_SECONDS: String(drainTimeoutSeconds),
                  }),
                ],
                // amd-smi set and modprobe need root on the host's GPUs and kernel modules.
                securityContext: { privileged: true },
                resources: {
                  requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('128Mi') },
                  limits: { cpu: k8s.Quantity.fromString('500m'), memory: k8s.Quantity.fromString('512Mi') },
                },
                readinessProbe: { exec: { command: ['cat', READY_FILE] }, periodSeconds: 10, failureThreshold: 1 },
                volumeMounts: [
                  { name: 'profiles', mountPath: PROFILES_DIR, readOnly: true },
                  { name: 'script', mountPath: SCRIPT_DIR, readOnly: true },
                  // The host's /dev, not the container's snapshot: a driver reload creates new
                  // /dev/dri nodes for the partitions. sysfs is already the host's in a privileged
                  // container.
                  { name: 'host-dev', mountPath: '/dev' },
                  // modprobe reloads amdgpu from the host's modules.
                  { name: 'host-modules', mountPath: '/lib/modules', readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'profiles', configMap: { name: this.profilesConfigMap.name } },
              { name: 'script', configMap: { name: this.scriptConfigMap.name } },
              { name: 'host-dev', hostPath: { path: '/dev', type: 'Directory' } },
              { name: 'host-modules', hostPath: { path: '/lib/modules', type: 'Directory' } },
            ],
          },
        },
      },
    });
  }
}

function propsProblems(
  props: NodePartitioningProps,
  devicePluginNamespace: string,
  devicePluginSelector: string,
  drainTimeoutSeconds: number,
): string[] {
  const problems: string[] = [];
  for (const [field, value] of [
    ['namespace', props.namespace],
    ['devicePluginNamespace', devicePluginNamespace],
  ] as const) {
    if (!DNS_LABEL.test(value) || value.length > 63) problems.push(`${field}: "${value}" is not a valid namespace name`);
  }
  if (imagePinning(props.image) === 'floating') {
    problems.push(`image: "${props.image}" must be pinned by a tag other than latest or by an @sha256 digest`);
  }
  if (devicePluginSelector.trim() === '') problems.push('devicePluginSelector: must not be empty');
  if (!Number.isInteger(drainTimeoutSeconds) || drainTimeoutSeconds < 1) {
    problems.push(`drainTimeoutSeconds: must be a whole number of seconds >= 1, got ${drainTimeoutSeconds}`);
  }
  return problems;
}

/** The pools' taints (model nodes carry them) and the partitioning taint the pod must outlive. */
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
  return [...sorted, { key: PARTITIONING_TAINT_KEY, operator: 'Exists', effect: 'NoExecute' }];
}
