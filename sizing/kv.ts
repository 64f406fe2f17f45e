import type { BatchLimits } from './engine.ts';
import { kvBytesPerElement, type KvCacheDtype } from './precision.ts';
import type { ModelInfo } from './types.ts';

/**
 * vLLM's own KV cache accounting, per tensor-parallel rank (vllm/v1/kv_cache_interface.py,
 * vllm/v1/core/kv_cache_utils.py). Each attention layer has a spec; the spec says how many pages
 * (blocks of `blockSize` tokens) one request of `max_model_len` tokens can hold at most:
 *
 * | spec | blocks, `max_memory_usage_bytes` / page |
 * |---|---|
 * | FullAttentionSpec, MLAAttentionSpec | cdiv(L, block) |
 * | SlidingWindowSpec | cdiv(min(window − 1 + max_num_batched_tokens, L), block) + 1 |
 * | ChunkedLocalAttentionSpec | cdiv(min(chunk + max_num_batched_tokens, L), block) |
 *
 * A page is `block × bytes per token of the layer`: K and V of the rank's KV heads, or one
 * latent (`kv_lora_rank + qk_rope_head_dim`, coef 1) for MLA.
 */

export type LayerKind = 'full' | 'sliding' | 'chunked';

/** Layers of one kind and what a page of them costs. */
export interface LayerGroup {
  readonly kind: LayerKind;
  readonly layers: number;
  /** Tokens of the sliding window or local-attention chunk (sliding and chunked only). */
  readonly window: number;
  readonly pageBytes: number;
}

export interface KvLayout {
  readonly blockSize: number;
  readonly groups: readonly LayerGroup[];
}

export interface KvOptions {
  readonly tensorParallel: number;
  readonly kvCacheDtype: KvCacheDtype;
  readonly blockSize: number;
  /**
   * Every layer cached for every token: what vLLM does with `--disable-hybrid-kv-cache-manager`
   * (a sliding layer is then a FullAttentionSpec). @default false
   */
  readonly fullSlidingWindowKv?: boolean;
}

/** Llama 4's local layers are chunked attention; Gemma's are sliding windows. */
function localKind(model: ModelInfo): LayerKind {
  return model.architecture.startsWith('Llama4') ? 'chunked' : 'sliding';
}

/**
 * KV heads one rank caches: vLLM splits them over the ranks and, past one head per rank,
 * replicates them (`max(1, num_kv_heads // tp)`). The MLA latent is not split by head.
 */
export function kvHeadsPerRank(model: ModelInfo, tensorParallel: number): number {
  return Math.max(1, Math.floor(model.numKeyValueHeads / tensorParallel));
}

/** Bytes one token costs in one layer on one rank. */
export function layerTokenBytes(model: ModelInfo, tensorParallel: number, kvCacheDtype: KvCacheDtype): number {
  const bytes = kvBytesPerElement(kvCacheDtype);
  if (model.mla) return (model.mla.kvLoraRank + model.mla.qkRopeHeadDim) * bytes;
  return 2 * kvHeadsPerRank(model, tensorParallel) * model.headDim * bytes;
}

export function kvLayout(model: ModelInfo, opts: KvOptions): KvLayout {
  const pageBytes = opts.blockSize * layerTokenBytes(model, opts.tensorParallel, opts.kvCacheDtype);
  const local = model.slidingWindow;
  if (!local || model.mla || opts.fullSlidingWindowKv) {
    return { blockSize: opts.blockSize, groups: [{ kind: 'full', layers: model.kvLayers, window: 0, pageBytes }] };
  }
  return {
    blockSize: opts.blockSize,
    groups: ([
      { kind: 'full', layers: local.fullLayers, window: 0, pageBytes },
      { kind: localKind(model), layers: local.slidingLayers, window: local.window, pageBytes },
    ] satisfies LayerGroup[]).filter((g) => g.layers > 0),
  };
}

function cdiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** Pages one layer of the group needs for one request of `maxModelLen` tokens (table above). */
export function blocksPerRequest(group: LayerGroup, blockSize: number, maxModelLen: number, batch: BatchLimits): number {
  switch (group.kind) {
    case 'full':
      return cdiv(maxModelLen, blockSize);
    case 'sliding':
      return cdiv(Math.min(group.window - 1 + batch.maxNumBatchedTokens, maxModelLen), blockSize) + 1;
    case 'chunked':
      return cdiv(Math.min(group.window + batch.maxNumBatchedTokens, maxModelLen), blockSize);
  }
}

/**
 * What `check_enough_kv_cache_memory` requires of the pool: the sum of every layer's
 * `max_memory_usage_bytes`. Below it vLLM raises "To serve at least one request with the models's
 * max seq len … bytes KV cache is needed, which is larger than the available KV cache memory".
 */
export function admissionBytes(layout: KvLayout, maxModelLen: number, batch: BatchLimits): number {
  return layout.groups.reduce((sum, g) => sum + g.layers * blocksPerRequest(g, layout.blockSize, maxModelLen, batch) * g.pageBytes, 0);
}

/**
 * How the hybrid allocator lays layers out (`_get_kv_cache_groups_uniform_page_size`): layers of
 * one kind are cut into groups of `groupSize` layers, the smallest kind's count (or the largest's
 * when it is under 1.25× the smallest), padding the last group. The pool is `groupSize` tensors of
 * `numBlocks` pages; a block serves one group at a time.
 */
export function groupSize(layout: KvLayout): number {
  const counts = layout.groups.map((g) => g.layers);
  const min = Math.min(...counts);
  const max = Math.max(...counts);
  return max < min * 1.25 ? max : min;
}

/** The pool's capacity as vLLM reports it at startup, and the full-length requests it holds at once. */
export interface KvCapacity {
  readonly numBlocks: number;
  /** "GPU KV cache size: N tokens": numBlocks / groups × block size (`_report_kv_cache_config`). */
  readonly tokens: number;
  /** "Maximum concurrency for L tokens per request" (`get_max_concurrency_for_kv_cache_config`), floored. */
  readonly sequences: number;
}

/** Blocks one full-length request takes from the shared pool, padding groups included. */
export function requestBlocks(layout: KvLayout, maxModelLen: number, batch: BatchLimits): number {
  const size = groupSize(layout);
  return layout.groups.reduce((sum, g) => sum + cdiv(g.layers, size) * blocksPerRequest(g, layout.blockSize, maxModelLen, batch), 0);
}

/** Pool bytes one full-length request takes, padding groups included (≥ `admissionBytes`). */
export function requestBytes(layout: KvLayout, maxModelLen: number, batch: BatchLimits): number {
  return requestBlocks(layout, maxModelLen, batch) * groupSize(layout) * layout.groups[0]!.pageBytes;
}

export function kvCapacity(layout: KvLayout, poolBytes: number, maxModelLen: number, batch: BatchLimits): KvCapacity {
  const size = groupSize(layout);
  const numBlocks = Math.max(0, Math.floor(poolBytes / layout.groups[0]!.pageBytes / size));
  const groups = layout.groups.reduce((sum, g) => sum + cdiv(g.layers, size), 0);
  return {
    numBlocks,
    tokens: Math.floor(numBlocks / groups) * layout.blockSize,
    sequences: Math.floor(numBlocks / requestBlocks(layout, maxModelLen, batch)),
  };
}
