import type { DeviceResourceNaming } from '../api/types.ts';
import type { PartitionRef, PlanGpu, PlanNode } from '../planner/types.ts';

/**
 * How a replica's planned partitions are named to Kubernetes and to ROCm. Errors are plain
 * messages; constructs prefix them with their path.
 */

function planGpu(node: PlanNode, ref: PartitionRef): PlanGpu {
  const gpu = node.gpus.find((g) => g.index === ref.gpu);
  if (!gpu) throw new Error(`node ${node.name} has no GPU ${ref.gpu}`);
  if (!gpu.partitions.some((p) => p.index === ref.partition)) {
    throw new Error(`GPU ${ref.gpu} of node ${node.name} has no partition ${ref.partition}`);
  }
  return gpu;
}

/**
 * The extended resource the AMD device plugin advertises the partitions as: `amd.com/gpu` with
 * `single` naming; with `mixed`, the GPU's profile, e.g. `amd.com/cpx_nps4`. All of a replica's
 * partitions must share it, or no single request could describe them.
 */
export function partitionResourceName(node: PlanNode, partitions: readonly PartitionRef[], naming: DeviceResourceNaming): string {
  const names = new Set(partitions.map((ref) => gpuResourceName(planGpu(node, ref), naming)));
  if (names.size !== 1) {
    throw new Error(`partitions ${formatRefs(partitions)} on node ${node.name} span resources ${[...names].sort().join(', ')}`);
  }
  return [...names][0] as string;
}

/** The resource one GPU's partitions are advertised as (ROCm/k8s-device-plugin resource_naming_strategy). */
export function gpuResourceName(gpu: PlanGpu, naming: DeviceResourceNaming): string {
  return naming === 'single' ? 'amd.com/gpu' : `amd.com/${gpu.profile.compute}_${gpu.profile.memory}`.toLowerCase();
}

/**
 * The logical device indices ROCm enumerates the replica's partitions at: every partition of the
 * GPUs before it (in GPU index order), plus the partition's index. On a CPX MI300X node these
 * run 0–63. This is what `ROCR_VISIBLE_DEVICES` takes.
 */
export function logicalDeviceIndices(node: PlanNode, partitions: readonly PartitionRef[]): number[] {
  const gpus = [...node.gpus].sort((a, b) => a.index - b.index);
  return partitions.map((ref) => {
    planGpu(node, ref);
    const before = gpus.filter((g) => g.index < ref.gpu).reduce((sum, g) => sum + g.partitions.length, 0);
    return before + ref.partition;
  });
}

function formatRefs(partitions: readonly PartitionRef[]): string {
  return partitions.map((p) => `${p.gpu}/${p.partition}`).join(', ');
}
