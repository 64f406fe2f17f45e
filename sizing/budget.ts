/**
 * How a replica's sized memory meets a partition. A partition holds one replica, so the replica
 * gets all of it that vLLM may use; the planner's fit check and the vLLM flags must agree on how
 * much that is, so both use these functions.
 */

/**
 * Graph-capture memory: vLLM captures CUDA/HIP graphs after it has sized the KV cache, and only
 * subtracts their memory from the `--gpu-memory-utilization` budget when
 * `VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS` is on (its default differs between releases). It
 * must therefore fit outside the budget. llm-d's measurements (vLLM 0.11, H100) range from
 * −0.88 to +1.03 GiB; 1.05 GiB covers the largest.
 */
export const GRAPH_CAPTURE_MARGIN_GIB = 1.05;

/**
 * `--gpu-memory-utilization` of a replica alone in its partition: the usable fraction less the
 * graph-capture margin, floored to two decimals. vLLM takes the fraction of the device it sees,
 * which on ROCm is the partition (`torch.cuda.get_device_properties().total_memory`, vllm/platforms/rocm.py),
 * and refuses to start unless that much is free (`gpu_worker.init_device`); the usable fraction
 * leaves the rest to the runtime and the margin to graph capture.
 */
export function servingUtilization(partitionMemoryGiB: number, usableMemoryFraction: number): number {
  return Math.floor((usableMemoryFraction - GRAPH_CAPTURE_MARGIN_GIB / partitionMemoryGiB) * 100 + 1e-9) / 100;
}

/** The memory vLLM is given in a partition: utilization × partition. */
export function servingBudgetGiB(partitionMemoryGiB: number, usableMemoryFraction: number): number {
  return partitionMemoryGiB * servingUtilization(partitionMemoryGiB, usableMemoryFraction);
}

/** Memory one rank reserves in its partition: the sized need plus the fleet's headroom. */
export function reservedGiB(memoryGiBPerPartition: number, headroomPercent: number): number {
  return memoryGiBPerPartition * (1 + headroomPercent / 100);
}

/** True when one rank, with headroom, fits the budget vLLM gets in a partition. */
export function fitsPartition(
  memoryGiBPerPartition: number,
  headroomPercent: number,
  partitionMemoryGiB: number,
  usableMemoryFraction: number,
): boolean {
  return reservedGiB(memoryGiBPerPartition, headroomPercent) <= servingBudgetGiB(partitionMemoryGiB, usableMemoryFraction) + 1e-9;
}
