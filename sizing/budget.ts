/**
 * How a replica's sized memory meets a partition. The planner and the vLLM flags must agree on
 * this, so both use these two functions.
 */

/** Memory one rank reserves in its partition: the sized need plus the fleet's headroom. */
export function reservedGiB(memoryGiBPerPartition: number, headroomPercent: number): number {
  return memoryGiBPerPartition * (1 + headroomPercent / 100);
}

/** True when one rank, with headroom, fits the usable part of a partition. */
export function fitsPartition(
  memoryGiBPerPartition: number,
  headroomPercent: number,
  partitionMemoryGiB: number,
  usableMemoryFraction: number,
): boolean {
  return reservedGiB(memoryGiBPerPartition, headroomPercent) <= partitionMemoryGiB * usableMemoryFraction + 1e-9;
}

/**
 * `--gpu-memory-utilization` that gives vLLM the reserved budget in a partition: vLLM takes that
 * fraction of the device it sees (the partition). Rounded up to two decimals so the budget is never
 * below the need, and capped at the usable fraction, which a fitting replica never needs to exceed.
 */
export function gpuMemoryUtilization(
  memoryGiBPerPartition: number,
  headroomPercent: number,
  partitionMemoryGiB: number,
  usableMemoryFraction: number,
): number {
  const fraction = reservedGiB(memoryGiBPerPartition, headroomPercent) / partitionMemoryGiB;
  return Math.min(usableMemoryFraction, Math.ceil(fraction * 100 - 1e-9) / 100);
}
