import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { PARTITION_STATE_LABEL, PARTITIONING_TAINT_KEY, PROFILE_LABEL } from '../../constructs/labels.ts';
import type { NodePartitionProfile } from '../../constructs/partition-profiles.ts';

/**
 * Runs `constructs/scripts/partition-node.sh` once (ONESHOT=1) against fake `amd-smi`, `kubectl`,
 * `modprobe` and `sleep` put first on PATH. The fakes keep the GPUs' and the Node's state in JSON
 * files, so a set changes what the next read reports, and log every call in order.
 */

export const SCRIPT_PATH = fileURLToPath(new URL('../../constructs/scripts/partition-node.sh', import.meta.url));
export const NODE_NAME = 'gpu-node-01';

export type ComputeMode = 'SPX' | 'DPX' | 'QPX' | 'CPX';

export interface FakeGpus {
  /** `bare`: the older bare-list JSON; `wrapped`: `{"gpu_data": [...]}` with N/A on secondaries. */
  readonly layout: 'bare' | 'wrapped';
  /** What `amd-smi version --json` reports as rocm_version. */
  readonly rocmVersion: string;
  readonly gpus: readonly { compute: ComputeMode; memory: string }[];
  /** `amd-smi process` calls that still show a process; -1: every call. @default 0 */
  readonly busyPolls?: number;
  /** Which `amd-smi set` fails. @default - none */
  readonly failSet?: 'memory' | 'compute';
  /** `amd-smi list` shows only this many logical GPUs. @default - all partitions */
  readonly listCount?: number;
  /** A line amd-smi prints before each JSON document, as some versions print warnings. @default - none */
  readonly banner?: string;
  /** Key of the compute mode in `static --partition`: newer amd-smi says `accelerator_partition`. @default compute_partition */
  readonly computeKey?: 'compute_partition' | 'accelerator_partition';
}

export interface FakeNode {
  readonly labels: Record<string, string>;
  readonly taints: { key: string; value?: string; effect: string }[];
}

export interface FakeEvent {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly metadata: { namespace: string; generateName: string };
  readonly involvedObject: { kind: string; name: string; uid: string };
}

export interface ScriptRun {
  readonly exitCode: number;
  /** Every fake call in order, e.g. `amd-smi set --gpu all --compute-partition CPX`. */
  readonly calls: string[];
  readonly events: FakeEvent[];
  readonly node: FakeNode;
  readonly gpus: FakeGpus;
  readonly ready: boolean;
  readonly stderr: string;
}

export interface ScriptScenario {
  /** The node's entry in the profiles ConfigMap; undefined leaves the node out. */
  readonly profile: NodePartitionProfile | undefined;
  readonly gpus: FakeGpus;
  /** @default - no labels, no taints */
  readonly node?: FakeNode;
  /** Extra environment, e.g. DRAIN_TIMEOUT_SECONDS. */
  readonly env?: Record<string, string>;
  /**
   * Run the re-check loop (ONESHOT=0, `sleep` really sleeps) and send SIGTERM once the node is ready,
   * as when the pod is deleted. @default false
   */
  readonly terminateWhenReady?: boolean;
}

// One program for every fake tool: it dispatches on the file name it was started as.
const FAKE_TOOL = String.raw`#!/usr/bin/env node
'use strict';
const fs = require('fs');
const path = require('path');
const tool = path.basename(process.argv[1]);
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_LOG, [tool, ...args].join(' ') + '\n');
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value));
const refuse = (message, code = 1) => { process.stderr.write(message + '\n'); process.exit(code); };
const option = (name) => { const i = args.indexOf(name); return i < 0 ? undefined : args[i + 1]; };

const PARTITIONS = { SPX: 1, DPX: 2, TPX: 3, QPX: 4, CPX: 8 };
// What the driver picks after a reload (the compute mode is not kept across reloads).
const AUTO_COMPUTE = { NPS1: 'SPX', NPS2: 'DPX', NPS4: 'CPX' };

function amdSmi() {
  const file = process.env.FAKE_GPU_STATE;
  const state = readJson(file);
  const wrapped = state.layout === 'wrapped';
  if (state.banner !== undefined) process.stdout.write(state.banner + '\n');
  const print = (devices) => process.stdout.write(JSON.stringify(wrapped ? { gpu_data: devices } : devices));
  const logical = () => state.gpus.flatMap((gpu, physical) =>
    Array.from({ length: PARTITIONS[gpu.compute] }, (_, partition) => ({ gpu, physical, partition })));
  switch (args[0]) {
    case 'version': {
      const doc = { tool: 'AMDSMI Tool', version: '26.0.0', amdsmi_library_version: '26.0.0', rocm_version: state.rocmVersion };
      process.stdout.write(JSON.stringify(wrapped ? doc : [doc]));
      return;
    }
    case 'static':
      const computeKey = state.computeKey ?? 'compute_partition';
      print(logical().map(({ gpu, partition }, index) => ({
        gpu: index,
        partition: wrapped && partition > 0
          ? { [computeKey]: 'N/A', memory_partition: 'N/A', partition_id: partition }
          : { [computeKey]: gpu.compute, memory_partition: gpu.memory, partition_id: partition },
      })));
      return;
    case 'list': {
      const rows = logical().map(({ physical, partition }, index) => ({
        gpu: index, bdf: '0000:' + (12 + 16 * physical).toString(16) + ':00.' + partition, partition_id: partition,
      }));
      print(state.listCount === undefined ? rows : rows.slice(0, state.listCount));
      return;
    }
    case 'process': {
      const busy = state.busyPolls === -1 || state.busyPolls > 0;
      if (state.busyPolls > 0) state.busyPolls -= 1;
      writeJson(file, state);
      print(state.gpus.map((_, index) => ({
        gpu: index,
        process_list: [{ process_info: busy && index === 0
          ? { name: 'python3', pid: 4242, mem_usage: { value: 1024, unit: 'B' } }
          : 'No running processes detected' }],
      })));
      return;
    }
    case 'set': {
      const memory = option('--memory-partition');
      const compute = option('--compute-partition');
      if (memory !== undefined) {
        if (state.failSet === 'memory') refuse('[AMDSMI_STATUS_BUSY] Unable to set memory partition to ' + memory);
        if (fs.readFileSync(0, 'utf8').trim() !== 'y') refuse('Confirmation not given. Exiting without setting value');
        state.pendingMemory = memory;
        // amd-smi of ROCm 6.3 and 6.4 reloads the driver itself.
        if (/^6\.[34]\./.test(state.rocmVersion)) reload(state);
      }
      if (compute !== undefined) {
        if (state.failSet === 'compute') refuse('[AMDSMI_STATUS_SETTING_UNAVAILABLE] Unable to set compute partition to ' + compute);
        const target = option('--gpu');
        if (target === 'all') state.gpus.forEach((gpu) => { gpu.compute = compute; });
        else {
          const row = logical()[Number(target)];
          if (row === undefined || row.partition !== 0) refuse('fake amd-smi: --gpu ' + target + ' is not a primary partition');
          row.gpu.compute = compute;
        }
      }
      writeJson(file, state);
      return;
    }
    default:
      refuse('fake amd-smi: unexpected arguments ' + args.join(' '), 64);
  }
}

function reload(state) {
  if (state.pendingMemory !== undefined) {
    state.gpus.forEach((gpu) => { gpu.memory = state.pendingMemory; });
    delete state.pendingMemory;
  }
  state.gpus.forEach((gpu) => { gpu.compute = AUTO_COMPUTE[gpu.memory]; });
}

function modprobe() {
  const file = process.env.FAKE_GPU_STATE;
  const state = readJson(file);
  if (args.join(' ') === '-r amdgpu') state.unloaded = true;
  else if (args.join(' ') === 'amdgpu' && state.unloaded) { delete state.unloaded; reload(state); }
  else refuse('fake modprobe: unexpected arguments ' + args.join(' '), 64);
  writeJson(file, state);
}

function kubectl() {
  const file = process.env.FAKE_NODE_STATE;
  const node = readJson(file);
  const [verb, kind, name] = args;
  if (verb === 'get' && kind === 'node') {
    process.stdout.write(JSON.stringify({ kind: 'Node', metadata: { name, labels: node.labels }, spec: { taints: node.taints } }));
  } else if (verb === 'label' && kind === 'node') {
    for (const change of args.slice(3).filter((arg) => !arg.startsWith('--'))) {
      if (change.endsWith('-')) delete node.labels[change.slice(0, -1)];
      else { const [key, value] = change.split('='); node.labels[key] = value; }
    }
    writeJson(file, node);
  } else if (verb === 'taint' && kind === 'node') {
    const spec = args[3];
    if (spec.endsWith('-')) {
      const [key, effect] = spec.slice(0, -1).split(':');
      const kept = node.taints.filter((taint) => !(taint.key === key && (effect === undefined || taint.effect === effect)));
      if (kept.length === node.taints.length) refuse('error: taint "' + spec.slice(0, -1) + '" not found');
      node.taints = kept;
    } else {
      const [keyValue, effect] = spec.split(':');
      const [key, value] = keyValue.split('=');
      node.taints = node.taints.filter((taint) => !(taint.key === key && taint.effect === effect));
      node.taints.push({ key, value, effect });
    }
    writeJson(file, node);
  } else if (verb === 'create' && args.join(' ') === 'create -f -') {
    fs.appendFileSync(process.env.FAKE_EVENTS, JSON.stringify(JSON.parse(fs.readFileSync(0, 'utf8'))) + '\n');
  } else if (verb === 'delete' && kind === 'pod') {
    process.stdout.write('pod "amd-gpu-device-plugin-x" deleted\n');
  } else {
    refuse('fake kubectl: unexpected arguments ' + args.join(' '), 64);
  }
}

({ 'amd-smi': amdSmi, modprobe, kubectl })[tool]();
`;

const FAKE_SLEEP = `#!/bin/sh
echo "sleep $*" >> "$FAKE_LOG"
if [ -n "$FAKE_SLEEP_FOR_REAL" ]; then exec env -i sleep "$@"; fi
`;

export async function runPartitionScript(scenario: ScriptScenario): Promise<ScriptRun> {
  const dir = mkdtempSync(join(tmpdir(), 'partition-node-'));
  try {
    const bin = join(dir, 'bin');
    const profiles = join(dir, 'profiles');
    mkdirSync(bin);
    mkdirSync(profiles);
    for (const tool of ['amd-smi', 'kubectl', 'modprobe']) writeFileSync(join(bin, tool), FAKE_TOOL);
    writeFileSync(join(bin, 'sleep'), FAKE_SLEEP);
    for (const tool of ['amd-smi', 'kubectl', 'modprobe', 'sleep']) chmodSync(join(bin, tool), 0o755);
    if (scenario.profile) writeFileSync(join(profiles, NODE_NAME), JSON.stringify(scenario.profile));
    const files = {
      FAKE_LOG: join(dir, 'calls.log'),
      FAKE_GPU_STATE: join(dir, 'gpus.json'),
      FAKE_NODE_STATE: join(dir, 'node.json'),
      FAKE_EVENTS: join(dir, 'events.jsonl'),
    };
    writeFileSync(files.FAKE_LOG, '');
    writeFileSync(files.FAKE_EVENTS, '');
    writeFileSync(files.FAKE_GPU_STATE, JSON.stringify(scenario.gpus));
    writeFileSync(files.FAKE_NODE_STATE, JSON.stringify(scenario.node ?? { labels: {}, taints: [] }));
    const readyFile = join(dir, 'ready');

    const subprocess = execa('bash', [SCRIPT_PATH], {
      reject: false,
      extendEnv: false,
      env: {
        PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        NODE_NAME,
        PROFILE_LABEL,
        PARTITION_STATE_LABEL,
        PARTITIONING_TAINT_KEY,
        PROFILES_DIR: profiles,
        READY_FILE: readyFile,
        EVENT_NAMESPACE: 'aim-system',
        DEVICE_PLUGIN_NAMESPACE: 'kube-amd-gpu',
        DEVICE_PLUGIN_SELECTOR: 'daemonset-name=gpu-operator',
        ONESHOT: scenario.terminateWhenReady ? '0' : '1',
        ...(scenario.terminateWhenReady ? { FAKE_SLEEP_FOR_REAL: '1' } : {}),
        ...files,
        ...scenario.env,
      },
    });
    if (scenario.terminateWhenReady) {
      // Deleted while it waits for the next re-check: ready, and its `sleep` started.
      const sleeping = () => existsSync(readyFile) && /^sleep /m.test(readFileSync(files.FAKE_LOG, 'utf8'));
      while (!sleeping() && subprocess.exitCode === null) await setTimeout(20);
      subprocess.kill('SIGTERM');
    }
    const result = await subprocess;
    const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
    return {
      exitCode: result.exitCode ?? -1,
      calls: lines(files.FAKE_LOG),
      events: lines(files.FAKE_EVENTS).map((line) => JSON.parse(line) as FakeEvent),
      node: JSON.parse(readFileSync(files.FAKE_NODE_STATE, 'utf8')) as FakeNode,
      gpus: JSON.parse(readFileSync(files.FAKE_GPU_STATE, 'utf8')) as FakeGpus,
      ready: existsSync(readyFile),
      stderr: String(result.stderr),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The calls that change something: amd-smi set, modprobe, and kubectl writes. */
export function mutations(calls: readonly string[]): string[] {
  return calls.filter((call) => /^(amd-smi set|modprobe|kubectl (label|taint|delete|create))/.test(call));
}

export function uniformGpus(compute: ComputeMode, memory: string, count = 8): FakeGpus['gpus'] {
  return Array.from({ length: count }, () => ({ compute, memory }));
}
