import { readFileSync } from 'node:fs';
import { Testing } from 'cdk8s';
import type { NodePool } from '../../api/types.ts';
import { describe, expect, it } from 'vitest';
import { DCM_CONFIGMAP_NAME, dcmPlan, dcmPlanProblems, dcmProfile } from '../../constructs/dcm-profiles.ts';
import { NodePartitioning, type NodePartitioningProps } from '../../constructs/node-partitioning.ts';
import { type DcmProfile, dcmProfileProblems } from '../../hardware/dcm.ts';
import { nodePool, planNode, uniformNode } from './fixtures.ts';

// Synthesized manifests are plain JSON; tests reach into them by path.
type Manifest = any;

const SERVICES = ['amd-metrics-exporter', 'gpuagent'];
const POOL = nodePool('mi300x', ['gpu-a', 'gpu-b', 'gpu-c']);

describe('DCM profiles for a plan', () => {
  it('writes one profile per distinct node layout, in DCM\'s config.json format, named after the layout', () => {
    const nodes = [uniformNode('gpu-a', 'mi300x', 'CPX-NPS4'), uniformNode('gpu-b', 'mi300x', 'CPX-NPS4'), uniformNode('gpu-c', 'mi300x', 'SPX-NPS1', 4)];
    const { config } = dcmPlan(nodes, [], SERVICES);
    expect(config).toEqual({
      'gpu-config-profiles': {
        'cpx-nps4-8gpu': { skippedGPUs: { ids: [] }, profiles: [{ computePartition: 'CPX', memoryPartition: 'NPS4', numGPUsAssigned: 8 }] },
        'spx-nps1-4gpu': { skippedGPUs: { ids: [] }, profiles: [{ computePartition: 'SPX', memoryPartition: 'NPS1', numGPUsAssigned: 4 }] },
      },
      gpuClientSystemdServices: { names: SERVICES },
    });
  });

  it('gives a mixed node one entry per run of equal GPUs, so DCM, walking GPU ids in order, gives GPU i the plan\'s profile', () => {
    const mixed = planNode('gpu-a', 'mi300x', ['SPX-NPS1', 'SPX-NPS1', 'CPX-NPS1', 'CPX-NPS1', 'CPX-NPS1', 'SPX-NPS1', 'DPX-NPS1', 'DPX-NPS1']);
    const { config } = dcmPlan([mixed], [], SERVICES);
    const [name] = Object.keys(config['gpu-config-profiles']);
    expect(name).toMatch(/^mixed-[0-9a-f]{10}-8gpu$/);
    expect(config['gpu-config-profiles'][name!]!.profiles).toEqual([
      { computePartition: 'SPX', memoryPartition: 'NPS1', numGPUsAssigned: 2 },
      { computePartition: 'CPX', memoryPartition: 'NPS1', numGPUsAssigned: 3 },
      { computePartition: 'SPX', memoryPartition: 'NPS1', numGPUsAssigned: 1 },
      { computePartition: 'DPX', memoryPartition: 'NPS1', numGPUsAssigned: 2 },
    ]);
    // Expanding the runs in order gives back the plan's GPUs.
    const expanded = config['gpu-config-profiles'][name!]!.profiles.flatMap((e) => Array(e.numGPUsAssigned).fill(`${e.computePartition}-${e.memoryPartition}`));
    expect(expanded).toEqual(mixed.gpus.map((gpu) => `${gpu.profile.compute}-${gpu.profile.memory}`));
  });

  it('keeps every uniform layout the pools allow, so a plan change never removes the profile a node is still labelled with', () => {
    const before = dcmPlan([uniformNode('gpu-a', 'mi300x', 'CPX-NPS4')], [POOL], SERVICES);
    const after = dcmPlan([uniformNode('gpu-a', 'mi300x', 'SPX-NPS1')], [POOL], SERVICES);
    expect(Object.keys(before.config['gpu-config-profiles'])).toEqual(['cpx-nps4-8gpu', 'spx-nps1-8gpu']);
    expect(after.config).toEqual(before.config);
  });

  it('passes DCM\'s rules for every layout of every catalog profile DCM applies', () => {
    const mi355x = nodePool('b', ['n2'], { gpu: 'MI355X' });
    const pools = [nodePool('a', ['n1']), { ...mi355x, spec: { ...mi355x.spec, profiles: ['SPX-NPS1', 'DPX-NPS2', 'QPX-NPS2', 'CPX-NPS2'] } }] satisfies NodePool[];
    const plan = dcmPlan([planNode('n1', 'a', ['SPX-NPS1', 'CPX-NPS1'])], pools, SERVICES);
    // spx-nps1-8gpu is one profile for both pools; the mixed node adds its own.
    expect(Object.keys(plan.config['gpu-config-profiles'])).toHaveLength(6);
    expect(dcmPlanProblems(plan)).toEqual([]);
  });

  it('finds what DCM refuses: a count that is not the node\'s GPUs, bad skipped ids, NPS4 without CPX, mixed memory modes, TPX', () => {
    const entry = (computePartition: string, memoryPartition: string, numGPUsAssigned: number) => ({ computePartition, memoryPartition, numGPUsAssigned }) as DcmProfile['profiles'][number];
    const profile = (profiles: DcmProfile['profiles'], ids: number[] = []): DcmProfile => ({ skippedGPUs: { ids }, profiles });
    expect(dcmProfileProblems(dcmProfile(uniformNode('n', 'p', 'CPX-NPS4').gpus.map((g) => g.profile)), 8)).toEqual([]);
    expect(dcmProfileProblems(profile([entry('CPX', 'NPS4', 6)], [1]), 8)).toEqual(['numGPUsAssigned sums to 6 and skippedGPUs lists 1, but the node has 8 GPUs']);
    expect(dcmProfileProblems(profile([entry('SPX', 'NPS1', 6)], [3, 8]), 8)).toEqual(['skippedGPUs ids 8 are not in 0..7']);
    expect(dcmProfileProblems(profile([entry('QPX', 'NPS4', 8)]), 8)).toEqual(['DCM applies NPS4 only with CPX, not with QPX']);
    expect(dcmProfileProblems(profile([entry('CPX', 'NPS1', 4), entry('CPX', 'NPS4', 4)]), 8)).toEqual(['mixes memory modes NPS1, NPS4; DCM needs one memory mode per profile']);
    expect(dcmProfileProblems(profile([entry('TPX', 'NPS1', 1)]), 1)).toEqual(['DCM accepts compute modes SPX, DPX, QPX, CPX, not TPX']);
  });
});

const BASE: NodePartitioningProps = {
  namespace: 'aim-system',
  modelNamespace: 'aim-models',
  image: 'registry.example.com/aim/partitioner:1.2.0',
  pools: [POOL],
  nodes: [uniformNode('gpu-a', 'mi300x', 'CPX-NPS4'), uniformNode('gpu-b', 'mi300x', 'SPX-NPS1')],
  replicas: [],
  deviceResourceNaming: 'single',
  isolation: 'devicePlugin',
  backend: 'gpu-operator',
};

function synth(overrides: Partial<NodePartitioningProps> = {}): Manifest[] {
  const chart = Testing.chart();
  new NodePartitioning(chart, 'Partitioning', { ...BASE, ...overrides });
  return Testing.synth(chart);
}

const find = (manifests: Manifest[], kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);

describe('NodePartitioning with the gpu-operator backend', () => {
  it('writes the DCM profiles ConfigMap to the GPU Operator\'s namespace, config.json passing DCM\'s rules', () => {
    const manifests = synth({ devicePluginNamespace: 'openshift-amd-gpu', gpuClientSystemdServices: ['gpuagent'] });
    const configMap = find(manifests, 'ConfigMap', DCM_CONFIGMAP_NAME);
    expect(configMap.metadata.namespace).toBe('openshift-amd-gpu');
    expect(Object.keys(configMap.data)).toEqual(['config.json']);
    const config = JSON.parse(configMap.data['config.json']);
    expect(Object.keys(config['gpu-config-profiles'])).toEqual(['cpx-nps4-8gpu', 'spx-nps1-8gpu']);
    expect(config.gpuClientSystemdServices).toEqual({ names: ['gpuagent'] });
    expect(dcmPlanProblems({ config, gpusOf: { 'cpx-nps4-8gpu': 8, 'spx-nps1-8gpu': 8 } })).toEqual([]);
    // Each node's entry names the DCM profile the orchestrator selects.
    const profiles = find(manifests, 'ConfigMap', 'aim-node-partitioner-profiles').data;
    expect(JSON.parse(profiles['gpu-a']).dcmProfile).toBe('cpx-nps4-8gpu');
    expect(JSON.parse(profiles['gpu-b']).dcmProfile).toBe('spx-nps1-8gpu');
  });

  it('emits no builtin partitioner: an unprivileged orchestrator without host access runs dcm-node.sh, and no amd-smi script ships', () => {
    const manifests = synth();
    const daemonSets = manifests.filter((m) => m.kind === 'DaemonSet');
    expect(daemonSets).toHaveLength(1);
    const spec = daemonSets[0].spec.template.spec;
    expect(spec.containers).toHaveLength(1);
    const [container] = spec.containers;
    expect(container.name).toBe('orchestrator');
    expect(container.command).toEqual(['/bin/bash', '/opt/aim-gpu-sharing/dcm-node.sh']);
    expect(container.securityContext).toEqual({ privileged: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(spec.volumes.filter((volume: Manifest) => volume.hostPath)).toEqual([]);
    expect(container.volumeMounts.map((mount: Manifest) => mount.mountPath)).toEqual(['/etc/aim-gpu-sharing/profiles', '/opt/aim-gpu-sharing']);
    const script = find(manifests, 'ConfigMap', 'aim-node-partitioner-script').data;
    expect(Object.keys(script)).toEqual(['dcm-node.sh', 'node-rollout.sh', 'node_json.py']);
    // The shell scripts call no GPU tool; the JSON helper runs no program at all.
    for (const file of ['dcm-node.sh', 'node-rollout.sh']) {
      const commands = (script[file] as string).split('\n').filter((line) => !/^\s*#/.test(line)).join('\n');
      expect(commands).not.toMatch(/\bamd-smi\b|\bmodprobe\b|\bmodinfo\b/);
    }
    expect(script['node_json.py']).not.toMatch(/\bsubprocess\b|os\.system|os\.exec/);
    const env = Object.fromEntries(container.env.filter((e: Manifest) => 'value' in e).map((e: Manifest) => [e.name, e.value]));
    expect(env).toMatchObject({
      DCM_PROFILE_LABEL: 'dcm.amd.com/gpu-config-profile',
      DCM_STATE_LABEL: 'dcm.amd.com/gpu-config-profile-state',
      DCM_SELECTOR: 'daemonset-name=gpu-operator,app.kubernetes.io/name=device-config-manager',
      DEVICE_PLUGIN_SELECTOR: 'daemonset-name=gpu-operator,app.kubernetes.io/name!=device-config-manager',
      DEVICE_PLUGIN_NAMESPACE: 'kube-amd-gpu',
      DCM_TIMEOUT_SECONDS: '900',
    });
    expect(env.AMD_SMI_TIMEOUT_SECONDS).toBeUndefined();
    // The Lease outlives everything done under it: two drains, DCM's bound, allocatable.
    expect(Number(env.LOCK_DURATION_SECONDS)).toBeGreaterThan(2 * 600 + 900 + 300);
    const scripts = readFileSync(new URL('../../constructs/scripts/dcm-node.sh', import.meta.url), 'utf8') + script['node-rollout.sh'];
    for (const name of Object.keys(env)) expect(scripts).toContain(`\${${name}`);
  });

  it('needs the builtin backend\'s RBAC plus only listing Events in the operator namespace (DCM\'s reasons)', () => {
    const rules = (manifests: Manifest[]) => manifests.filter((m) => /Role$/.test(m.kind)).map((m) => [m.kind, m.metadata.name, m.metadata.namespace, m.rules]);
    const builtin = rules(synth({ backend: 'builtin' }));
    const withDcm = builtin.map(([kind, name, namespace, list]) =>
      name === 'aim-node-partitioner-device-plugin' ? [kind, name, namespace, [...list, { apiGroups: [''], resources: ['events'], verbs: ['list'] }]] : [kind, name, namespace, list],
    );
    expect(rules(synth())).toEqual(withDcm);
  });

  it('refuses a pool profile DCM cannot apply, naming the DCM rule', () => {
    const pools: NodePool[] = [{ ...POOL, spec: { ...POOL.spec, profiles: ['SPX-NPS1', 'QPX-NPS4'] } }];
    expect(() => synth({ pools })).toThrow('[test/Partitioning] DCM profiles: profile "qpx-nps4-8gpu": DCM applies NPS4 only with CPX, not with QPX');
  });
});
