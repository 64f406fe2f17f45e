import { describe, expect, it } from 'vitest';
import { dcmPlan } from '../../constructs/dcm-profiles.ts';
import { CORDONED_ANNOTATION, MODEL_LABEL, PARTITION_STATE_LABEL, REPLICA_LABEL, PARTITIONING_TAINT_KEY, PROFILE_LABEL } from '../../constructs/labels.ts';
import { dcmSelector, operandSelector } from '../../constructs/node-partitioning.ts';
import { nodePartitionProfile, type ProfileContext } from '../../constructs/partition-profiles.ts';
import { DCM_PROFILE_LABEL, DCM_STATE_LABEL } from '../../hardware/dcm.ts';
import { nodePool, uniformNode } from './fixtures.ts';
import { DCM_SCRIPT_PATH, type FakeDcm, type FakeNode, type FakePod, mutations, NODE_NAME, runPartitionScript, type ScriptScenario, uniformGpus } from './script-harness.ts';

/**
 * `dcm-node.sh`, the `gpu-operator` backend's orchestrator, against the fake cluster and a fake
 * Device Config Manager that applies the profile a node label selects from the config the
 * compiler writes, and labels its result as DCM does.
 */

const CONTEXT: ProfileContext = { deviceResourceNaming: 'single', isolation: 'devicePlugin', replicas: [], backend: 'gpu-operator' };
const CPX_NODE = uniformNode(NODE_NAME, 'mi300x', 'CPX-NPS4');
const CPX_NPS4 = nodePartitionProfile(CPX_NODE, CONTEXT);
const CONFIG = dcmPlan([CPX_NODE], [nodePool('mi300x', [NODE_NAME])], ['amd-metrics-exporter', 'gpuagent']).config;
const dcm = (result: FakeDcm['result'], afterSleeps = 2): FakeDcm => ({ config: CONFIG, result, afterSleeps });

const SPX_NODE: FakeNode = {
  labels: { [PROFILE_LABEL]: 'spx-nps1', [PARTITION_STATE_LABEL]: 'ready', [DCM_PROFILE_LABEL]: 'spx-nps1-8gpu', [DCM_STATE_LABEL]: 'success' },
  taints: [],
  allocatable: { 'amd.com/gpu': '8' },
};
const OPERATOR = { 'daemonset-name': 'gpu-operator' };
const DCM_POD: FakePod = { namespace: 'kube-amd-gpu', name: 'gpu-operator-device-config-manager-x1', node: NODE_NAME, owner: 'DaemonSet', labels: { ...OPERATOR, 'app.kubernetes.io/name': 'device-config-manager' } };
const PLUGIN_POD: FakePod = { namespace: 'kube-amd-gpu', name: 'gpu-operator-device-plugin-x1', node: NODE_NAME, owner: 'DaemonSet', labels: { ...OPERATOR, 'app.kubernetes.io/name': 'device-plugin' } };
const MODEL_POD: FakePod = { namespace: 'aim-models', name: 'llama-70b-0', node: NODE_NAME, gpu: true, labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '0' } };
const ENV = {
  DEVICE_PLUGIN_SELECTOR: operandSelector('gpu-operator'),
  DCM_SELECTOR: dcmSelector('gpu-operator'),
  POLL_INTERVAL_SECONDS: '5',
};
const RESTART_OPERANDS = `kubectl delete pod -n kube-amd-gpu -l ${ENV.DEVICE_PLUGIN_SELECTOR} --field-selector spec.nodeName=${NODE_NAME} --wait=false`;

function scenario(overrides: Partial<ScriptScenario> = {}): ScriptScenario {
  return {
    script: DCM_SCRIPT_PATH,
    profile: CPX_NPS4,
    gpus: { layout: 'wrapped', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
    node: SPX_NODE,
    pods: [DCM_POD, PLUGIN_POD, MODEL_POD],
    dcm: dcm('success'),
    ...overrides,
    env: { ...ENV, ...overrides.env },
  };
}

const reasons = (run: { events: { type: string; reason: string }[] }) => run.events.map((event) => [event.type, event.reason]);
/** The script's own waits; pyenv's python3 shim may sleep 0.1 s while rehashing. */
const pollSleeps = (calls: readonly string[]) => calls.filter((call) => /^sleep [1-9]/.test(call));
const gpuTools = (calls: readonly string[]) => calls.filter((call) => /^(amd-smi|modprobe|modinfo) /.test(call));

describe.concurrent('dcm-node.sh on a node out of its profile', { timeout: 90_000 }, () => {
  it('drains, selects the DCM profile by label, waits for DCM\'s success, verifies allocatable, uncordons; never runs amd-smi', async () => {
    const run = await runPartitionScript(scenario());
    expect(run.stderr).not.toContain('FAILED');
    expect(run.exitCode).toBe(0);
    expect(run.calls.filter((call) => call.includes('WITHOUT TIMEOUT'))).toEqual([]);
    expect(gpuTools(run.calls)).toEqual([]);
    expect(mutations(run.calls)).toEqual([
      'kubectl create -f -', // the Lease
      `kubectl annotate node ${NODE_NAME} ${CORDONED_ANNOTATION}=true --overwrite`,
      `kubectl cordon ${NODE_NAME}`,
      `kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=draining --overwrite`,
      'kubectl create -f -', // Repartitioning
      'kubectl create --raw /api/v1/namespaces/aim-models/pods/llama-70b-0/eviction -f -',
      `kubectl taint node ${NODE_NAME} ${PARTITIONING_TAINT_KEY}=true:NoSchedule --overwrite`,
      RESTART_OPERANDS,
      `kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=partitioning --overwrite`,
      // A stale `success` must not pass for this change's result, and DCM acts on a changed value only.
      `kubectl label node ${NODE_NAME} ${DCM_PROFILE_LABEL}- ${DCM_STATE_LABEL}-`,
      `kubectl label node ${NODE_NAME} ${DCM_PROFILE_LABEL}=cpx-nps4-8gpu --overwrite`,
      RESTART_OPERANDS,
      `kubectl taint node ${NODE_NAME} ${PARTITIONING_TAINT_KEY}-`,
      `kubectl uncordon ${NODE_NAME}`,
      `kubectl annotate node ${NODE_NAME} ${CORDONED_ANNOTATION}-`,
      `kubectl label node ${NODE_NAME} ${PROFILE_LABEL}=cpx-nps4 ${PARTITION_STATE_LABEL}=ready --overwrite`,
      'kubectl replace -f -', // the Lease released
      'kubectl create -f -', // Partitioned
    ]);
    // The uncordon waits for DCM: its result comes between the selection and the operands' restart.
    const order = (prefix: string) => run.calls.findIndex((call) => call.startsWith(prefix));
    expect(order('dcm success cpx-nps4-8gpu')).toBeGreaterThan(order(`kubectl label node ${NODE_NAME} ${DCM_PROFILE_LABEL}=`));
    expect(order(`kubectl uncordon`)).toBeGreaterThan(order('dcm success'));
    expect(run.gpus.gpus).toEqual(uniformGpus('CPX', 'NPS4'));
    expect(run.node).toMatchObject({
      labels: { [PROFILE_LABEL]: 'cpx-nps4', [PARTITION_STATE_LABEL]: 'ready', [DCM_PROFILE_LABEL]: 'cpx-nps4-8gpu', [DCM_STATE_LABEL]: 'success' },
      annotations: {},
      taints: [],
      unschedulable: false,
      allocatable: { 'amd.com/gpu': '64' },
    });
    // The operand pods were restarted; DCM's own pod was never touched.
    expect(run.pods).toEqual([DCM_POD]);
    expect(run.leases['aim-node-partitioner-0']?.spec.holderIdentity).toBe('');
    expect(reasons(run)).toEqual([['Normal', 'Repartitioning'], ['Normal', 'Partitioned']]);
    expect(run.events[1]?.message).toContain('profile cpx-nps4-8gpu');
    expect(run.ready).toBe(true);
  });

  it('allocatable short of the plan after DCM\'s success (63 of 64) fails loudly and keeps the node cordoned with its Lease', async () => {
    const run = await runPartitionScript(scenario({ gpus: { layout: 'wrapped', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), pluginAdvertises: 63 }, env: { ALLOCATABLE_TIMEOUT_SECONDS: '10' } }));
    expect(run.exitCode).toBe(1);
    expect(reasons(run)).toEqual([['Normal', 'Repartitioning'], ['Warning', 'AllocatableMismatch']]);
    expect(run.events[1]?.message).toContain('amd.com/gpu=63');
    expect(run.events[1]?.message).toContain('plan has amd.com/gpu=64');
    expect(run.node.unschedulable).toBe(true);
    expect(run.node.labels[PARTITION_STATE_LABEL]).toBe('failed');
    expect(run.leases['aim-node-partitioner-0']?.spec.holderIdentity).toBe(NODE_NAME);
    expect(run.ready).toBe(false);
  });

  it('DCM reporting nothing ends in DcmTimeout after DCM_TIMEOUT_SECONDS, node cordoned and tainted', async () => {
    const run = await runPartitionScript(scenario({ dcm: dcm('none'), env: { DCM_TIMEOUT_SECONDS: '15' } }));
    expect(run.exitCode).toBe(1);
    expect(reasons(run)).toEqual([['Normal', 'Repartitioning'], ['Warning', 'DcmTimeout']]);
    expect(run.events[1]?.message).toContain('no result for profile cpx-nps4-8gpu within 15s');
    // Polled every 5 s up to the bound, then stopped: no uncordon, no operand restart after the selection.
    const selected = run.calls.findIndex((call) => call.startsWith(`kubectl label node ${NODE_NAME} ${DCM_PROFILE_LABEL}=`));
    expect(pollSleeps(run.calls.slice(selected))).toEqual(['sleep 5', 'sleep 5', 'sleep 5']);
    expect(mutations(run.calls.slice(selected + 1))).toEqual([`kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=failed --overwrite`, 'kubectl create -f -']);
    expect(run.node.unschedulable).toBe(true);
    expect(run.node.taints.map((taint) => taint.key)).toEqual([PARTITIONING_TAINT_KEY]);
  });

  it('DCM reporting failure is waited out (DCM retries every minute), then DcmPartitionFailed quotes DCM\'s last Warning Event', async () => {
    const run = await runPartitionScript(scenario({ dcm: { ...dcm('failure', 1), podName: DCM_POD.name }, env: { DCM_TIMEOUT_SECONDS: '10' } }));
    expect(run.exitCode).toBe(1);
    expect(reasons(run).at(-1)).toEqual(['Warning', 'DcmPartitionFailed']);
    expect(run.events.at(-1)?.message).toContain(`${DCM_STATE_LABEL}=failure for profile cpx-nps4-8gpu after 10s`);
    // DCM's own reason, read from the Events on its pod.
    expect(run.events.at(-1)?.message).toContain("DCM's last Warning: NodeNotTaintedBeforeParition: {\"FinalStatus\":\"\", \"Reason\":\"Taint node and then partition.\"}");
    expect(run.node.labels[PARTITION_STATE_LABEL]).toBe('failed');
    expect(run.gpus.gpus).toEqual(uniformGpus('SPX', 'NPS1'));
  });

  it('without a DCM pod on the node, refuses before draining: Event, label, node in service', async () => {
    const run = await runPartitionScript(scenario({ pods: [PLUGIN_POD, MODEL_POD] }));
    expect(run.exitCode).toBe(1);
    expect(reasons(run)).toEqual([['Warning', 'DcmNotRunning']]);
    expect(run.events[0]?.message).toContain('spec.configManager');
    expect(mutations(run.calls)).toEqual([`kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=unsupported --overwrite`, 'kubectl create -f -']);
    expect(run.node.unschedulable).toBe(false);
    expect(run.node.labels[DCM_PROFILE_LABEL]).toBe('spx-nps1-8gpu');
  });

  it('removes only the DCM labels the node carries before selecting, and on a node DCM never touched, none', async () => {
    const { [DCM_STATE_LABEL]: _, ...noState } = SPX_NODE.labels;
    const { [DCM_PROFILE_LABEL]: __, ...untouched } = noState;
    const removals = async (labels: Record<string, string>) => {
      const run = await runPartitionScript(scenario({ node: { ...SPX_NODE, labels } }));
      expect(run.exitCode).toBe(0);
      return run.calls.filter((call) => call.startsWith(`kubectl label node ${NODE_NAME} dcm.amd.com/`) && call.endsWith('-'));
    };
    expect(await removals(noState)).toEqual([`kubectl label node ${NODE_NAME} ${DCM_PROFILE_LABEL}-`]);
    expect(await removals(untouched)).toEqual([]);
  });

  it('a move must be Ready at its destination before the old node is drained', async () => {
    const elsewhere: FakePod = { namespace: 'aim-models', name: 'llama-70b-0-new', node: 'gpu-node-02', labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '0' }, readyAfterSleeps: 2 };
    const run = await runPartitionScript(scenario({ pods: [DCM_POD, PLUGIN_POD, MODEL_POD, elsewhere], elsewhere: { 'gpu-node-02': { 'llama-70b': [0] } } }));
    expect(run.exitCode).toBe(0);
    const first = (prefix: string) => run.calls.findIndex((call) => call.startsWith(prefix));
    expect(pollSleeps(run.calls.slice(0, first('kubectl cordon')))).toEqual(['sleep 5', 'sleep 5']);
    expect(first('kubectl create --raw')).toBeGreaterThan(first('kubectl cordon'));
  });
});

describe.concurrent('dcm-node.sh on a node in its profile', { timeout: 90_000 }, () => {
  const CPX_READY: FakeNode = {
    labels: { [PROFILE_LABEL]: 'cpx-nps4', [PARTITION_STATE_LABEL]: 'ready', [DCM_PROFILE_LABEL]: 'cpx-nps4-8gpu', [DCM_STATE_LABEL]: 'success' },
    taints: [],
    allocatable: { 'amd.com/gpu': '64' },
  };

  it('changes nothing when DCM reports success and the node is labelled ready', async () => {
    const run = await runPartitionScript(scenario({ gpus: { layout: 'wrapped', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') }, node: CPX_READY }));
    expect(run.exitCode).toBe(0);
    expect(mutations(run.calls)).toEqual([]);
    expect(run.events).toEqual([]);
    expect(run.ready).toBe(true);
  });

  it('a pod restarted while DCM works resumes waiting, without selecting the profile again', async () => {
    const working: FakeNode = {
      labels: { [PROFILE_LABEL]: 'spx-nps1', [PARTITION_STATE_LABEL]: 'partitioning', [DCM_PROFILE_LABEL]: 'cpx-nps4-8gpu' },
      annotations: { [CORDONED_ANNOTATION]: 'true' },
      taints: [{ key: PARTITIONING_TAINT_KEY, value: 'true', effect: 'NoSchedule' }],
      unschedulable: true,
      allocatable: { 'amd.com/gpu': '8' },
    };
    const run = await runPartitionScript(scenario({ node: working, pods: [DCM_POD], dcm: { ...dcm('success'), attemptRunning: true } }));
    expect(run.exitCode).toBe(0);
    expect(run.calls.filter((call) => call.startsWith(`kubectl label node ${NODE_NAME} ${DCM_PROFILE_LABEL}`))).toEqual([]);
    expect(run.calls.filter((call) => call.startsWith('kubectl create --raw'))).toEqual([]);
    expect(run.node).toMatchObject({ labels: { [PROFILE_LABEL]: 'cpx-nps4', [PARTITION_STATE_LABEL]: 'ready' }, unschedulable: false, taints: [] });
    expect(reasons(run)).toEqual([['Normal', 'Partitioned']]);
  });

  it('fails when the profile file names no DCM profile (a builtin plan)', async () => {
    const { dcmProfile: _, ...builtin } = CPX_NPS4;
    const run = await runPartitionScript(scenario({ profile: builtin }));
    expect(run.exitCode).toBe(1);
    expect(reasons(run)).toEqual([['Warning', 'InvalidProfile']]);
    expect(run.node.unschedulable).toBe(false);
  });
});
