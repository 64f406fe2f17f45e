import { TENSOR_PARALLEL_DEGREES, type Model, type ModelSpec, type NodePool, type Precision, type Spec } from '../api/types.ts';
import { findProfile, GPU_CATALOG } from '../hardware/gpus.ts';
import { nativePrecision } from './precision.ts';
import type { ModelInfo } from './types.ts';

/**
 * The ways a Model may be served, before any memory is sized: its pools, its candidate
 * precisions and tensor-parallel degrees, its context length. Shared by the checks (which explain
 * why a choice is impossible) and the demands (which list the possible ones).
 */

/** Names of the pools a model may use: `spec.pools`, or every pool when it names none. */
export function poolNames(model: Model, spec: Spec): string[] {
  return model.spec.pools.length > 0 ? [...model.spec.pools] : spec.pools.map((p) => p.metadata.name);
}

/** The model's pools that exist (unknown names are the loader's to report). */
export function modelPools(model: Model, spec: Spec): NodePool[] {
  const names = new Set(poolNames(model, spec));
  return spec.pools.filter((p) => names.has(p.metadata.name));
}

/** Partitions one node of the pool offers at most: GPUs per node × partitions of its finest profile. */
function partitionsPerNode(pool: NodePool): number {
  const perGpu = pool.spec.profiles.map((name) => findProfile(pool.spec.gpu, name)?.partitionsPerGpu ?? 0);
  return pool.spec.gpusPerNode * Math.max(0, ...perGpu);
}

/** The largest tensor parallelism any of the pools can hold on one node; unbounded without pools. */
export function largestPartitionsPerNode(pools: readonly NodePool[]): number {
  return pools.length === 0 ? Infinity : Math.max(...pools.map(partitionsPerNode));
}

/** Why `tensorParallel` cannot shard the model's attention, or undefined when it can. */
export function tensorParallelProblem(info: ModelInfo, tensorParallel: number): string | undefined {
  if (info.numAttentionHeads % tensorParallel !== 0) {
    return `tensor parallelism ${tensorParallel} does not divide the ${info.numAttentionHeads} attention heads of ${info.id}`;
  }
  const kv = info.numKeyValueHeads;
  // vLLM shards KV heads when TP divides them and replicates them when they divide TP.
  if (!info.mla && kv % tensorParallel !== 0 && tensorParallel % kv !== 0) {
    return `tensor parallelism ${tensorParallel} and the ${kv} key-value heads of ${info.id} do not divide one another`;
  }
  return undefined;
}

/** Explicit degree → that one; `auto` → every degree that shards the model and fits one node. */
export function candidateTensorParallel(model: Model, info: ModelInfo | undefined, pools: readonly NodePool[]): number[] {
  const requested = model.spec.tensorParallel;
  if (requested !== 'auto') return [requested];
  const limit = largestPartitionsPerNode(pools);
  return TENSOR_PARALLEL_DEGREES.filter((tp) => tp <= limit && (!info || tensorParallelProblem(info, tp) === undefined));
}

/** Pools whose GPU product cannot run the precision at all. */
function poolsNotSupporting(precision: Precision, pools: readonly NodePool[]): NodePool[] {
  return pools.filter((p) => GPU_CATALOG[p.spec.gpu].precisions[precision].support === 'unsupported');
}

/**
 * Explicit precision → that one; unset → the model's native one (bf16 for a model known only by
 * its memory); `auto` → the allowed precisions, in their order, that every pool's product runs.
 */
export function candidatePrecisions(model: Model, info: ModelInfo | undefined, pools: readonly NodePool[]): Precision[] {
  const requested = model.spec.precision;
  if (requested === undefined) return [info ? nativePrecision(info) : 'bf16'];
  if (requested !== 'auto') return [requested];
  return model.spec.allowedPrecisions.filter((p) => poolsNotSupporting(p, pools).length === 0);
}

/** `spec.maxModelLen`, else the model's context capped at 8192 tokens. */
export function resolveMaxModelLen(spec: ModelSpec, info: ModelInfo | undefined): number {
  return spec.maxModelLen ?? Math.min(info?.maxPositionEmbeddings ?? DEFAULT_MAX_MODEL_LEN, DEFAULT_MAX_MODEL_LEN);
}

export const DEFAULT_MAX_MODEL_LEN = 8192;
