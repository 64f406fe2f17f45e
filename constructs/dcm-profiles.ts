import type { NodePool } from '../api/types.ts';
import { type DcmConfig, DCM_CONFIG_KEY, type DcmPartitionEntry, type DcmProfile, dcmConfigProblems } from '../hardware/dcm.ts';
import type { ComputeMode, MemoryMode } from '../hardware/vocabulary.ts';
import type { PlanNode } from '../planner/types.ts';
import { profileLabelValue } from './labels.ts';

/**
 * The GPU Operator's Device Config Manager profiles for a plan (the `gpu-operator` partitioning
 * backend): one DCM profile per node layout, named after it, which the orchestrator selects with
 * the node label `dcm.amd.com/gpu-config-profile`. Format and rules: `hardware/dcm.ts`.
 *
 * A profile's name says its whole content (compute, memory and GPU count, or a hash of the per-GPU
 * profiles), so a name never changes meaning. Besides the plan's layouts, the ConfigMap holds the
 * uniform layout of every profile each pool allows: DCM re-reads its ConfigMap on every change and
 * re-applies each node's labelled profile, stopping the host's GPU services around it, and a
 * profile missing there fails (NonExistentProfile) and is retried for 30 minutes with those
 * services stopped (`RetryPartition`). Keeping every profile a node of the pool can carry means a
 * plan change never removes the one a node is still labelled with, and rarely changes the
 * ConfigMap at all.
 */

/** metadata.name of the emitted ConfigMap: the DeviceConfig's `spec.configManager.config.name` must name it. */
export const DCM_CONFIGMAP_NAME = 'aim-gpu-sharing-dcm-profiles';

interface Layout {
  readonly name: string;
  readonly gpus: readonly { readonly compute: ComputeMode; readonly memory: MemoryMode }[];
}

/** `cpx-nps4-8gpu`; a node whose GPUs differ: `mixed-<hash of the per-GPU profiles>-8gpu`. */
export function dcmProfileName(node: PlanNode): string {
  return layoutName(profileLabelValue(node), node.gpus.length);
}

function layoutName(profileLabel: string, gpus: number): string {
  return `${profileLabel}-${gpus}gpu`;
}

function nodeLayout(node: PlanNode): Layout {
  return { name: dcmProfileName(node), gpus: node.gpus.map((gpu) => gpu.profile) };
}

/** Every uniform layout a pool's nodes may be given. */
function poolLayouts(pool: NodePool): Layout[] {
  return pool.spec.profiles.map((profile) => {
    const [compute, memory] = profile.split('-') as [ComputeMode, MemoryMode];
    const gpus = Array.from({ length: pool.spec.gpusPerNode }, () => ({ compute, memory }));
    // profileLabelValue of a uniform node: the profile in lower case.
    return { name: layoutName(profile.toLowerCase(), pool.spec.gpusPerNode), gpus };
  });
}

/**
 * DCM gives each `profiles` entry the next `numGPUsAssigned` GPUs in order, so the per-GPU
 * profiles become runs of equal neighbours: GPU i gets exactly the plan's profile for GPU i.
 */
export function dcmProfile(gpus: Layout['gpus']): DcmProfile {
  const profiles: DcmPartitionEntry[] = [];
  for (const { compute, memory } of gpus) {
    const last = profiles.at(-1);
    if (last && last.computePartition === compute && last.memoryPartition === memory) {
      profiles[profiles.length - 1] = { ...last, numGPUsAssigned: last.numGPUsAssigned + 1 };
    } else {
      profiles.push({ computePartition: compute, memoryPartition: memory, numGPUsAssigned: 1 });
    }
  }
  return { skippedGPUs: { ids: [] }, profiles };
}

export interface DcmPlan {
  readonly config: DcmConfig;
  /** GPUs of the nodes each profile is written for (what DCM's count rule compares with). */
  readonly gpusOf: Readonly<Record<string, number>>;
}

/** The DCM config for the plan's nodes and the pools' allowed layouts, profiles sorted by name. */
export function dcmPlan(nodes: readonly PlanNode[], pools: readonly NodePool[], services: readonly string[]): DcmPlan {
  const layouts = new Map<string, Layout>();
  const conflicts: string[] = [];
  for (const layout of [...nodes.map(nodeLayout), ...pools.flatMap(poolLayouts)]) {
    const earlier = layouts.get(layout.name);
    if (earlier && JSON.stringify(earlier.gpus) !== JSON.stringify(layout.gpus)) conflicts.push(layout.name);
    if (!earlier) layouts.set(layout.name, layout);
  }
  if (conflicts.length > 0) throw new Error(`DCM profile names ${conflicts.join(', ')} name two different layouts`);
  const names = [...layouts.keys()].sort();
  return {
    config: {
      'gpu-config-profiles': Object.fromEntries(names.map((name) => [name, dcmProfile(layouts.get(name)!.gpus)])),
      gpuClientSystemdServices: { names: [...services] },
    },
    gpusOf: Object.fromEntries(names.map((name) => [name, layouts.get(name)!.gpus.length])),
  };
}

/** DCM's rules over the whole config (`hardware/dcm.ts`); empty when DCM would accept every profile. */
export function dcmPlanProblems(plan: DcmPlan): string[] {
  return dcmConfigProblems(plan.config, (name) => plan.gpusOf[name] ?? 0);
}

/** The ConfigMap's data: DCM reads `config.json`. Indented, so a reviewer reads the diff of one profile. */
export function dcmConfigMapData(config: DcmConfig): Record<string, string> {
  return { [DCM_CONFIG_KEY]: `${JSON.stringify(config, null, 2)}\n` };
}
