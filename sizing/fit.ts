import { TENSOR_PARALLEL_DEGREES } from '../api/types.ts';
import { fitsPartition } from './budget.ts';
import { tensorParallelProblem } from './candidates.ts';
import type { GpuProductInfo, PartitionProfile } from '../hardware/types.ts';
import type { ModelInfo } from './types.ts';

/**
 * Whether a model fits a product's partitions, for reports (explain, AIM profiles), by the
 * planner's rule (`fitsPartition`): `headroomPercent` 0 answers "can it run there at all", the
 * fleet's headroom "will the planner put it there".
 */

export interface PartitionFit {
  readonly tensorParallel: number;
  readonly memoryGiBPerPartition: number;
}

/** Degrees in 1, 2, 4, 8 that shard the model's attention heads. */
export function shardableDegrees(model: ModelInfo): number[] {
  return TENSOR_PARALLEL_DEGREES.filter((tp) => tensorParallelProblem(model, tp) === undefined);
}

/** Ranks of one replica must share a node: a node offers GPUs × partitions per GPU of the profile. */
export function profilePartitionsPerNode(product: GpuProductInfo, profile: PartitionProfile): number {
  return product.gpusPerNode * profile.partitionsPerGpu;
}

/** The first of `degrees` at which one rank fits a partition of the profile on one node. */
export function smallestFit(
  product: GpuProductInfo,
  profile: PartitionProfile,
  degrees: readonly number[],
  memoryGiBPerRank: (tensorParallel: number) => number,
  headroomPercent = 0,
  usableMemoryFraction = product.usableMemoryFraction,
): PartitionFit | undefined {
  for (const tensorParallel of degrees) {
    if (tensorParallel > profilePartitionsPerNode(product, profile)) continue;
    const memoryGiBPerPartition = memoryGiBPerRank(tensorParallel);
    if (fitsPartition(memoryGiBPerPartition, headroomPercent, profile.memoryGiBPerPartition, usableMemoryFraction)) {
      return { tensorParallel, memoryGiBPerPartition };
    }
  }
  return undefined;
}

/** Profiles smallest partition first; among equals the AMD-validated one, then catalog order. */
export function profilesBySize(product: GpuProductInfo): PartitionProfile[] {
  return product.profiles
    .map((profile, index) => ({ profile, index }))
    .sort(
      (a, b) =>
        a.profile.memoryGiBPerPartition - b.profile.memoryGiBPerPartition ||
        Number(b.profile.validated) - Number(a.profile.validated) ||
        a.index - b.index,
    )
    .map(({ profile }) => profile);
}

/** Two decimals, for reports; sizing itself stays exact. */
export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
