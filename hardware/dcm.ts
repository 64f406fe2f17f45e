/**
 * AMD GPU Operator's Device Config Manager (DCM): the profiles ConfigMap it reads and the rules it
 * applies to a profile before partitioning. One home for these rules: `validate` checks the pools'
 * profiles against them, and synth checks every ConfigMap it emits.
 *
 * Format (`ROCm/gpu-operator:docs/dcm/device-config-manager-configmap.md`, DCM v1.5.1): the
 * ConfigMap's `config.json` is
 *   {"gpu-config-profiles": {"<name>": {"skippedGPUs": {"ids": []},
 *      "profiles": [{"computePartition": "CPX", "memoryPartition": "NPS4", "numGPUsAssigned": 8}]}},
 *    "gpuClientSystemdServices": {"names": ["amd-metrics-exporter", "gpuagent"]}}
 * DCM walks a profile's `profiles` in order and gives each entry the next `numGPUsAssigned` GPU
 * ids (socket order) that are not skipped (`ROCm/device-config-manager:pkg/config_manager/
 * configmanager.go`, `amdSMIHelper`, `createGPUIDList`).
 */
import type { ComputeMode, MemoryMode } from './vocabulary.ts';

/** `globals.ValidComputePartitions` / `ValidMemoryPartitions` (pkg/config_manager/globals/constants.go): no TPX. */
export const DCM_COMPUTE_MODES: readonly ComputeMode[] = ['SPX', 'DPX', 'QPX', 'CPX'];
export const DCM_MEMORY_MODES: readonly MemoryMode[] = ['NPS1', 'NPS2', 'NPS4'];

/** The node label that selects a node's DCM profile, and the one DCM reports its result in (`success` | `failure`). */
export const DCM_PROFILE_LABEL = 'dcm.amd.com/gpu-config-profile';
export const DCM_STATE_LABEL = 'dcm.amd.com/gpu-config-profile-state';
/** The key DCM reads from its ConfigMap, mounted at /etc/config-manager/ (gpu-operator internal/configmanager). */
export const DCM_CONFIG_KEY = 'config.json';
/** `app.kubernetes.io/name` of the DCM pods the GPU Operator deploys (internal/configmanager `ConfigManagerName`). */
export const DCM_APP_NAME = 'device-config-manager';

export interface DcmPartitionEntry {
  readonly computePartition: ComputeMode;
  readonly memoryPartition: MemoryMode;
  readonly numGPUsAssigned: number;
}

export interface DcmProfile {
  readonly skippedGPUs: { readonly ids: readonly number[] };
  readonly profiles: readonly DcmPartitionEntry[];
}

export interface DcmConfig {
  readonly 'gpu-config-profiles': Readonly<Record<string, DcmProfile>>;
  readonly gpuClientSystemdServices: { readonly names: readonly string[] };
}

/**
 * Why DCM refuses one compute/memory pair, or undefined when it accepts it: the mode lists of its
 * constants, and "NPS4 memory partition mode … only supports CPX" (device-config-manager-configmap.md,
 * "Supported Partition Modes").
 */
export function dcmModeProblem(compute: ComputeMode, memory: MemoryMode): string | undefined {
  if (!DCM_COMPUTE_MODES.includes(compute)) return `DCM accepts compute modes ${DCM_COMPUTE_MODES.join(', ')}, not ${compute}`;
  if (!DCM_MEMORY_MODES.includes(memory)) return `DCM accepts memory modes ${DCM_MEMORY_MODES.join(', ')}, not ${memory}`;
  if (memory === 'NPS4' && compute !== 'CPX') return `DCM applies NPS4 only with CPX, not with ${compute}`;
  return undefined;
}

/**
 * Every rule DCM's `validateProfile` applies to a profile on a node with `gpus` GPUs, plus the
 * documented mode rules: Σ numGPUsAssigned + len(skippedGPUs.ids) = GPUs, skipped ids in 0..GPUs−1
 * and distinct, one memory mode per profile, DCM-supported modes, NPS4 only with CPX.
 */
export function dcmProfileProblems(profile: DcmProfile, gpus: number): string[] {
  const problems: string[] = [];
  const skipped = profile.skippedGPUs.ids;
  const assigned = profile.profiles.reduce((sum, entry) => sum + entry.numGPUsAssigned, 0);
  if (profile.profiles.length === 0) problems.push('has no partition entries');
  if (profile.profiles.some((entry) => !Number.isInteger(entry.numGPUsAssigned) || entry.numGPUsAssigned < 1)) {
    problems.push('every numGPUsAssigned must be a whole number >= 1');
  }
  if (assigned + skipped.length !== gpus) {
    problems.push(`numGPUsAssigned sums to ${assigned} and skippedGPUs lists ${skipped.length}, but the node has ${gpus} GPUs`);
  }
  const badIds = skipped.filter((id) => !Number.isInteger(id) || id < 0 || id >= gpus);
  if (badIds.length > 0) problems.push(`skippedGPUs ids ${badIds.join(', ')} are not in 0..${gpus - 1}`);
  if (new Set(skipped).size !== skipped.length) problems.push('skippedGPUs lists a GPU twice');
  const memories = [...new Set(profile.profiles.map((entry) => entry.memoryPartition))];
  if (memories.length > 1) problems.push(`mixes memory modes ${memories.join(', ')}; DCM needs one memory mode per profile`);
  for (const entry of profile.profiles) {
    const problem = dcmModeProblem(entry.computePartition, entry.memoryPartition);
    if (problem !== undefined) problems.push(problem);
  }
  return [...new Set(problems)];
}

/** Label values (and so profile names) are at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends. */
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Every problem of a whole DCM config, `gpusOf(profile)` giving the GPUs of the nodes that select it. */
export function dcmConfigProblems(config: DcmConfig, gpusOf: (profile: string) => number): string[] {
  const problems: string[] = [];
  for (const [name, profile] of Object.entries(config['gpu-config-profiles'])) {
    if (!LABEL_VALUE.test(name)) problems.push(`profile "${name}": not a valid label value for ${DCM_PROFILE_LABEL}`);
    for (const problem of dcmProfileProblems(profile, gpusOf(name))) problems.push(`profile "${name}": ${problem}`);
  }
  return problems;
}
