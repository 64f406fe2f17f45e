import { servingBudgetGiB, servingUtilization, reservedGiB } from './budget.ts';
import { defaultBatchLimits, LARGE_DEVICE_BATCH, LARGE_DEVICE_GIB, SMALL_DEVICE_BATCH, type BatchLimits } from './engine.ts';
import { DEFAULT_ENGINE, estimateMemory, GIB, type EstimateOptions } from './estimate.ts';
import { kvCapacity, kvLayout } from './kv.ts';
import type { MemoryEstimate, ModelInfo, PartitionBudget, ReplicaServing } from './types.ts';

/**
 * How a replica is started in the partition it holds alone: all the memory vLLM may use there
 * (`servingUtilization`), batch limits chosen for the partition, and the KV pool vLLM makes of
 * what the weights and overheads leave (`available_kv_cache_memory = utilization × total −
 * non-KV memory`, gpu_worker.determine_available_memory).
 */

export type ServingOptions = Omit<EstimateOptions, 'batch'>;

/**
 * Batch limits, most generous first: vLLM's large-device defaults when the partition is a large
 * device (≥ 70 GiB) and the replica still fits at them, else its small-device defaults, which the
 * planner sized for.
 */
function batchCandidates(partitionMemoryGiB: number): BatchLimits[] {
  return partitionMemoryGiB >= LARGE_DEVICE_GIB ? [LARGE_DEVICE_BATCH, SMALL_DEVICE_BATCH] : [SMALL_DEVICE_BATCH];
}

export function replicaServing(model: ModelInfo, opts: ServingOptions, partition: PartitionBudget): ReplicaServing {
  const budget = servingBudgetGiB(partition.memoryGiB, partition.usableMemoryFraction);
  const estimates = batchCandidates(partition.memoryGiB).map((batch) => estimateMemory(model, { ...opts, batch }));
  const chosen = estimates.find((e) => reservedGiB(e.totalGiB, partition.headroomPercent) <= budget + 1e-9) ?? estimates.at(-1)!;
  return {
    gpuMemoryUtilization: servingUtilization(partition.memoryGiB, partition.usableMemoryFraction),
    maxNumBatchedTokens: chosen.batch.maxNumBatchedTokens,
    maxNumSeqs: chosen.batch.maxNumSeqs,
    memoryGiBPerPartition: chosen.totalGiB,
    kv: kvOf(model, opts, chosen, budget),
  };
}

/** The pool one rank gets: the budget less weights, activation and non-torch memory. */
export function kvPoolGiBPerRank(estimate: MemoryEstimate, budgetGiB: number): number {
  return budgetGiB - estimate.weightsGiB / estimate.tensorParallel - estimate.overheadGiB;
}

function kvOf(model: ModelInfo, opts: ServingOptions, e: MemoryEstimate, budgetGiB: number): ReplicaServing['kv'] {
  const poolGiB = kvPoolGiBPerRank(e, budgetGiB);
  const layout = kvLayout(model, {
    tensorParallel: e.tensorParallel,
    kvCacheDtype: e.kvCacheDtype,
    blockSize: (opts.engine ?? DEFAULT_ENGINE).blockSize,
    fullSlidingWindowKv: opts.fullSlidingWindowKv,
  });
  const capacity = kvCapacity(layout, poolGiB * GIB, e.maxModelLen, e.batch);
  return { cacheGiB: poolGiB * e.tensorParallel, tokens: capacity.tokens, sequences: capacity.sequences };
}

/** A model known only by its memory: the whole partition and vLLM's batch defaults for it; KV unknown. */
export function opaqueServing(memoryGiBPerPartition: number, partition: PartitionBudget): ReplicaServing {
  const batch = defaultBatchLimits(partition.memoryGiB);
  return {
    gpuMemoryUtilization: servingUtilization(partition.memoryGiB, partition.usableMemoryFraction),
    maxNumBatchedTokens: batch.maxNumBatchedTokens,
    maxNumSeqs: batch.maxNumSeqs,
    memoryGiBPerPartition,
  };
}
