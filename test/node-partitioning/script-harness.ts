import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import {
  CORDONED_ANNOTATION,
  MODEL_LABEL,
  PARTITION_STATE_LABEL,
  PARTITIONING_TAINT_KEY,
  PROFILE_LABEL,
  RELOAD_ANNOTATION,
  REPLICA_LABEL,
} from '../../constructs/labels.ts';
import type { NodePartitionProfile } from '../../constructs/partition-profiles.ts';
import { DCM_PROFILE_LABEL, DCM_STATE_LABEL, type DcmConfig } from '../../hardware/dcm.ts';

/**
 * Runs a node script (`constructs/scripts/partition-node.sh` or `dcm-node.sh`) against fake
 * `amd-smi`, `kubectl`, `modprobe`, `modinfo` and `sleep` put first on PATH, a fake sysfs (available
 * modes, /sys/class/kfd/kfd/proc), a fake cluster (the Node, pods, Leases, Events) kept in JSON
 * files, so a set changes what the next read reports, and a fake Device Config Manager that applies
 * the profile a node label selects from the DCM config and labels its result. Every call is logged in order. The fakes refuse
 * an amd-smi, modprobe or modinfo call not run under `timeout`, and a kubectl call without
 * `--request-timeout`. A `FakeNodeSession` keeps its state across runs, as a Node keeps its labels
 * across pod restarts.
 */

export const SCRIPT_PATH = fileURLToPath(new URL('../../constructs/scripts/partition-node.sh', import.meta.url));
export const DCM_SCRIPT_PATH = fileURLToPath(new URL('../../constructs/scripts/dcm-node.sh', import.meta.url));
export const NODE_NAME = 'gpu-node-01';

export type ComputeMode = 'SPX' | 'DPX' | 'QPX' | 'CPX';

export interface FakeGpus {
  /** `bare`: the older bare-list JSON; `wrapped`: `{"gpu_data": [...]}` with N/A on secondaries. */
  readonly layout: 'bare' | 'wrapped';
  /** What `amd-smi version --json` reports as rocm_version. */
  readonly rocmVersion: string;
  readonly gpus: readonly { compute: ComputeMode; memory: string }[];
  /** Which `amd-smi set` fails. @default - none */
  readonly failSet?: 'memory' | 'compute';
  /** `amd-smi list` shows only this many logical GPUs. @default - all partitions */
  readonly listCount?: number;
  /** A driver reload brings back only this many physical GPUs. @default - all */
  readonly gpusAfterReload?: number;
  /** A line amd-smi prints before each JSON document, as some versions print warnings. @default - none */
  readonly banner?: string;
  /** Key of the compute mode in `static --partition`: newer amd-smi says `accelerator_partition`. @default compute_partition */
  readonly computeKey?: 'compute_partition' | 'accelerator_partition';
  /** The first this many `amd-smi static` calls show N/A for GPU 0's modes. @default 0 */
  readonly naReads?: number;
  /** This amd-smi subcommand never returns. @default - none */
  readonly hang?: 'static' | 'list' | 'set';
  /** Contents of available_compute_partition / available_memory_partition; null: the files are missing. */
  readonly available?: { compute: string; memory: string } | null;
  /** Host PIDs with a KFD context, and how many `sleep`s they take to exit (-1: never). @default none */
  readonly kfdProcesses?: { pids: number[]; exitAfterSleeps: number };
  /** `modinfo -n amdgpu` fails: the host's /lib/modules has no amdgpu (a KMM-installed driver). @default false */
  readonly moduleMissingOnHost?: boolean;
  /** The device plugin advertises this many partitions after a restart. @default - what amd-smi lists */
  readonly pluginAdvertises?: number;
  /** Driver reloads so far (written by the fakes). */
  readonly reloads?: number;
}

/** The GPU Operator's Device Config Manager, as `dcm-node.sh` sees it: through node labels. */
export interface FakeDcm {
  /** The ConfigMap's config.json: a selected profile sets the GPUs' modes from it. */
  readonly config: DcmConfig;
  /** What DCM labels after a profile is selected: `success` (modes applied), `failure`, or nothing at all. */
  readonly result: 'success' | 'failure' | 'none';
  /** `sleep`s between the selection and the result (DCM works meanwhile). @default 1 */
  readonly afterSleeps?: number;
  /** DCM is already at work on the profile the node is labelled with (our pod restarted meanwhile). @default false */
  readonly attemptRunning?: boolean;
  /** The DCM pod a `failure` result writes its Warning Event to (as DCM does, on its own pod). @default - no Event */
  readonly podName?: string;
}

export interface FakePod {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly labels?: Record<string, string>;
  /** Requests amd.com/gpu. */
  readonly gpu?: boolean;
  readonly owner?: string;
  /** Ready after this many `sleep`s (0: Ready now). @default 0 */
  readonly readyAfterSleeps?: number;
  /** Evictions refused (429, a PodDisruptionBudget) before one is accepted. @default 0 */
  readonly pdbRefusals?: number;
  /** The eviction is accepted but the pod never goes (a finalizer, a kubelet that is gone). @default false */
  readonly lingers?: boolean;
}

export interface FakeNode {
  readonly labels: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly taints: { key: string; value?: string; effect: string }[];
  readonly unschedulable?: boolean;
  readonly allocatable?: Record<string, string>;
}

export interface FakeEvent {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly metadata: { namespace: string; generateName: string };
  readonly involvedObject: { kind: string; name: string; uid: string };
}

export interface FakeLease {
  readonly metadata: { name: string; namespace: string; resourceVersion: string };
  readonly spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string };
}

export interface ScriptRun {
  readonly exitCode: number;
  /** Every fake call in this run, in order, e.g. `amd-smi set --gpu all --compute-partition CPX`. */
  readonly calls: string[];
  /** Events created in this run. */
  readonly events: FakeEvent[];
  readonly node: Required<FakeNode>;
  readonly gpus: FakeGpus;
  readonly pods: FakePod[];
  readonly leases: Record<string, FakeLease>;
  readonly ready: boolean;
  readonly stderr: string;
}

export interface ScriptScenario {
  /** The node's entry in the profiles ConfigMap; undefined leaves the node out. */
  readonly profile: NodePartitionProfile | undefined;
  /** Other nodes' replica ordinals by model, as their entries of the profiles ConfigMap list them. @default {} */
  readonly elsewhere?: Record<string, Record<string, number[]>>;
  readonly gpus: FakeGpus;
  /** @default - no labels, no taints, allocatable as amd-smi lists */
  readonly node?: FakeNode;
  readonly pods?: FakePod[];
  readonly leases?: Record<string, FakeLease>;
  /** Extra environment, e.g. DRAIN_TIMEOUT_SECONDS. */
  readonly env?: Record<string, string>;
  /** @default SCRIPT_PATH */
  readonly script?: string;
  /** @default - no DCM: selecting a profile changes nothing */
  readonly dcm?: FakeDcm;
}

export interface RunOptions {
  /**
   * Run the re-check loop (ONESHOT=0, `sleep` really sleeps) and send SIGTERM once the node is ready,
   * as when the pod is deleted. @default false
   */
  readonly terminateWhenReady?: boolean;
  /** SIGKILL the script right after the first call starting with this text, as an OOM kill or node drain would. */
  readonly killAfter?: string;
  /** Send SIGTERM right after the first call starting with this text (a pod deletion). */
  readonly termAfter?: string;
  readonly env?: Record<string, string>;
}

// One program for every fake tool: it dispatches on the file name it was started as.
const FAKE_TOOL = String.raw`#!/usr/bin/env node
'use strict';
const fs = require('fs');
const path = require('path');
const tool = path.basename(process.argv[1]);
let args = process.argv.slice(2);
const env = process.env;
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value));
const refuse = (message, code = 1) => { process.stderr.write(message + '\n'); process.exit(code); };
const option = (name) => { const i = args.indexOf(name); return i < 0 ? undefined : args[i + 1]; };
const parentIs = (name) => { try { return fs.readFileSync('/proc/' + process.ppid + '/comm', 'utf8').trim() === name; } catch { return false; } };

if (tool === 'kubectl') {
  if (!args.some((arg) => arg.startsWith('--request-timeout='))) refuse('fake kubectl: called without --request-timeout', 64);
  if (!parentIs('timeout')) refuse('fake kubectl: not run under timeout', 64);
  args = args.filter((arg) => !arg.startsWith('--request-timeout='));
} else if (tool !== 'sleep' && !parentIs('timeout')) {
  fs.appendFileSync(env.FAKE_LOG, tool + ' ' + args.join(' ') + ' (WITHOUT TIMEOUT)\n');
  refuse('fake ' + tool + ': not run under timeout', 64);
}
fs.appendFileSync(env.FAKE_LOG, [tool, ...args].join(' ') + '\n');
const afterCall = () => {
  const line = [tool, ...args].join(' ');
  for (const [variable, signal] of [['FAKE_KILL_AFTER', 'SIGKILL'], ['FAKE_TERM_AFTER', 'SIGTERM']]) {
    if (env[variable] && line.startsWith(env[variable]) && !fs.existsSync(env.FAKE_DIR + '/' + variable)) {
      fs.writeFileSync(env.FAKE_DIR + '/' + variable, '');
      process.kill(Number(fs.readFileSync(env.FAKE_PIDFILE, 'utf8')), signal);
    }
  }
};

const PARTITIONS = { SPX: 1, DPX: 2, TPX: 3, QPX: 4, CPX: 8 };
// What the driver picks after a reload (the compute mode is not kept across reloads).
const AUTO_COMPUTE = { NPS1: 'SPX', NPS2: 'DPX', NPS4: 'CPX' };
const logical = (state) => state.gpus.flatMap((gpu, physical) =>
  Array.from({ length: PARTITIONS[gpu.compute] }, (_, partition) => ({ gpu, physical, partition })));
const listed = (state) => state.listCount === undefined ? logical(state).length : Math.min(state.listCount, logical(state).length);

function amdSmi() {
  const file = env.FAKE_GPU_STATE;
  const state = readJson(file);
  const wrapped = state.layout === 'wrapped';
  if (state.hang === args[0]) { setInterval(() => {}, 1000); return; }
  if (state.banner !== undefined) process.stdout.write(state.banner + '\n');
  const print = (devices) => process.stdout.write(JSON.stringify(wrapped ? { gpu_data: devices } : devices));
  switch (args[0]) {
    case 'version': {
      const doc = { tool: 'AMDSMI Tool', version: '26.0.0', amdsmi_library_version: '26.0.0', rocm_version: state.rocmVersion };
      process.stdout.write(JSON.stringify(wrapped ? doc : [doc]));
      return;
    }
    case 'static': {
      const computeKey = state.computeKey ?? 'compute_partition';
      const unknown = (state.naReads ?? 0) > 0;
      if (unknown) { state.naReads -= 1; writeJson(file, state); }
      print(logical(state).map(({ gpu, physical, partition }, index) => ({
        gpu: index,
        partition: (wrapped && partition > 0) || (unknown && physical === 0)
          ? { [computeKey]: 'N/A', memory_partition: 'N/A', partition_id: partition }
          : { [computeKey]: gpu.compute, memory_partition: gpu.memory, partition_id: partition },
      })));
      return;
    }
    case 'list': {
      const rows = logical(state).map(({ physical, partition }, index) => ({
        gpu: index, bdf: '0000:' + (12 + 16 * physical).toString(16) + ':00.' + partition, partition_id: partition,
      }));
      print(rows.slice(0, listed(state)));
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
          const row = logical(state)[Number(target)];
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
  state.reloads = (state.reloads ?? 0) + 1;
  if (state.pendingMemory !== undefined) {
    state.gpus.forEach((gpu) => { gpu.memory = state.pendingMemory; });
    delete state.pendingMemory;
  }
  state.gpus.forEach((gpu) => { gpu.compute = AUTO_COMPUTE[gpu.memory]; });
  if (state.gpusAfterReload !== undefined) state.gpus = state.gpus.slice(0, state.gpusAfterReload);
}

function modprobe() {
  const file = env.FAKE_GPU_STATE;
  const state = readJson(file);
  if (args.join(' ') === '-r amdgpu') state.unloaded = true;
  else if (args.join(' ') === 'amdgpu' && state.unloaded) { delete state.unloaded; reload(state); }
  else refuse('fake modprobe: unexpected arguments ' + args.join(' '), 64);
  writeJson(file, state);
}

function modinfo() {
  const state = readJson(env.FAKE_GPU_STATE);
  if (args.join(' ') !== '-n amdgpu') refuse('fake modinfo: unexpected arguments ' + args.join(' '), 64);
  if (state.moduleMissingOnHost) refuse("modinfo: ERROR: Module amdgpu not found.");
  process.stdout.write('/lib/modules/6.8.0-45-generic/updates/dkms/amdgpu.ko.zst\n');
}

// Time passes only in sleep: pods become Ready, KFD processes exit.
function sleep() {
  // Only the script's own waits (whole seconds) move time: a pyenv python3 shim sleeps 0.1 s while rehashing.
  if (!(Number(args[0]) >= 1)) return;
  const cluster = readJson(env.FAKE_CLUSTER);
  for (const pod of cluster.pods) if ((pod.readyAfterSleeps ?? 0) > 0) pod.readyAfterSleeps -= 1;
  dcmAttemptEnds(cluster);
  writeJson(env.FAKE_CLUSTER, cluster);
  const gpus = readJson(env.FAKE_GPU_STATE);
  const kfd = gpus.kfdProcesses;
  if (kfd && kfd.exitAfterSleeps > 0 && --kfd.exitAfterSleeps === 0) {
    for (const pid of kfd.pids) fs.rmSync(path.join(env.KFD_PROC_DIR, String(pid)), { recursive: true, force: true });
  }
  writeJson(env.FAKE_GPU_STATE, gpus);
  if (env.FAKE_SLEEP_FOR_REAL) setTimeout(() => {}, Number(args[0]) * 1000);
}

function podJson(pod) {
  return {
    metadata: { namespace: pod.namespace, name: pod.name, labels: pod.labels ?? {},
      ownerReferences: pod.owner ? [{ kind: pod.owner, name: 'x', controller: true }] : [] },
    spec: { nodeName: pod.node, containers: [{ name: 'c', resources: pod.gpu ? { limits: { 'amd.com/gpu': '1' } } : {} }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: (pod.readyAfterSleeps ?? 0) === 0 ? 'True' : 'False' }] },
  };
}

// kubectl's equality selectors: key, key=value, key!=value, joined by commas.
const matches = (labels, selector) => selector.split(',').every((term) => {
  const [key, value] = term.split(/!?=/);
  if (value === undefined) return key in labels;
  return term.includes('!=') ? labels[key] !== value : labels[key] === value;
});

function selectedPods(cluster) {
  const namespace = option('-n');
  const label = option('-l');
  const field = option('--field-selector');
  return cluster.pods.filter((pod) => (args.includes('--all-namespaces') || pod.namespace === namespace) &&
    (!label || matches(pod.labels ?? {}, label)) && (!field || 'spec.nodeName=' + pod.node === field));
}

// The fake DCM: a changed profile label starts an attempt, which ends after some sleeps.
function selectDcmProfile(cluster, node) {
  const profile = node.labels[env.DCM_PROFILE_LABEL];
  if (!cluster.dcm || profile === undefined || profile === cluster.dcm.selected) { if (cluster.dcm && profile === undefined) delete cluster.dcm.selected; return; }
  cluster.dcm.selected = profile;
  cluster.dcm.pending = { profile, sleeps: cluster.dcm.afterSleeps ?? 1 };
}

function dcmAttemptEnds(cluster) {
  const dcm = cluster.dcm;
  if (!dcm?.pending || --dcm.pending.sleeps > 0) return;
  const { profile } = dcm.pending;
  delete dcm.pending;
  fs.appendFileSync(env.FAKE_LOG, 'dcm ' + dcm.result + ' ' + profile + '\n');
  if (dcm.result === 'none') return;
  cluster.node.labels[env.DCM_STATE_LABEL] = dcm.result;
  if (dcm.result === 'failure' && dcm.podName) {
    cluster.events = [...(cluster.events ?? []), { type: 'Warning', reason: 'NodeNotTaintedBeforeParition', message: '{"FinalStatus":"", "Reason":"Taint node and then partition."}',
      involvedObject: { kind: 'Pod', name: dcm.podName }, lastTimestamp: '2026-11-30T01:00:00Z' }];
  }
  if (dcm.result !== 'success') return;
  const gpus = readJson(env.FAKE_GPU_STATE);
  const entries = dcm.config['gpu-config-profiles'][profile].profiles;
  const modes = entries.flatMap((e) => Array.from({ length: e.numGPUsAssigned }, () => ({ compute: e.computePartition, memory: e.memoryPartition })));
  gpus.gpus = gpus.gpus.map((gpu, index) => ({ ...gpu, ...modes[index] }));
  writeJson(env.FAKE_GPU_STATE, gpus);
}

function kubectl() {
  const cluster = readJson(env.FAKE_CLUSTER);
  const node = cluster.node;
  const save = () => writeJson(env.FAKE_CLUSTER, cluster);
  const [verb, kind, name] = args;
  const stdin = () => JSON.parse(fs.readFileSync(0, 'utf8'));
  if (verb === 'get' && kind === 'node') {
    const gpus = readJson(env.FAKE_GPU_STATE);
    process.stdout.write(JSON.stringify({ kind: 'Node',
      metadata: { name, labels: node.labels, annotations: node.annotations },
      spec: { taints: node.taints, ...(node.unschedulable ? { unschedulable: true } : {}) },
      status: { allocatable: node.allocatable } }));
  } else if ((verb === 'label' || verb === 'annotate') && kind === 'node') {
    const target = verb === 'label' ? node.labels : node.annotations;
    for (const change of args.slice(3).filter((arg) => !arg.startsWith('--'))) {
      if (change.endsWith('-')) delete target[change.slice(0, -1)];
      else { const i = change.indexOf('='); target[change.slice(0, i)] = change.slice(i + 1); }
    }
    if (verb === 'label') selectDcmProfile(cluster, node);
    save();
  } else if (verb === 'cordon' || verb === 'uncordon') {
    node.unschedulable = verb === 'cordon';
    save();
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
    save();
  } else if (verb === 'get' && kind === 'pods') {
    process.stdout.write(JSON.stringify({ kind: 'PodList', items: selectedPods(cluster).map(podJson) }));
  } else if (verb === 'create' && kind === '--raw') {
    const [, namespace, podName] = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/eviction$/.exec(name) ?? [];
    const body = stdin();
    if (body.kind !== 'Eviction' || body.metadata.name !== podName) refuse('fake kubectl: bad eviction ' + JSON.stringify(body), 64);
    const pod = cluster.pods.find((p) => p.namespace === namespace && p.name === podName);
    if (!pod) refuse('Error from server (NotFound): pods "' + podName + '" not found');
    if ((pod.pdbRefusals ?? 0) > 0) {
      pod.pdbRefusals -= 1;
      save();
      refuse('Error from server (TooManyRequests): Cannot evict pod as it would violate the pod\'s disruption budget.');
    }
    if (!pod.lingers) cluster.pods = cluster.pods.filter((p) => p !== pod);
    cluster.evicted.push(namespace + '/' + podName);
    save();
  } else if (verb === 'get' && kind === 'events') {
    const field = option('--field-selector') ?? '';
    const items = (cluster.events ?? []).filter((e) => field.split(',').every((term) => {
      const [key, value] = term.split('=');
      return key === 'involvedObject.name' ? e.involvedObject.name === value : key === 'type' ? e.type === value : false;
    }));
    process.stdout.write(JSON.stringify({ kind: 'EventList', items }));
  } else if (verb === 'get' && kind === 'lease') {
    const lease = cluster.leases[name];
    if (lease) process.stdout.write(JSON.stringify(lease));
    else if (!args.includes('--ignore-not-found')) refuse('Error from server (NotFound): leases "' + name + '" not found');
  } else if ((verb === 'create' || verb === 'replace') && kind === '-f') {
    const body = stdin();
    if (body.kind === 'Event') {
      fs.appendFileSync(env.FAKE_EVENTS, JSON.stringify(body) + '\n');
    } else if (body.kind === 'Lease') {
      const current = cluster.leases[body.metadata.name];
      if (verb === 'create' && current) refuse('Error from server (AlreadyExists): leases "' + body.metadata.name + '" already exists');
      if (verb === 'replace' && (!current || current.metadata.resourceVersion !== body.metadata.resourceVersion)) {
        refuse('Error from server (Conflict): the object has been modified');
      }
      body.metadata.resourceVersion = String(Number(current?.metadata.resourceVersion ?? 0) + 1);
      cluster.leases[body.metadata.name] = body;
      save();
    } else refuse('fake kubectl: unexpected kind ' + body.kind, 64);
  } else if (verb === 'delete' && kind === 'pod') {
    // The GPU Operator's operand pods restart; the device plugin then advertises what it finds.
    const deleted = selectedPods(cluster);
    cluster.pods = cluster.pods.filter((pod) => !deleted.includes(pod));
    const gpus = readJson(env.FAKE_GPU_STATE);
    const count = gpus.pluginAdvertises ?? listed(gpus);
    node.allocatable = { 'amd.com/gpu': String(count) };
    save();
    process.stdout.write('pod "amd-gpu-device-plugin-x" deleted\n');
  } else {
    refuse('fake kubectl: unexpected arguments ' + args.join(' '), 64);
  }
}

({ 'amd-smi': amdSmi, modprobe, modinfo, kubectl, sleep })[tool]();
afterCall();
`;

const FAKE_TOOLS = ['amd-smi', 'kubectl', 'modprobe', 'modinfo', 'sleep'];

/** A fake node whose state (GPUs, cluster, sysfs) outlives a run, as a Node outlives its pods. */
export class FakeNodeSession {
  readonly dir = mkdtempSync(join(tmpdir(), 'partition-node-'));
  private readonly files;
  private readonly scenario: ScriptScenario;

  constructor(scenario: ScriptScenario) {
    this.scenario = scenario;
    const { dir } = this;
    const bin = join(dir, 'bin');
    const profiles = join(dir, 'profiles');
    this.files = {
      bin,
      profiles,
      FAKE_LOG: join(dir, 'calls.log'),
      FAKE_GPU_STATE: join(dir, 'gpus.json'),
      FAKE_CLUSTER: join(dir, 'cluster.json'),
      FAKE_EVENTS: join(dir, 'events.jsonl'),
      FAKE_PIDFILE: join(dir, 'pid'),
      KFD_PROC_DIR: join(dir, 'sys/class/kfd/kfd/proc'),
      AMDGPU_SYSFS_DIR: join(dir, 'sys/module/amdgpu/drivers/pci:amdgpu'),
      READY_FILE: join(dir, 'ready'),
    };
    mkdirSync(bin);
    mkdirSync(profiles);
    for (const tool of FAKE_TOOLS) {
      writeFileSync(join(bin, tool), FAKE_TOOL);
      chmodSync(join(bin, tool), 0o755);
    }
    if (scenario.profile) writeFileSync(join(profiles, NODE_NAME), JSON.stringify(scenario.profile));
    for (const [node, replicas] of Object.entries(scenario.elsewhere ?? {})) writeFileSync(join(profiles, node), JSON.stringify({ replicas }));
    // The kubelet's ConfigMap mount keeps its data in a `..data` directory beside the keys.
    mkdirSync(join(profiles, '..data'));
    const { gpus } = scenario;
    mkdirSync(this.files.KFD_PROC_DIR, { recursive: true });
    for (const pid of gpus.kfdProcesses?.pids ?? []) mkdirSync(join(this.files.KFD_PROC_DIR, String(pid)));
    if (gpus.available !== null) {
      const available = gpus.available ?? { compute: 'SPX, DPX, QPX, CPX', memory: 'NPS1, NPS4' };
      gpus.gpus.forEach((_, index) => {
        const device = join(this.files.AMDGPU_SYSFS_DIR, `0000:${(12 + 16 * index).toString(16).padStart(2, '0')}:00.0`);
        mkdirSync(device, { recursive: true });
        writeFileSync(join(device, 'available_compute_partition'), `${available.compute}\n`);
        writeFileSync(join(device, 'available_memory_partition'), `${available.memory}\n`);
      });
    }
    const partitions = gpus.gpus.reduce((sum, gpu) => sum + { SPX: 1, DPX: 2, QPX: 4, CPX: 8 }[gpu.compute], 0);
    const node = scenario.node ?? { labels: {}, taints: [] };
    writeFileSync(this.files.FAKE_GPU_STATE, JSON.stringify(gpus));
    writeFileSync(
      this.files.FAKE_CLUSTER,
      JSON.stringify({
        node: {
          annotations: {},
          unschedulable: false,
          allocatable: { 'amd.com/gpu': String(gpus.listCount ?? partitions) },
          ...node,
        },
        pods: scenario.pods ?? [],
        leases: scenario.leases ?? {},
        evicted: [],
        ...(scenario.dcm && { dcm: fakeDcmState(scenario.dcm, node.labels[DCM_PROFILE_LABEL]) }),
      }),
    );
  }

  async run(options: RunOptions = {}): Promise<ScriptRun> {
    const { files, scenario } = this;
    writeFileSync(files.FAKE_LOG, '');
    writeFileSync(files.FAKE_EVENTS, '');
    rmSync(files.READY_FILE, { force: true });
    for (const marker of ['FAKE_KILL_AFTER', 'FAKE_TERM_AFTER']) rmSync(join(this.dir, marker), { force: true });
    const script = scenario.script ?? SCRIPT_PATH;
    // The fakes signal the script by the PID it writes before exec'ing itself.
    const subprocess = execa('bash', ['-c', 'echo $$ >"$FAKE_PIDFILE"; exec bash "$0"', script], {
      reject: false,
      extendEnv: false,
      env: {
        PATH: `${files.bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        NODE_NAME,
        PROFILE_LABEL,
        PARTITION_STATE_LABEL,
        PARTITIONING_TAINT_KEY,
        CORDONED_ANNOTATION,
        RELOAD_ANNOTATION,
        MODEL_LABEL,
        REPLICA_LABEL,
        DCM_PROFILE_LABEL,
        DCM_STATE_LABEL,
        MODEL_NAMESPACE: 'aim-models',
        PROFILES_DIR: files.profiles,
        READY_FILE: files.READY_FILE,
        EVENT_NAMESPACE: 'aim-system',
        DEVICE_PLUGIN_NAMESPACE: 'kube-amd-gpu',
        DEVICE_PLUGIN_SELECTOR: 'daemonset-name=gpu-operator',
        KFD_PROC_DIR: files.KFD_PROC_DIR,
        AMDGPU_SYSFS_DIR: files.AMDGPU_SYSFS_DIR,
        FAKE_DIR: this.dir,
        FAKE_LOG: files.FAKE_LOG,
        FAKE_GPU_STATE: files.FAKE_GPU_STATE,
        FAKE_CLUSTER: files.FAKE_CLUSTER,
        FAKE_EVENTS: files.FAKE_EVENTS,
        FAKE_PIDFILE: files.FAKE_PIDFILE,
        ONESHOT: options.terminateWhenReady ? '0' : '1',
        ...(options.terminateWhenReady ? { FAKE_SLEEP_FOR_REAL: '1' } : {}),
        ...(options.killAfter ? { FAKE_KILL_AFTER: options.killAfter } : {}),
        ...(options.termAfter ? { FAKE_TERM_AFTER: options.termAfter } : {}),
        ...scenario.env,
        ...options.env,
      },
    });
    if (options.terminateWhenReady) {
      // Deleted while it waits for the next re-check: ready, and its `sleep` started. The script
      // sleeps whole seconds; a pyenv python3 shim also runs `sleep 0.1` (rehash lock) under load.
      const sleeping = () => /^sleep \d+$/m.test(readFileSync(files.FAKE_LOG, 'utf8'));
      while (!sleeping() && subprocess.exitCode === null) await setTimeout(20);
      subprocess.kill('SIGTERM');
    }
    const result = await subprocess;
    const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
    const cluster = JSON.parse(readFileSync(files.FAKE_CLUSTER, 'utf8'));
    return {
      exitCode: result.exitCode ?? (result.signal === 'SIGKILL' ? 137 : -1),
      calls: lines(files.FAKE_LOG),
      events: lines(files.FAKE_EVENTS).map((line) => JSON.parse(line) as FakeEvent),
      node: cluster.node,
      gpus: JSON.parse(readFileSync(files.FAKE_GPU_STATE, 'utf8')) as FakeGpus,
      pods: cluster.pods,
      leases: cluster.leases,
      ready: existsSync(files.READY_FILE),
      stderr: String(result.stderr),
    };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function fakeDcmState(dcm: FakeDcm, selected: string | undefined): object {
  const pending = dcm.attemptRunning && selected !== undefined ? { pending: { profile: selected, sleeps: dcm.afterSleeps ?? 1 } } : {};
  return { ...dcm, selected, ...pending };
}

/** One run on a fresh fake node. */
export async function runPartitionScript(scenario: ScriptScenario, options: RunOptions = {}): Promise<ScriptRun> {
  const session = new FakeNodeSession(scenario);
  try {
    return await session.run(options);
  } finally {
    session.cleanup();
  }
}

/** The calls that change something: amd-smi set, modprobe, and kubectl writes. */
export function mutations(calls: readonly string[]): string[] {
  return calls.filter((call) => /^(amd-smi set|modprobe |kubectl (label|annotate|taint|cordon|uncordon|delete|create|replace))/.test(call));
}

export function uniformGpus(compute: ComputeMode, memory: string, count = 8): FakeGpus['gpus'] {
  return Array.from({ length: count }, () => ({ compute, memory }));
}
