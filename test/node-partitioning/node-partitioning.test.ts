import { readFileSync } from 'node:fs';
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  CORDONED_ANNOTATION,
  MODEL_LABEL,
  REPLICA_LABEL,
  PARTITION_STATE_LABEL,
  PARTITIONING_TAINT_KEY,
  PROFILE_LABEL,
  RELOAD_ANNOTATION,
} from '../../constructs/labels.ts';
import {
  CONFIG_HASH_ANNOTATION,
  NodePartitioning,
  type NodePartitioningProps,
} from '../../constructs/node-partitioning.ts';
import { nodePool, planNode, uniformNode } from './fixtures.ts';
import { SCRIPT_PATH } from './script-harness.ts';

// Synthesized manifests are plain JSON; tests reach into them by path.
type Manifest = any;

const IMAGE = 'registry.example.com/aim/partitioner:1.2.0';
const POOLS = [
  nodePool('mi300x', ['gpu-a', 'gpu-b'], {
    taints: [
      { key: 'amd.com/gpu', effect: 'NoSchedule' },
      { key: 'dedicated', value: 'inference', effect: 'NoExecute' },
    ],
  }),
  nodePool('mi325x', ['gpu-c'], { gpu: 'MI325X', taints: [{ key: 'amd.com/gpu', effect: 'NoSchedule' }] }),
];
const NODES = [
  uniformNode('gpu-b', 'mi300x', 'CPX-NPS4'),
  planNode('gpu-a', 'mi300x', ['SPX-NPS1', 'CPX-NPS1']),
  planNode('gpu-c', 'mi325x', ['DPX-NPS1'], 'MI325X'),
];
const LABELS = { 'app.kubernetes.io/name': 'aim-node-partitioner', 'app.kubernetes.io/managed-by': 'aim-gpu-sharing' };

const BASE: NodePartitioningProps = {
  namespace: 'aim-system',
  modelNamespace: 'aim-models',
  image: IMAGE,
  pools: POOLS,
  nodes: NODES,
  replicas: [],
  deviceResourceNaming: 'mixed',
  isolation: 'devicePlugin',
};

function synth(overrides: Partial<NodePartitioningProps> = {}, chart: Chart = Testing.chart()): Manifest[] {
  new NodePartitioning(chart, 'Partitioning', { ...BASE, ...overrides });
  return Testing.synth(chart);
}

function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`);
  return found;
}

const daemonSet = (manifests: Manifest[]) => find(manifests, 'DaemonSet', 'aim-node-partitioner');
const podSpec = (manifests: Manifest[]) => daemonSet(manifests).spec.template.spec;
const container = (manifests: Manifest[]) => podSpec(manifests).containers[0];

describe('NodePartitioning', () => {
  it('creates the ServiceAccount, RBAC, ConfigMaps and DaemonSet, each named, labelled and namespaced if namespaced', () => {
    const manifests = synth();
    expect(manifests.map((m) => [m.kind, m.metadata.name, m.metadata.namespace])).toEqual([
      ['ServiceAccount', 'aim-node-partitioner', 'aim-system'],
      ['ClusterRole', 'aim-node-partitioner', undefined],
      ['ClusterRoleBinding', 'aim-node-partitioner', undefined],
      ['Role', 'aim-node-partitioner-events', 'aim-system'],
      ['RoleBinding', 'aim-node-partitioner-events', 'aim-system'],
      ['Role', 'aim-node-partitioner-device-plugin', 'kube-amd-gpu'],
      ['RoleBinding', 'aim-node-partitioner-device-plugin', 'kube-amd-gpu'],
      ['ValidatingAdmissionPolicy', 'aim-node-partitioner', undefined],
      ['ValidatingAdmissionPolicyBinding', 'aim-node-partitioner', undefined],
      ['ConfigMap', 'aim-node-partitioner-profiles', 'aim-system'],
      ['ConfigMap', 'aim-node-partitioner-script', 'aim-system'],
      ['DaemonSet', 'aim-node-partitioner', 'aim-system'],
    ]);
    for (const manifest of manifests) expect(manifest.metadata.labels).toEqual(LABELS);
  });

  it('grants exactly the verbs the script uses, on the resources it touches', () => {
    const manifests = synth({ devicePluginNamespace: 'gpu-operator' });
    const subjects = [{ kind: 'ServiceAccount', name: 'aim-node-partitioner', namespace: 'aim-system' }];
    expect(find(manifests, 'ClusterRole', 'aim-node-partitioner').rules).toEqual([
      { apiGroups: [''], resources: ['nodes'], resourceNames: ['gpu-a', 'gpu-b', 'gpu-c'], verbs: ['get', 'patch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    ]);
    expect(find(manifests, 'ClusterRoleBinding', 'aim-node-partitioner')).toMatchObject({
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'aim-node-partitioner' },
      subjects,
    });
    const events = find(manifests, 'Role', 'aim-node-partitioner-events');
    expect(events.metadata.namespace).toBe('aim-system');
    expect(events.rules).toEqual([
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
    ]);
    const devicePlugin = find(manifests, 'Role', 'aim-node-partitioner-device-plugin');
    expect(devicePlugin.metadata.namespace).toBe('gpu-operator');
    expect(devicePlugin.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'delete'] }]);
    for (const [name, namespace] of [
      ['aim-node-partitioner-events', 'aim-system'],
      ['aim-node-partitioner-device-plugin', 'gpu-operator'],
    ] as const) {
      expect(find(manifests, 'RoleBinding', name)).toMatchObject({
        metadata: { namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects,
      });
    }
    expect(manifests.filter((m) => /Role$/.test(m.kind))).toHaveLength(3);
  });

  it('lets each pod patch only the Node it runs on, by its token\'s node-name claim', () => {
    const manifests = synth();
    const policy = find(manifests, 'ValidatingAdmissionPolicy', 'aim-node-partitioner');
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(policy.spec.matchConstraints.resourceRules).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'] }]);
    expect(policy.spec.matchConditions).toEqual([
      { name: 'node-partitioner', expression: "request.userInfo.username == 'system:serviceaccount:aim-system:aim-node-partitioner'" },
    ]);
    expect(policy.spec.validations[0].expression).toBe(
      "'authentication.kubernetes.io/node-name' in request.userInfo.extra && object.metadata.name in request.userInfo.extra['authentication.kubernetes.io/node-name']",
    );
    expect(find(manifests, 'ValidatingAdmissionPolicyBinding', 'aim-node-partitioner').spec).toEqual({ policyName: 'aim-node-partitioner', validationActions: ['Deny'] });
  });

  it('keeps cluster-scoped objects out of a namespaced chart', () => {
    const manifests = synth({}, new Chart(Testing.app(), 'namespaced', { namespace: 'aim-system' }));
    expect(find(manifests, 'ClusterRole', 'aim-node-partitioner').metadata.namespace).toBeUndefined();
    expect(find(manifests, 'ClusterRoleBinding', 'aim-node-partitioner').metadata.namespace).toBeUndefined();
    expect(find(manifests, 'ValidatingAdmissionPolicy', 'aim-node-partitioner').metadata.namespace).toBeUndefined();
    expect(find(manifests, 'ValidatingAdmissionPolicyBinding', 'aim-node-partitioner').metadata.namespace).toBeUndefined();
    expect(find(manifests, 'Role', 'aim-node-partitioner-device-plugin').metadata.namespace).toBe('kube-amd-gpu');
  });

  it('maps each node to its planned profile, partition count and label', () => {
    const data = find(synth(), 'ConfigMap', 'aim-node-partitioner-profiles').data;
    expect(Object.keys(data)).toEqual(['gpu-a', 'gpu-b', 'gpu-c']);
    expect(JSON.parse(data['gpu-b'])).toEqual({
      label: 'cpx-nps4',
      profile: 'CPX-NPS4',
      partitions: 64,
      gpus: Array.from({ length: 8 }, () => 'CPX-NPS4'),
      allocatable: { 'amd.com/cpx_nps4': 64 },
      replicas: {},
    });
    expect(JSON.parse(data['gpu-a'])).toEqual({
      label: expect.stringMatching(/^mixed-[0-9a-f]{10}$/),
      profile: 'mixed',
      partitions: 9,
      gpus: ['SPX-NPS1', 'CPX-NPS1'],
      allocatable: { 'amd.com/cpx_nps1': 8, 'amd.com/spx_nps1': 1 },
      replicas: {},
    });
    expect(JSON.parse(data['gpu-c'])).toEqual({ label: 'dpx-nps1', profile: 'DPX-NPS1', partitions: 2, gpus: ['DPX-NPS1'], allocatable: { 'amd.com/dpx_nps1': 2 }, replicas: {} });
  });

  it('ships the setup script and the files it sources, unchanged', () => {
    const data = find(synth(), 'ConfigMap', 'aim-node-partitioner-script').data;
    const file = (name: string) => readFileSync(new URL(`../../constructs/scripts/${name}`, import.meta.url), 'utf8');
    expect(data).toEqual({
      'node-rollout.sh': file('node-rollout.sh'),
      'node_json.py': file('node_json.py'),
      'partition-node.sh': readFileSync(SCRIPT_PATH, 'utf8'),
    });
  });

  it('runs one privileged pod per planned node with /dev, /lib/modules and the modprobe options from the host', () => {
    const manifests = synth();
    const spec = podSpec(manifests);
    expect(spec.affinity).toEqual({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['gpu-a', 'gpu-b', 'gpu-c'] }] },
          ],
        },
      },
    });
    expect(spec.hostNetwork).toBeUndefined();
    expect(spec.hostPID).toBeUndefined();
    expect(spec.hostIPC).toBeUndefined();
    expect(spec.containers).toHaveLength(1);
    expect(container(manifests).securityContext).toEqual({ privileged: true });
    expect(spec.volumes.filter((volume: Manifest) => volume.hostPath)).toEqual([
      { name: 'host-dev', hostPath: { path: '/dev', type: 'Directory' } },
      { name: 'host-modules', hostPath: { path: '/lib/modules', type: 'Directory' } },
      { name: 'host-etc-modprobe-d', hostPath: { path: '/etc/modprobe.d', type: 'DirectoryOrCreate' } },
      { name: 'host-lib-modprobe-d', hostPath: { path: '/lib/modprobe.d', type: 'DirectoryOrCreate' } },
    ]);
    expect(container(manifests).volumeMounts).toEqual([
      { name: 'profiles', mountPath: '/etc/aim-gpu-sharing/profiles', readOnly: true },
      { name: 'script', mountPath: '/opt/aim-gpu-sharing', readOnly: true },
      { name: 'host-dev', mountPath: '/dev' },
      { name: 'host-modules', mountPath: '/lib/modules', readOnly: true },
      { name: 'host-etc-modprobe-d', mountPath: '/etc/modprobe.d', readOnly: true },
      { name: 'host-lib-modprobe-d', mountPath: '/lib/modprobe.d', readOnly: true },
    ]);
    expect(spec.volumes.filter((volume: Manifest) => volume.configMap)).toEqual([
      { name: 'profiles', configMap: { name: 'aim-node-partitioner-profiles' } },
      { name: 'script', configMap: { name: 'aim-node-partitioner-script' } },
    ]);
  });

  it('tolerates the pools\' taints once each, and the partitioning taint it sets itself', () => {
    expect(podSpec(synth()).tolerations).toEqual([
      { key: 'amd.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'dedicated', operator: 'Equal', value: 'inference', effect: 'NoExecute' },
      { key: PARTITIONING_TAINT_KEY, operator: 'Exists' },
    ]);
  });

  it('gives a pod longer to stop than its critical section can take', () => {
    const spec = podSpec(synth());
    // 4 reloads of 300 s and (2 × 8 GPUs + 4) amd-smi calls of 60 s, plus 6 kubectl calls of 30 s.
    expect(spec.terminationGracePeriodSeconds).toBe(4 * 300 + 20 * 60 + 180);
    expect(podSpec(synth({ timeouts: { reloadSeconds: 100 } })).terminationGracePeriodSeconds).toBe(4 * 100 + 20 * 60 + 180);
  });

  it('is ready once running, and rolls one pod at a time (the Leases order the node changes)', () => {
    const manifests = synth();
    expect(container(manifests).readinessProbe).toEqual({
      exec: { command: ['cat', '/tmp/partition-ready'] },
      periodSeconds: 10,
      failureThreshold: 1,
    });
    expect(daemonSet(manifests).spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(daemonSet(manifests).spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'aim-node-partitioner' } });
    const spec = podSpec(manifests);
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(spec.automountServiceAccountToken).toBe(true);
    expect(spec.serviceAccountName).toBe('aim-node-partitioner');
    expect(container(manifests).resources).toEqual({
      requests: { cpu: '50m', memory: '128Mi' },
      limits: { cpu: '500m', memory: '512Mi' },
    });
  });

  it('runs the mounted script with the settings it reads', () => {
    const manifests = synth({
      devicePluginNamespace: 'gpu-operator',
      devicePluginSelector: 'app=amdgpu-device-plugin',
      maxUnavailableNodes: 2,
      timeouts: { drainSeconds: 900 },
    });
    expect(container(manifests).command).toEqual(['/bin/bash', '/opt/aim-gpu-sharing/partition-node.sh']);
    expect(container(manifests).image).toBe(IMAGE);
    const env = container(manifests).env;
    expect(env).toEqual([
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'EVENT_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'PROFILE_LABEL', value: PROFILE_LABEL },
      { name: 'PARTITION_STATE_LABEL', value: PARTITION_STATE_LABEL },
      { name: 'PARTITIONING_TAINT_KEY', value: PARTITIONING_TAINT_KEY },
      { name: 'CORDONED_ANNOTATION', value: CORDONED_ANNOTATION },
      { name: 'MODEL_LABEL', value: MODEL_LABEL },
      { name: 'REPLICA_LABEL', value: REPLICA_LABEL },
      { name: 'MODEL_NAMESPACE', value: 'aim-models' },
      { name: 'PROFILES_DIR', value: '/etc/aim-gpu-sharing/profiles' },
      { name: 'READY_FILE', value: '/tmp/partition-ready' },
      { name: 'LOCK_NAME', value: 'aim-node-partitioner' },
      { name: 'MAX_UNAVAILABLE_NODES', value: '2' },
      { name: 'LOCK_DURATION_SECONDS', value: expect.stringMatching(/^\d+$/) },
      { name: 'POLL_INTERVAL_SECONDS', value: '10' },
      { name: 'KUBECTL_TIMEOUT_SECONDS', value: '30' },
      { name: 'MOVE_TIMEOUT_SECONDS', value: '1800' },
      { name: 'DRAIN_TIMEOUT_SECONDS', value: '900' },
      { name: 'ALLOCATABLE_TIMEOUT_SECONDS', value: '300' },
      { name: 'RELOAD_ANNOTATION', value: RELOAD_ANNOTATION },
      { name: 'DEVICE_PLUGIN_NAMESPACE', value: 'gpu-operator' },
      { name: 'DEVICE_PLUGIN_SELECTOR', value: 'app=amdgpu-device-plugin' },
      { name: 'AMD_SMI_TIMEOUT_SECONDS', value: '60' },
      { name: 'RELOAD_TIMEOUT_SECONDS', value: '300' },
    ]);
    // The Lease outlives everything done under it: two drains, the critical section, allocatable, the kubectl calls.
    const lease = Number(env.find((e: Manifest) => e.name === 'LOCK_DURATION_SECONDS').value);
    expect(lease).toBeGreaterThan(2 * 900 + 4 * 300 + 20 * 60 + 300);
    const scripts = readFileSync(SCRIPT_PATH, 'utf8') + readFileSync(new URL('../../constructs/scripts/node-rollout.sh', import.meta.url), 'utf8');
    for (const { name } of env) expect(scripts).toContain(`\${${name}`);
  });

  it('changes the config hash when the plan changes, and only then', () => {
    const hash = (manifests: Manifest[]) => daemonSet(manifests).spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
    const before = hash(synth());
    expect(before).toMatch(/^[0-9a-f]{64}$/);
    expect(hash(synth())).toBe(before);
    const replanned = [uniformNode('gpu-b', 'mi300x', 'SPX-NPS1'), ...NODES.slice(1)];
    expect(hash(synth({ nodes: replanned }))).not.toBe(before);
    // Replica placements reach the pods through the mounted ConfigMap, without a restart.
    const replica = { id: 'm#0', model: 'm', node: 'gpu-b', precision: 'bf16', tensorParallel: 1, memoryGiB: 1, gpuMemoryUtilization: 0.5, maxNumBatchedTokens: 2048, maxNumSeqs: 256, partitions: [] } as const;
    const scaled = synth({ replicas: [replica] });
    expect(hash(scaled)).toBe(before);
    expect(JSON.parse(find(scaled, 'ConfigMap', 'aim-node-partitioner-profiles').data['gpu-b']).replicas).toEqual({ m: [0] });
  });

  it('accepts an image pinned by digest only', () => {
    const image = `registry.example.com/aim/partitioner@sha256:${'a'.repeat(64)}`;
    expect(container(synth({ image })).image).toBe(image);
  });

  describe('validation', () => {
    const build = (overrides: Partial<NodePartitioningProps>) => () => synth(overrides);

    it('fails when the plan has no nodes', () => {
      expect(build({ nodes: [] })).toThrow('[test/Partitioning] nodes: the plan has no nodes to partition');
    });

    it('fails when the image has neither a tag nor a digest', () => {
      expect(build({ image: 'registry.example.com:5000/aim/partitioner' })).toThrow(
        '[test/Partitioning] image: "registry.example.com:5000/aim/partitioner" must be pinned by a tag other than latest or by an @sha256 digest',
      );
    });

    it('fails when the image is tagged latest', () => {
      expect(build({ image: 'aim/partitioner:latest' })).toThrow('image: "aim/partitioner:latest" must be pinned');
    });

    it('fails when a namespace is not a valid name', () => {
      expect(build({ namespace: 'AIM_System' })).toThrow('namespace: "AIM_System" is not a valid namespace name');
      expect(build({ devicePluginNamespace: '' })).toThrow('devicePluginNamespace: "" is not a valid namespace name');
    });

    it('fails when the device plugin selector is empty', () => {
      expect(build({ devicePluginSelector: ' ' })).toThrow('devicePluginSelector: must not be empty');
    });

    it('fails when a timeout is not a positive whole number of seconds, or no node may be unavailable', () => {
      expect(build({ timeouts: { drainSeconds: 0 } })).toThrow('timeouts.drainSeconds: must be a whole number of seconds >= 1, got 0');
      expect(build({ timeouts: { amdSmiSeconds: 1.5 } })).toThrow('got 1.5');
      expect(build({ maxUnavailableNodes: 0 })).toThrow('maxUnavailableNodes: must be a whole number >= 1, got 0');
    });

    it('fails when a node belongs to no known pool or is not listed in its pool', () => {
      expect(build({ nodes: [uniformNode('gpu-a', 'mi250', 'SPX-NPS1')] })).toThrow(
        'node "gpu-a": pool "mi250" is not among the pools',
      );
      expect(build({ nodes: [uniformNode('gpu-z', 'mi300x', 'SPX-NPS1')] })).toThrow(
        'node "gpu-z": not a node of pool "mi300x"',
      );
    });

    it('fails when a node mixes memory modes or uses a profile its GPU does not have', () => {
      expect(build({ nodes: [planNode('gpu-a', 'mi300x', ['SPX-NPS1', 'CPX-NPS4'])] })).toThrow(
        'node "gpu-a": GPUs mix memory modes NPS1, NPS4, but the memory mode is node-wide',
      );
      expect(build({ nodes: [planNode('gpu-a', 'mi300x', ['TPX-NPS1'])] })).toThrow(
        'node "gpu-a": GPU 0: TPX-NPS1 is not a partition profile of MI300X',
      );
    });

    it('reports every problem at once, each naming the construct path', () => {
      const duplicate = uniformNode('gpu-a', 'mi300x', 'SPX-NPS1');
      expect(build({ image: 'partitioner', timeouts: { drainSeconds: -1 }, nodes: [duplicate, duplicate] })).toThrow(
        [
          '[test/Partitioning] image: "partitioner" must be pinned by a tag other than latest or by an @sha256 digest',
          '[test/Partitioning] timeouts.drainSeconds: must be a whole number of seconds >= 1, got -1',
          '[test/Partitioning] node "gpu-a": appears more than once in the plan',
        ].join('\n'),
      );
    });
  });
});
