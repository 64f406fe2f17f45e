import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { PARTITION_STATE_LABEL, PARTITIONING_TAINT_KEY, PROFILE_LABEL } from '../../constructs/labels.ts';
import { nodePartitionProfile } from '../../constructs/partition-profiles.ts';
import { planNode, uniformNode } from './fixtures.ts';
import { mutations, NODE_NAME, runPartitionScript, SCRIPT_PATH, uniformGpus } from './script-harness.ts';

const CPX_NPS4 = nodePartitionProfile(uniformNode(NODE_NAME, 'mi300x', 'CPX-NPS4'));
const TAINT = `${PARTITIONING_TAINT_KEY}=true:NoExecute`;
const READY_LABELS = { [PROFILE_LABEL]: 'cpx-nps4', [PARTITION_STATE_LABEL]: 'ready' };
const PARTITIONING_TAINT = { key: PARTITIONING_TAINT_KEY, value: 'true', effect: 'NoExecute' };
const RESTART_DEVICE_PLUGIN = `kubectl delete pod -n kube-amd-gpu -l daemonset-name=gpu-operator --field-selector spec.nodeName=${NODE_NAME} --wait=false`;

describe('partition-node.sh', () => {
  it('passes shellcheck', async () => {
    const shellcheck = await execa('shellcheck', ['--version'], { reject: false });
    if (shellcheck.failed) {
      if (process.env.REQUIRE_SHELLCHECK === '1') throw new Error('shellcheck is not on PATH but REQUIRE_SHELLCHECK=1');
      console.warn('shellcheck is not on PATH: skipping the lint of partition-node.sh (set REQUIRE_SHELLCHECK=1 to fail)');
      return;
    }
    const result = await execa('shellcheck', ['--shell=bash', SCRIPT_PATH], { reject: false });
    expect(result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });

  describe.concurrent('on a node already in its profile', { timeout: 60_000 }, () => {
    it.each([
      { layout: 'bare', banner: undefined, output: 'bare-list amd-smi JSON' },
      { layout: 'wrapped', banner: undefined, output: 'gpu_data amd-smi JSON' },
      { layout: 'wrapped', banner: '[WARNING] amdgpu driver version mismatch', output: 'a warning before the JSON' },
      { layout: 'wrapped', computeKey: 'accelerator_partition', output: 'the newer accelerator_partition key' },
    ] as const)('changes no GPU and labels the node ready ($output)', async ({ layout, ...variant }) => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout, ...variant, rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') },
      });
      expect(run.exitCode).toBe(0);
      expect(mutations(run.calls)).toEqual([
        `kubectl label node ${NODE_NAME} ${PROFILE_LABEL}=cpx-nps4 ${PARTITION_STATE_LABEL}=ready --overwrite`,
      ]);
      expect(run.node).toEqual({ labels: READY_LABELS, taints: [] });
      expect(run.ready).toBe(true);
      expect(run.events).toEqual([]);
    });

    it('only removes a leftover partitioning taint, whatever its effect, when the labels are right', async () => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') },
        node: { labels: { ...READY_LABELS }, taints: [{ key: PARTITIONING_TAINT_KEY, effect: 'NoSchedule' }] },
      });
      expect(run.exitCode).toBe(0);
      expect(mutations(run.calls)).toEqual([`kubectl taint node ${NODE_NAME} ${PARTITIONING_TAINT_KEY}-`]);
      expect(run.node.taints).toEqual([]);
      expect(run.ready).toBe(true);
    });

    it('fails when the modes are right but partitions are missing, without touching the GPUs', async () => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4'), listCount: 63 },
      });
      expect(run.exitCode).toBe(1);
      expect(mutations(run.calls)).toEqual([
        `kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=failed --overwrite`,
        'kubectl create -f -',
      ]);
      expect(run.events.map((event) => [event.type, event.reason])).toEqual([['Warning', 'PartitionCountMismatch']]);
      expect(run.events[0]?.message).toContain('lists 63 partitions, plan has 64');
      expect(run.ready).toBe(false);
    });
  });

  describe.concurrent('on a node out of its profile', { timeout: 60_000 }, () => {
    it.each(['7.0.2', 'N/A'])('taints, sets memory, reloads the driver, sets compute, verifies, restarts the device plugin, labels, untaints (ROCm %s)', async (rocmVersion) => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout: 'wrapped', rocmVersion, gpus: uniformGpus('SPX', 'NPS1') },
        node: { labels: { [PROFILE_LABEL]: 'spx-nps1', [PARTITION_STATE_LABEL]: 'ready' }, taints: [] },
      });
      expect(run.exitCode).toBe(0);
      // Writes, plus the drain check before the first set and the partition count check before the restart.
      const steps = run.calls.filter((call) => /^(amd-smi (set|process|list)|modprobe|kubectl (label|taint|delete|create))/.test(call));
      expect(steps).toEqual([
        `kubectl taint node ${NODE_NAME} ${TAINT} --overwrite`,
        `kubectl label node ${NODE_NAME} ${PARTITION_STATE_LABEL}=partitioning --overwrite`,
        'kubectl create -f -',
        'amd-smi process --json',
        'amd-smi set --memory-partition NPS4',
        'modprobe -r amdgpu',
        'modprobe amdgpu',
        'amd-smi set --gpu all --compute-partition CPX',
        'amd-smi list --json',
        RESTART_DEVICE_PLUGIN,
        `kubectl label node ${NODE_NAME} ${PROFILE_LABEL}=cpx-nps4 ${PARTITION_STATE_LABEL}=ready --overwrite`,
        `kubectl taint node ${NODE_NAME} ${PARTITIONING_TAINT_KEY}-`,
        'kubectl create -f -',
      ]);
      expect(run.gpus.gpus).toEqual(uniformGpus('CPX', 'NPS4'));
      expect(run.node).toEqual({ labels: READY_LABELS, taints: [] });
      expect(run.events.map((event) => [event.type, event.reason])).toEqual([
        ['Normal', 'Repartitioning'],
        ['Normal', 'Partitioned'],
      ]);
      expect(run.ready).toBe(true);
    });

    it('leaves the driver reload to amd-smi on ROCm 6.4', async () => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout: 'bare', rocmVersion: '6.4.1', gpus: uniformGpus('SPX', 'NPS1') },
      });
      expect(run.exitCode).toBe(0);
      expect(run.calls.filter((call) => call.startsWith('modprobe'))).toEqual([]);
      expect(run.calls).toContain('amd-smi set --memory-partition NPS4');
      expect(run.gpus.gpus).toEqual(uniformGpus('CPX', 'NPS4'));
    });

    it('sets only the compute mode when the memory mode is already right', async () => {
      const run = await runPartitionScript({
        profile: nodePartitionProfile(uniformNode(NODE_NAME, 'mi300x', 'CPX-NPS1')),
        gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      });
      expect(run.exitCode).toBe(0);
      expect(run.calls.filter((call) => /^(amd-smi set|modprobe)/.test(call))).toEqual([
        'amd-smi set --gpu all --compute-partition CPX',
      ]);
    });

    it('sets a mixed node GPU by GPU, addressing each by the logical index of its first partition', async () => {
      const mixed = planNode(NODE_NAME, 'mi300x', ['SPX-NPS1', 'CPX-NPS1', 'SPX-NPS1', 'CPX-NPS1']);
      const run = await runPartitionScript({
        profile: nodePartitionProfile(mixed),
        gpus: { layout: 'wrapped', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS1', 4) },
      });
      expect(run.exitCode).toBe(0);
      // GPU 0 becomes SPX, so GPU 2's first partition moves from logical index 16 to 9.
      expect(run.calls.filter((call) => call.startsWith('amd-smi set'))).toEqual([
        'amd-smi set --gpu 0 --compute-partition SPX',
        'amd-smi set --gpu 9 --compute-partition SPX',
      ]);
      expect(run.gpus.gpus.map((gpu) => gpu.compute)).toEqual(['SPX', 'CPX', 'SPX', 'CPX']);
      expect(run.node.labels[PROFILE_LABEL]).toBe(nodePartitionProfile(mixed).label);
    });

    it('waits while a GPU is busy and proceeds once it is free', async () => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), busyPolls: 2 },
        env: { POLL_INTERVAL_SECONDS: '5', DRAIN_TIMEOUT_SECONDS: '60' },
      });
      expect(run.exitCode).toBe(0);
      const drain = run.calls.slice(run.calls.indexOf('amd-smi process --json'), run.calls.indexOf('amd-smi set --memory-partition NPS4'));
      expect(drain).toEqual([
        'amd-smi process --json',
        'sleep 5',
        'amd-smi process --json',
        'sleep 5',
        'amd-smi process --json',
      ]);
      expect(run.node).toEqual({ labels: READY_LABELS, taints: [] });
    });

    it('fails when a GPU stays busy past the drain timeout: tainted, labelled failed, Event, GPUs untouched', async () => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout: 'wrapped', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), busyPolls: -1 },
        env: { POLL_INTERVAL_SECONDS: '10', DRAIN_TIMEOUT_SECONDS: '30' },
      });
      expect(run.exitCode).toBe(1);
      expect(run.calls.filter((call) => call === 'amd-smi process --json')).toHaveLength(4);
      expect(run.calls.filter((call) => /^(amd-smi set|modprobe)/.test(call))).toEqual([]);
      expect(run.node).toEqual({ labels: { [PARTITION_STATE_LABEL]: 'failed' }, taints: [PARTITIONING_TAINT] });
      const failure = run.events.at(-1);
      expect(failure).toMatchObject({
        type: 'Warning',
        reason: 'GpuBusy',
        metadata: { namespace: 'aim-system' },
        involvedObject: { kind: 'Node', name: NODE_NAME, uid: NODE_NAME },
      });
      expect(failure?.message).toBe('GPUs still used by 1 process(es) after 30s: python3(4242)');
      expect(run.ready).toBe(false);
    });

    it('fails when amd-smi set fails, before any driver reload', async () => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), failSet: 'memory' },
      });
      expect(run.exitCode).toBe(1);
      expect(run.calls.filter((call) => call.startsWith('modprobe'))).toEqual([]);
      expect(run.node).toEqual({
        labels: { [PARTITION_STATE_LABEL]: 'failed' },
        taints: [PARTITIONING_TAINT],
      });
      expect(run.events.at(-1)?.reason).toBe('MemoryPartitionSetFailed');
      expect(run.events.at(-1)?.message).toContain('[AMDSMI_STATUS_BUSY] Unable to set memory partition to NPS4');
    });

    it('fails when amd-smi set of the compute mode fails', async () => {
      const run = await runPartitionScript({
        profile: nodePartitionProfile(uniformNode(NODE_NAME, 'mi300x', 'CPX-NPS1')),
        gpus: { layout: 'wrapped', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), failSet: 'compute' },
      });
      expect(run.exitCode).toBe(1);
      expect(run.events.at(-1)?.reason).toBe('ComputePartitionSetFailed');
      expect(run.node.taints).toEqual([PARTITIONING_TAINT]);
    });

    it('fails when the partition count is wrong after setting, and keeps the device plugin and taint', async () => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1'), listCount: 8 },
      });
      expect(run.exitCode).toBe(1);
      expect(run.calls).not.toContain(RESTART_DEVICE_PLUGIN);
      expect(run.node).toEqual({ labels: { [PARTITION_STATE_LABEL]: 'failed' }, taints: [PARTITIONING_TAINT] });
      expect(run.events.at(-1)).toMatchObject({
        type: 'Warning',
        reason: 'PartitionVerificationFailed',
        message: 'amd-smi lists 8 partitions after partitioning, plan has 64',
      });
      expect(run.ready).toBe(false);
    });
  });

  describe.concurrent('reports what it cannot do', { timeout: 60_000 }, () => {
    it('fails when the node has no planned profile', async () => {
      const run = await runPartitionScript({
        profile: undefined,
        gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('SPX', 'NPS1') },
      });
      expect(run.exitCode).toBe(1);
      expect(run.calls.some((call) => call.startsWith('amd-smi'))).toBe(false);
      expect(run.events.map((event) => event.reason)).toEqual(['NodeNotInPlan']);
      expect(run.node.labels).toEqual({ [PARTITION_STATE_LABEL]: 'failed' });
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
      expect(run.node.labels[PARTITION_STATE_LABEL]).toBe('failed');
    });

    it('fails when a setting is not a number of seconds', async () => {
      const run = await runPartitionScript({
        profile: CPX_NPS4,
        gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') },
        env: { DRAIN_TIMEOUT_SECONDS: '10m' },
      });
      expect(run.exitCode).toBe(1);
      expect(run.events.at(-1)?.reason).toBe('InvalidSettings');
      expect(run.events.at(-1)?.message).toContain("DRAIN_TIMEOUT_SECONDS must be a whole number of seconds, got '10m'");
    });
  });

  it('stops without reporting a failure when its pod is deleted while it re-checks', { timeout: 60_000 }, async () => {
    const run = await runPartitionScript({
      profile: CPX_NPS4,
      gpus: { layout: 'bare', rocmVersion: '7.0.2', gpus: uniformGpus('CPX', 'NPS4') },
      node: { labels: { ...READY_LABELS }, taints: [] },
      terminateWhenReady: true,
      env: { RECHECK_INTERVAL_SECONDS: '300' },
    });
    expect(run.exitCode).toBe(143);
    expect(run.calls.at(-1)).toBe('sleep 300');
    expect(mutations(run.calls)).toEqual([]);
    expect(run.events).toEqual([]);
  });
});
