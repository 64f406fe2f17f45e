import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
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
import { nodePartitionProfile, type ProfileContext } from '../../constructs/partition-profiles.ts';
import { planNode, uniformNode } from './fixtures.ts';
import {
  FakeNodeSession,
  type FakeNode,
  mutations,
  NODE_NAME,
  runPartitionScript,
  SCRIPT_PATH,
  type ScriptRun,
  uniformGpus,
} from './script-harness.ts';

const CONTEXT: ProfileContext = { deviceResourceNaming: 'single', isolation: 'devicePlugin', replicas: [] };
const CPX_NPS4 = nodePartitionProfile(uniformNode(NODE_NAME, 'mi300x', 'CPX-NPS4'), CONTEXT);
const CPX_NPS1 = nodePartitionProfile(uniformNode(NODE_NAME, 'mi300x', 'CPX-NPS1'), CONTEXT);
const READY_LABELS = { [PROFILE_LABEL]: 'cpx-nps4', [PARTITION_STATE_LABEL]: 'ready' };
const READY_NODE: FakeNode = { labels: { ...READY_LABELS }, taints: [] };
const SPX_READY_NODE: FakeNode = { labels: { [PROFILE_LABEL]: 'spx-nps1', [PARTITION_STATE_LABEL]: 'ready' }, taints: [], allocatable: { 'amd.com/gpu': '8' } };
const HOLD_TAINT = `${PARTITIONING_TAINT_KEY}=true:NoSchedule`;
const RESTART_OPERANDS = `kubectl delete pod -n kube-amd-gpu -l daemonset-name=gpu-operator --field-selector spec.nodeName=${NODE_NAME} --wait=false`;
const SCRIPTS_DIR = join(SCRIPT_PATH, '..');
const FAST = { POLL_INTERVAL_SECONDS: '5' };

const reasons = (run: ScriptRun) => run.events.map((event) => [event.type, event.reason]);
const gpuWrites = (run: ScriptRun) => run.calls.filter((call) => /^(amd-smi set|modprobe )/.test(call));
const evictions = (run: ScriptRun) => run.calls.filter((call) => call.startsWith('kubectl create --raw'));

describe('node scripts', () => {
  it('pass shellcheck, following what they source', async () => {
    const shellcheck = await execa('shellcheck', ['--version'], { reject: false });
    if (shellcheck.failed) {
      if (process.env.REQUIRE_SHELLCHECK === '1') throw new Error('shellcheck is not on PATH but REQUIRE_SHELLCHECK=1');
      console.warn('shellcheck is not on PATH: skipping the lint of the node scripts (set REQUIRE_SHELLCHECK=1 to fail)');
      return;
    }
    const scripts = readdirSync(SCRIPTS_DIR).filter((file) => file.endsWith('.sh')).map((file) => join(SCRIPTS_DIR, file));
    expect(scripts.length).toBeGreaterThanOrEqual(2);
    const result = await execa('shellcheck', ['-x', '--shell=bash', ...scripts], { reject: false });
    expect(result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });
});

describe.concurrent('partition-node.sh on a node already in its profile', { timeout: 60_000 }, () => {
  it.each([
    { layout: 'bare', output: 'bare-list amd-smi JSON' },
    { layout: 'wrapped', output: 'gpu_data amd-smi JSON' },
    { layout: 'wrapped', banner: '[WARNING] amdgpu driver version mismatch', output: 'a warning before the JSON' },
    { layout: 'wrapped', computeKey: 'accelerator_partition', output: 'the newer accelerator_partition key' },
  ] as const)('changes nothing when labelled ready ($output)', async ({ layout, output: _, ...variant }) => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout, ...variant, rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') },
      node: READY_NODE,
    });
    expect(run.exitCode).toBe(0);
    expect(mutations(run.calls)).toEqual([]);
    expect(run.ready).toBe(true);
    expect(run.events).toEqual([]);
  });

  it('on a first run, restarts the GPU Operator pods, checks allocatable, then labels the node ready', async () => {
    const run = await runPartitionScript({ profile: CPX_NPS4, gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') } });
    expect(run.exitCode).toBe(0);
    expect(mutations(run.calls)).toEqual([
      RESTART_OPERANDS,
      `kubectl label node ${NODE_NAME} ${PROFILE_LABEL}=cpx-nps4 ${PARTITION_STATE_LABEL}=ready --overwrite`,
      'kubectl create -f -',
    ]);
    expect(run.node.labels).toEqual(READY_LABELS);
    expect(reasons(run)).toEqual([['Normal', 'Partitioned']]);
  });

  it('removes a partitioning taint left by an older version, whatever its effect', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') },
      node: { labels: { ...READY_LABELS }, taints: [{ key: PARTITIONING_TAINT_KEY, value: 'true', effect: 'NoExecute' }] },
    });
    expect(run.exitCode).toBe(0);
    expect(mutations(run.calls)).toEqual([RESTART_OPERANDS, `kubectl taint node ${NODE_NAME} ${PARTITIONING_TAINT_KEY}-`]);
    expect(run.node.taints).toEqual([]);
  });

  it('fails when the modes are right but partitions are missing, without touching the GPUs', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4'), listCount: 63 },
      node: READY_NODE,
    });
    expect(run.exitCode).toBe(1);
    expect(mutations(run.calls)).toEqual([`kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=failed --overwrite`, 'kubectl create -f -']);
    expect(reasons(run)).toEqual([['Warning', 'PartitionCountMismatch']]);
    expect(run.events[0]?.message).toContain('lists 63 partitions, plan has 64');
  });

  it('retries a transient N/A read instead of draining a healthy node (reproduces: one N/A read drained it)', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'wrapped', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4'), naReads: 2 },
      node: READY_NODE,
      env: FAST,
    });
    expect(run.exitCode).toBe(0);
    expect(run.calls.filter((call) => /^(amd-smi static|sleep [1-9])/.test(call))).toEqual([
      'amd-smi static --partition --json',
      'sleep 5',
      'amd-smi static --partition --json',
      'sleep 5',
      'amd-smi static --partition --json',
    ]);
    expect(mutations(run.calls)).toEqual([]);
  });

  it('fails without draining when the reads stay N/A', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'wrapped', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4'), naReads: 99 },
      node: READY_NODE,
      env: { ...FAST, READ_RETRIES: '2' },
    });
    expect(run.exitCode).toBe(1);
    expect(reasons(run)).toEqual([['Warning', 'AmdSmiUnreadable']]);
    expect(run.node.unschedulable).toBe(false);
    expect(evictions(run)).toEqual([]);
  });
});

describe.concurrent('partition-node.sh on a node out of its profile', { timeout: 60_000 }, () => {
  it.each(['7.0.2', 'N/A'])('waits for moves, locks, cordons, drains, holds the operands, changes, verifies, restarts, checks allocatable, uncordons (ROCm %s)', async (rocmVersion) => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'wrapped', rocmVersion, gpus: uniformGpus('SPX', 'NPS1') },
      node: SPX_READY_NODE,
      pods: [{ namespace: 'aim-models', name: 'llama-70b-0', node: NODE_NAME, gpu: true, labels: { [MODEL_LABEL]: 'llama-70b' } }],
    });
    expect(run.exitCode).toBe(0);
    expect(run.calls.filter((call) => call.includes('WITHOUT TIMEOUT'))).toEqual([]);
    expect(mutations(run.calls)).toEqual([
      'kubectl create -f -', // the Lease
      `kubectl annotate node ${NODE_NAME} ${CORDONED_ANNOTATION}=true --overwrite`,
      `kubectl cordon ${NODE_NAME}`,
      `kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=draining --overwrite`,
      'kubectl create -f -', // Repartitioning
      'kubectl create --raw /api/v1/namespaces/aim-models/pods/llama-70b-0/eviction -f -',
      `kubectl taint node ${NODE_NAME} ${HOLD_TAINT} --overwrite`,
      RESTART_OPERANDS,
      `kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=partitioning --overwrite`,
      `kubectl annotate node ${NODE_NAME} ${RELOAD_ANNOTATION}=cpx-nps4 --overwrite`,
      'amd-smi set --memory-partition NPS4',
      'modprobe -r amdgpu',
      'modprobe amdgpu',
      'amd-smi set --gpu all --compute-partition CPX',
      RESTART_OPERANDS,
      `kubectl taint node ${NODE_NAME} ${PARTITIONING_TAINT_KEY}-`,
      `kubectl uncordon ${NODE_NAME}`,
      `kubectl annotate node ${NODE_NAME} ${CORDONED_ANNOTATION}-`,
      `kubectl label node ${NODE_NAME} ${PROFILE_LABEL}=cpx-nps4 ${PARTITION_STATE_LABEL}=ready --overwrite`,
      'kubectl replace -f -', // the Lease released
      `kubectl annotate node ${NODE_NAME} ${RELOAD_ANNOTATION}-`,
      'kubectl create -f -', // Partitioned
    ]);
    expect(run.gpus.gpus).toEqual(uniformGpus('CPX', 'NPS4'));
    expect(run.node).toMatchObject({ labels: READY_LABELS, annotations: {}, taints: [], unschedulable: false, allocatable: { 'amd.com/gpu': '64' } });
    expect(run.pods).toEqual([]);
    expect(run.leases['aim-node-partitioner-0']?.spec.holderIdentity).toBe('');
    expect(reasons(run)).toEqual([['Normal', 'Repartitioning'], ['Normal', 'Partitioned']]);
    expect(run.ready).toBe(true);
  });

  it('leaves the driver reload to amd-smi on ROCm 6.4', async () => {
    const run = await runPartitionScript({ profile: CPX_NPS4, gpus: { layout: 'bare', rocmVersion: '6.4.1', gpus: uniformGpus('SPX', 'NPS1') }, node: SPX_READY_NODE });
    expect(run.exitCode).toBe(0);
    expect(gpuWrites(run)).toEqual(['amd-smi set --memory-partition NPS4', 'amd-smi set --gpu all --compute-partition CPX']);
    expect(run.calls.filter((call) => call.startsWith('modinfo'))).toEqual([]);
  });

  it('sets only the compute mode when the memory mode is already right', async () => {
    const run = await runPartitionScript({ profile: CPX_NPS1, gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') }, node: SPX_READY_NODE });
    expect(run.exitCode).toBe(0);
    expect(gpuWrites(run)).toEqual(['amd-smi set --gpu all --compute-partition CPX']);
    expect(run.node.annotations).toEqual({});
  });

  it('sets a mixed node GPU by GPU, addressing each by the logical index of its first partition', async () => {
    const mixed = nodePartitionProfile(planNode(NODE_NAME, 'mi300x', ['SPX-NPS1', 'CPX-NPS1', 'SPX-NPS1', 'CPX-NPS1']), CONTEXT);
    const run = await runPartitionScript({
      profile: mixed,
      gpus: { layout: 'wrapped', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS1', 4), pluginAdvertises: 18 },
    });
    expect(run.exitCode).toBe(0);
    // GPU 0 becomes SPX, so GPU 2's first partition moves from logical index 16 to 9.
    expect(gpuWrites(run)).toEqual(['amd-smi set --gpu 0 --compute-partition SPX', 'amd-smi set --gpu 9 --compute-partition SPX']);
    expect(run.node.labels[PROFILE_LABEL]).toBe(mixed.label);
  });

  it('fails when amd-smi set fails, before any driver reload, and keeps the node cordoned with its Lease', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), failSet: 'memory' },
      node: SPX_READY_NODE,
    });
    expect(run.exitCode).toBe(1);
    expect(run.calls.filter((call) => call.startsWith('modprobe'))).toEqual([]);
    expect(run.node).toMatchObject({ labels: { [PARTITION_STATE_LABEL]: 'failed' }, unschedulable: true, annotations: { [CORDONED_ANNOTATION]: 'true' } });
    expect(run.leases['aim-node-partitioner-0']?.spec.holderIdentity).toBe(NODE_NAME);
    expect(run.events.at(-1)?.reason).toBe('MemoryPartitionSetFailed');
    expect(run.events.at(-1)?.message).toContain('[AMDSMI_STATUS_BUSY] Unable to set memory partition to NPS4');
  });

  it('fails when the partition count is wrong after setting, without restarting the device plugin', async () => {
    const run = await runPartitionScript({ profile: CPX_NPS4, gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), listCount: 8 } });
    expect(run.exitCode).toBe(1);
    expect(run.calls.filter((call) => call === RESTART_OPERANDS)).toHaveLength(1); // the hold before the change only
    expect(run.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'PartitionVerificationFailed', message: 'amd-smi lists 8 partitions after partitioning, plan has 64' });
    expect(run.node.unschedulable).toBe(true);
  });
});

describe.concurrent('partition-node.sh defects, each reproduced by a fake before its fix', { timeout: 60_000 }, () => {
  it('a host process holding the GPU (invisible to amd-smi process without the host PID namespace) is waited for', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), kfdProcesses: { pids: [4242], exitAfterSleeps: 2 } },
      env: FAST,
    });
    expect(run.exitCode).toBe(0);
    const hold = run.calls.indexOf(RESTART_OPERANDS);
    const firstSet = run.calls.indexOf('amd-smi set --memory-partition NPS4');
    expect(run.calls.slice(hold + 1, firstSet).filter((call) => /^sleep [1-9]/.test(call))).toEqual(['sleep 5', 'sleep 5']);
  });

  it('a host process that never exits ends in GpuBusy with its host PID, GPUs untouched, node cordoned', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), kfdProcesses: { pids: [4242, 5151], exitAfterSleeps: -1 } },
      env: { POLL_INTERVAL_SECONDS: '10', DRAIN_TIMEOUT_SECONDS: '30' },
    });
    expect(run.exitCode).toBe(1);
    expect(gpuWrites(run)).toEqual([]);
    expect(run.events.at(-1)?.reason).toBe('GpuBusy');
    expect(run.events.at(-1)?.message).toMatch(/^2 process\(es\) still hold the GPUs after 30s \(host PIDs 4242 5151\)/);
    expect(run.node.unschedulable).toBe(true);
  });

  it('a KMM-managed driver is refused before anything changes, pointing at the gpu-operator backend', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      node: { ...SPX_READY_NODE, labels: { ...SPX_READY_NODE.labels, 'kmm.node.kubernetes.io/kube-amd-gpu.gpu-operator.ready': '' } },
    });
    expect(run.exitCode).toBe(1);
    expect(mutations(run.calls)).toEqual([`kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=unsupported --overwrite`, 'kubectl create -f -']);
    expect(reasons(run)).toEqual([['Warning', 'KmmManagedDriver']]);
    expect(run.events[0]?.message).toContain('spec.partitioning.backend: gpu-operator');
    expect(run.node.unschedulable).toBe(false);
  });

  it('a driver missing from the host\'s /lib/modules is refused before the node is drained', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), moduleMissingOnHost: true },
      pods: [{ namespace: 'aim-models', name: 'm-0', node: NODE_NAME, gpu: true }],
    });
    expect(run.exitCode).toBe(1);
    expect(reasons(run)).toEqual([['Warning', 'DriverNotInHostModules']]);
    expect(evictions(run)).toEqual([]);
    expect(run.calls.filter((call) => call.startsWith('modprobe'))).toEqual([]);
  });

  it('allocatable short of the plan (63 of 64) keeps the node cordoned and fails loudly', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), pluginAdvertises: 63 },
      env: { POLL_INTERVAL_SECONDS: '10', ALLOCATABLE_TIMEOUT_SECONDS: '20' },
    });
    expect(run.exitCode).toBe(1);
    expect(run.events.at(-1)).toMatchObject({ reason: 'AllocatableMismatch' });
    expect(run.events.at(-1)?.message).toBe('node allocatable is amd.com/gpu=63 20s after repartitioning, plan has amd.com/gpu=64; the node stays cordoned');
    expect(run.node).toMatchObject({ unschedulable: true, labels: { [PARTITION_STATE_LABEL]: 'failed' } });
    expect(run.ready).toBe(false);
  });

  it('a pod killed between the mode change and the plugin restart: the next pod restarts the plugin before ready', async () => {
    const session = new FakeNodeSession({ profile: CPX_NPS4, gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') }, node: SPX_READY_NODE });
    try {
      const killed = await session.run({ killAfter: 'amd-smi list' });
      expect(killed.exitCode).toBe(137);
      expect(killed.gpus.gpus).toEqual(uniformGpus('CPX', 'NPS4'));
      expect(killed.node).toMatchObject({ unschedulable: true, labels: { [PARTITION_STATE_LABEL]: 'partitioning' } });
      expect(killed.node.allocatable).toEqual({ 'amd.com/gpu': '8' }); // the stale count of the old plugin
      const next = await session.run();
      expect(next.exitCode).toBe(0);
      expect(gpuWrites(next)).toEqual([]);
      const restart = next.calls.indexOf(RESTART_OPERANDS);
      const readyLabel = next.calls.indexOf(`kubectl label node ${NODE_NAME} ${PROFILE_LABEL}=cpx-nps4 ${PARTITION_STATE_LABEL}=ready --overwrite`);
      expect(restart).toBeGreaterThanOrEqual(0);
      expect(readyLabel).toBeGreaterThan(restart);
      expect(next.node).toMatchObject({ unschedulable: false, taints: [], labels: READY_LABELS, allocatable: { 'amd.com/gpu': '64' } });
      expect(next.leases['aim-node-partitioner-0']?.spec.holderIdentity).toBe('');
    } finally {
      session.cleanup();
    }
  });

  it('a SIGTERM during the mode change is deferred until the change is complete', async () => {
    const session = new FakeNodeSession({ profile: CPX_NPS4, gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') } });
    try {
      const terminated = await session.run({ termAfter: 'amd-smi set --memory-partition' });
      expect(terminated.exitCode).toBe(143);
      expect(gpuWrites(terminated)).toEqual(['amd-smi set --memory-partition NPS4', 'modprobe -r amdgpu', 'modprobe amdgpu', 'amd-smi set --gpu all --compute-partition CPX']);
      expect(terminated.events.map((event) => event.reason)).not.toContain('PartitioningFailed');
      const next = await session.run();
      expect(next.exitCode).toBe(0);
      expect(next.node.labels).toEqual(READY_LABELS);
    } finally {
      session.cleanup();
    }
  });

  it('an unsupported mode is found before draining: Event, label, node in service', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), available: { compute: 'SPX, DPX', memory: 'NPS1, NPS2' } },
      node: SPX_READY_NODE,
      pods: [{ namespace: 'aim-models', name: 'm-0', node: NODE_NAME, gpu: true }],
    });
    expect(run.exitCode).toBe(1);
    expect(reasons(run)).toEqual([['Warning', 'UnsupportedProfile']]);
    expect(run.events[0]?.message).toMatch(/^GPU 0 \(0000:0c:00\.0\) accepts compute modes SPX DPX, plan has CPX/);
    expect(run.node).toMatchObject({ unschedulable: false, labels: { [PARTITION_STATE_LABEL]: 'unsupported', [PROFILE_LABEL]: 'spx-nps1' } });
    expect(run.pods).toHaveLength(1);
    expect(run.leases).toEqual({});
  });

  it('a driver that does not publish its available modes is not drained', async () => {
    const run = await runPartitionScript({ profile: CPX_NPS4, gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), available: null } });
    expect(reasons(run)).toEqual([['Warning', 'ModesUnknown']]);
    expect(run.node.unschedulable).toBe(false);
  });

  it('a hung amd-smi is killed by its timeout, and the node is not drained', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), hang: 'static' },
      env: { AMD_SMI_TIMEOUT_SECONDS: '1', READ_RETRIES: '1', ...FAST },
    });
    expect(run.exitCode).toBe(1);
    expect(run.calls.filter((call) => call.startsWith('amd-smi static'))).toHaveLength(2);
    expect(reasons(run)).toEqual([['Warning', 'AmdSmiUnreadable']]);
    expect(run.node.unschedulable).toBe(false);
  });

  it('a hung amd-smi set is killed by its timeout and reported', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS1,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), hang: 'set' },
      env: { AMD_SMI_TIMEOUT_SECONDS: '1' },
    });
    expect(run.exitCode).toBe(1);
    expect(run.events.at(-1)?.reason).toBe('ComputePartitionSetFailed');
    expect(run.events.at(-1)?.message).toContain('timed out');
  });

  it('a move must be Ready at its destination before the old node is drained', async () => {
    const run = await runPartitionScript({
      profile: { ...CPX_NPS4, replicas: {} },
      elsewhere: { 'gpu-node-02': { 'llama-70b': [0] } },
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      pods: [
        { namespace: 'aim-models', name: 'llama-70b-old', node: NODE_NAME, gpu: true, labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '0' } },
        { namespace: 'aim-models', name: 'llama-70b-new', node: 'gpu-node-02', gpu: true, labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '0' }, readyAfterSleeps: 2 },
      ],
      env: FAST,
    });
    expect(run.exitCode).toBe(0);
    const firstWrite = run.calls.findIndex((call) => mutations([call]).length > 0);
    expect(run.calls.slice(0, firstWrite).filter((call) => /^(sleep 5$|kubectl get pods -n)/.test(call))).toEqual([
      `kubectl get pods -n aim-models -l ${MODEL_LABEL} -o json`,
      'sleep 5',
      `kubectl get pods -n aim-models -l ${MODEL_LABEL} -o json`,
      'sleep 5',
      `kubectl get pods -n aim-models -l ${MODEL_LABEL} -o json`,
    ]);
    expect(evictions(run)).toEqual(['kubectl create --raw /api/v1/namespaces/aim-models/pods/llama-70b-old/eviction -f -']);
    expect(run.pods.map((pod) => pod.name)).toEqual(['llama-70b-new']);
  });

  it('a move that never becomes Ready delays the drain by the move timeout, then drains with a Warning', async () => {
    const run = await runPartitionScript({
      profile: { ...CPX_NPS4, replicas: {} },
      elsewhere: { 'gpu-node-02': { 'llama-70b': [0] } },
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      pods: [{ namespace: 'aim-models', name: 'llama-70b-old', node: NODE_NAME, gpu: true, labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '0' } }],
      env: { POLL_INTERVAL_SECONDS: '10', MOVE_TIMEOUT_SECONDS: '20' },
    });
    expect(run.exitCode).toBe(0);
    expect(reasons(run)[0]).toEqual(['Warning', 'MovesNotReady']);
    expect(run.events[0]?.message).toContain('llama-70b#0 (to gpu-node-02)');
  });

  it('waits for the moving replica itself: another Ready replica of the model elsewhere does not count', async () => {
    // Counting the model's Ready pods elsewhere (1 of 1 wanted) would drain at once; replica 0 is not there yet.
    const run = await runPartitionScript({
      profile: { ...CPX_NPS4, replicas: {} },
      elsewhere: { 'gpu-node-02': { 'llama-70b': [1] }, 'gpu-node-03': { 'llama-70b': [0] } },
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      pods: [
        { namespace: 'aim-models', name: 'llama-70b-0-old', node: NODE_NAME, gpu: true, labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '0' } },
        { namespace: 'aim-models', name: 'llama-70b-1', node: 'gpu-node-02', gpu: true, labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '1' } },
        { namespace: 'aim-models', name: 'llama-70b-0-new', node: 'gpu-node-03', gpu: true, labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '0' }, readyAfterSleeps: 3 },
      ],
      env: FAST,
    });
    expect(run.exitCode).toBe(0);
    expect(reasons(run).map(([, reason]) => reason)).not.toContain('MovesNotReady');
    const firstWrite = run.calls.findIndex((call) => mutations([call]).length > 0);
    expect(run.calls.slice(0, firstWrite).filter((call) => call === 'sleep 5')).toHaveLength(3);
    expect(evictions(run)).toEqual(['kubectl create --raw /api/v1/namespaces/aim-models/pods/llama-70b-0-old/eviction -f -']);
  });

  it('does not wait for a replica that stays on the node, nor for one the plan no longer has', async () => {
    const run = await runPartitionScript({
      profile: { ...CPX_NPS4, replicas: { 'llama-70b': [0] } },
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      pods: [
        { namespace: 'aim-models', name: 'llama-70b-0', node: NODE_NAME, gpu: true, labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '0' } },
        { namespace: 'aim-models', name: 'llama-70b-5', node: NODE_NAME, gpu: true, labels: { [MODEL_LABEL]: 'llama-70b', [REPLICA_LABEL]: '5' } },
      ],
      env: FAST,
    });
    expect(run.exitCode).toBe(0);
    const firstWrite = run.calls.findIndex((call) => mutations([call]).length > 0);
    expect(run.calls.slice(0, firstWrite).filter((call) => call === 'sleep 5')).toEqual([]);
    expect(evictions(run)).toHaveLength(2);
  });

  it('evicts through the Eviction API, retrying while a PodDisruptionBudget refuses, and leaves pods without GPUs alone', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      pods: [
        { namespace: 'team-a', name: 'trainer', node: NODE_NAME, gpu: true, pdbRefusals: 2 },
        { namespace: 'kube-system', name: 'coredns', node: NODE_NAME },
        { namespace: 'aim-models', name: 'elsewhere', node: 'gpu-node-02', gpu: true },
      ],
      env: FAST,
    });
    expect(run.exitCode).toBe(0);
    expect(evictions(run)).toEqual(Array.from({ length: 3 }, () => 'kubectl create --raw /api/v1/namespaces/team-a/pods/trainer/eviction -f -'));
    expect(run.pods.map((pod) => pod.name)).toEqual(['coredns', 'elsewhere']);
  });

  it('a drain only PodDisruptionBudgets hold past the timeout gives way: uncordoned, Lease released, GPUs untouched, retried later', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      pods: [{ namespace: 'team-a', name: 'trainer', node: NODE_NAME, gpu: true, pdbRefusals: 99 }],
      env: { POLL_INTERVAL_SECONDS: '10', DRAIN_TIMEOUT_SECONDS: '20' },
    });
    expect(run.exitCode).toBe(0);
    expect(run.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'DrainYielded' });
    expect(run.events.at(-1)?.message).toMatch(/^PodDisruptionBudgets refused every eviction for 20s: team-a\/trainer; node back in service, the Lease released, retrying in 300s$/);
    expect(run.node).toMatchObject({ unschedulable: false, annotations: {} });
    expect(run.node.labels[PARTITION_STATE_LABEL]).toBe('draining');
    expect(run.leases['aim-node-partitioner-0']?.spec.holderIdentity).toBe('');
    expect(gpuWrites(run)).toEqual([]);
    expect(run.ready).toBe(true);
  });

  it('a drain a pod holds past the timeout after accepting its eviction fails with the pods named, GPUs untouched', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      pods: [
        { namespace: 'team-a', name: 'trainer', node: NODE_NAME, gpu: true, pdbRefusals: 99 },
        { namespace: 'team-b', name: 'stuck', node: NODE_NAME, gpu: true, lingers: true },
      ],
      env: { POLL_INTERVAL_SECONDS: '10', DRAIN_TIMEOUT_SECONDS: '20' },
    });
    expect(run.exitCode).toBe(1);
    expect(run.events.at(-1)).toMatchObject({ reason: 'DrainTimeout', message: 'pods still hold GPUs on the node after 20s: team-a/trainer, team-b/stuck' });
    expect(run.node.unschedulable).toBe(true);
    expect(gpuWrites(run)).toEqual([]);
  });

  it('a GPU that disappears after a reload is not reloaded again on the next restart', async () => {
    const session = new FakeNodeSession({ profile: CPX_NPS4, gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), gpusAfterReload: 7 }, env: { RELOAD_TIMEOUT_SECONDS: '10', ...FAST } });
    try {
      const first = await session.run();
      expect(first.events.at(-1)?.reason).toBe('GpusMissingAfterReload');
      const second = await session.run();
      expect(second.exitCode).toBe(1);
      expect(second.calls.filter((call) => call.startsWith('modprobe'))).toEqual([]);
      expect(second.events.at(-1)?.reason).toBe('GpuCountMismatch');
      expect(second.gpus.reloads).toBe(1);
    } finally {
      session.cleanup();
    }
  });

  it('a reload that did not reach its memory mode is not repeated on the next restart', async () => {
    const session = new FakeNodeSession({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      node: { labels: { [PARTITION_STATE_LABEL]: 'failed' }, annotations: { [RELOAD_ANNOTATION]: 'cpx-nps4', [CORDONED_ANNOTATION]: 'true' }, taints: [], unschedulable: true },
    });
    try {
      const run = await session.run();
      expect(run.exitCode).toBe(1);
      expect(gpuWrites(run)).toEqual([]);
      expect(run.events.at(-1)?.reason).toBe('ReloadAlreadyAttempted');
      expect(run.events.at(-1)?.message).toContain(`remove the annotation ${RELOAD_ANNOTATION} to retry`);
    } finally {
      session.cleanup();
    }
  });

  it('takes over an expired Lease of a vanished node, and waits behind none', async () => {
    const stale = { metadata: { name: 'aim-node-partitioner-0', namespace: 'aim-system', resourceVersion: '7' }, spec: { holderIdentity: 'gpu-node-09', leaseDurationSeconds: 60, renewTime: '2020-01-01T00:00:00.000000Z' } };
    const run = await runPartitionScript({ profile: CPX_NPS1, gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') }, leases: { 'aim-node-partitioner-0': stale } });
    expect(run.exitCode).toBe(0);
    expect(run.calls.filter((call) => /lease|replace/.test(call))).toEqual([
      'kubectl get lease aim-node-partitioner-0 -n aim-system -o json --ignore-not-found',
      'kubectl replace -f -',
      'kubectl get lease aim-node-partitioner-0 -n aim-system -o json --ignore-not-found',
      'kubectl replace -f -',
    ]);
    expect(run.leases['aim-node-partitioner-0']?.metadata.resourceVersion).toBe('9');
  });

  it('uses a second Lease slot when maxUnavailableNodes allows two nodes at once', async () => {
    const busy = { metadata: { name: 'aim-node-partitioner-0', namespace: 'aim-system', resourceVersion: '3' }, spec: { holderIdentity: 'gpu-node-02', leaseDurationSeconds: 3600, renewTime: new Date().toISOString() } };
    const run = await runPartitionScript({
      profile: CPX_NPS1,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      leases: { 'aim-node-partitioner-0': busy },
      env: { MAX_UNAVAILABLE_NODES: '2' },
    });
    expect(run.exitCode).toBe(0);
    expect(run.leases['aim-node-partitioner-0']?.spec.holderIdentity).toBe('gpu-node-02');
    expect(run.leases['aim-node-partitioner-1']?.spec.holderIdentity).toBe('');
  });
});

describe.concurrent('partition-node.sh reports what it cannot do', { timeout: 60_000 }, () => {
  it('fails when the node has no planned profile', async () => {
    const run = await runPartitionScript({ profile: undefined, gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') } });
    expect(run.exitCode).toBe(1);
    expect(run.calls.some((call) => call.startsWith('amd-smi'))).toBe(false);
    expect(run.events.map((event) => event.reason)).toEqual(['NodeNotInPlan']);
  });

  it('reports an unexpected error instead of dying silently', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') },
      env: { READY_FILE: '/nonexistent/partition-ready' },
    });
    expect(run.exitCode).toBe(1);
    expect(run.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'PartitioningFailed' });
    expect(run.events.at(-1)?.message).toMatch(/^unexpected error \(line \d+: .*READY_FILE/);
  });

  it('fails when a setting is not a number of seconds', async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') },
      env: { DRAIN_TIMEOUT_SECONDS: '10m' },
    });
    expect(run.exitCode).toBe(1);
    expect(run.events.at(-1)?.message).toContain("DRAIN_TIMEOUT_SECONDS must be a whole number of seconds, got '10m'");
  });

  it('stops without reporting a failure when its pod is deleted while it re-checks', async () => {
    const session = new FakeNodeSession({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') },
      node: READY_NODE,
      env: { RECHECK_INTERVAL_SECONDS: '300' },
    });
    try {
      const run = await session.run({ terminateWhenReady: true });
      expect(run.exitCode).toBe(143);
      expect(run.calls.at(-1)).toBe('sleep 300');
      expect(mutations(run.calls)).toEqual([]);
      expect(run.events).toEqual([]);
    } finally {
      session.cleanup();
    }
  });
});
