/**
 * Provenance of `sizing/models/*.json`: converts a research `models.json` (config facts of the
 * catalog models, each with its source) into one catalog file per model, then cross-checks the
 * estimator against the figures the research file computed (KV bytes per token, weights per
 * precision). Run by hand when the research file changes; the build never reads it.
 *
 *   node --import tsx scripts/import-model-catalog.ts path/to/models.json [sizing/models]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelFileName, serializeModelFile } from '../sizing/model-catalog.ts';
import { kvBytesPerToken } from '../sizing/estimate.ts';
import { weightBytes } from '../sizing/precision.ts';
import type { ModelInfo } from '../sizing/types.ts';

interface ResearchModel {
  id: string;
  family: string;
  architecture: string;
  model_type: string;
  num_hidden_layers: number;
  intermediate_size: number | null;
  hidden_size: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number | null;
  vocab_size: number;
  max_position_embeddings: number;
  torch_dtype: string | null;
  params_total: number;
  params_active: number;
  params_kept_16bit_when_quantized: number;
  multimodal: boolean;
  moe: Record<string, number | boolean> | null;
  mla: { kv_lora_rank: number; qk_rope_head_dim: number; qk_nope_head_dim: number } | null;
  sliding_window: number | null;
  sliding_window_pattern: number | null;
  num_full_attention_layers?: number;
  num_sliding_window_layers?: number;
  attention_chunk_size?: number;
  num_chunked_attention_layers?: number;
  num_cross_attention_layers?: number;
  kv_cache_bytes_per_token_16bit: number;
  kv_note?: string;
  weights_gib_estimate: { bf16_fp16: number; fp8_w8a8: number; int8_w8a8: number; int4_awq_gptq_g128: number; note?: string };
  source: { config: string; verified_via?: string[]; confidence?: string; notes?: string | null };
}

function toModelInfo(m: ResearchModel): ModelInfo {
  const notes: string[] = [];
  if (m.source.notes) notes.push(m.source.notes);
  if (m.kv_note) notes.push(m.kv_note);
  if (m.weights_gib_estimate.note) notes.push(`Weights: ${m.weights_gib_estimate.note}.`);
  if (m.head_dim === null && m.mla) notes.push('headDim = qk_nope_head_dim + qk_rope_head_dim (MLA query/key head size; the KV cache holds the latent instead).');
  if (m.torch_dtype === null) notes.push('torch_dtype unknown; bf16 assumed from the base model.');
  // "low (identity of the catalog entry)": the level is the first word, the rest is a note.
  const [confidence, ...qualifier] = (m.source.confidence ?? '').split(' ');
  if (qualifier.length > 0) notes.push(`Confidence ${confidence} ${qualifier.join(' ')}.`);
  const kvLayers = m.num_hidden_layers - (m.num_cross_attention_layers ?? 0);
  return {
    id: m.id,
    family: m.family,
    architecture: m.architecture,
    modelType: m.model_type,
    numHiddenLayers: m.num_hidden_layers,
    hiddenSize: m.hidden_size,
    numAttentionHeads: m.num_attention_heads,
    numKeyValueHeads: m.num_key_value_heads,
    headDim: m.head_dim ?? (m.mla ? m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim : m.hidden_size / m.num_attention_heads),
    intermediateSizes: intermediateSizes(m),
    vocabSize: m.vocab_size,
    maxPositionEmbeddings: m.max_position_embeddings,
    dtype: m.torch_dtype?.startsWith('float16') ? 'fp16' : 'bf16',
    ...(m.torch_dtype?.includes('FP8') ? { checkpointPrecision: 'fp8' as const } : {}),
    paramsTotal: m.params_total,
    paramsActive: m.params_active,
    paramsKept16bit: m.params_kept_16bit_when_quantized,
    multimodal: m.multimodal,
    moe: m.moe ? { experts: expertCount(m.moe), expertsPerToken: Number(m.moe.num_experts_per_tok) } : null,
    mla: m.mla ? { kvLoraRank: m.mla.kv_lora_rank, qkRopeHeadDim: m.mla.qk_rope_head_dim } : null,
    slidingWindow: slidingWindow(m, kvLayers),
    kvLayers,
    ...(UNSUPPORTED[m.model_type] ? { unsupported: UNSUPPORTED[m.model_type] } : {}),
    source: {
      config: m.source.config,
      ...(notes.length > 0 ? { notes: notes.join(' ') } : {}),
      ...(m.source.verified_via?.length ? { verifiedVia: m.source.verified_via } : {}),
      ...(confidence === 'high' || confidence === 'medium' || confidence === 'low' ? { confidence } : {}),
    },
  };
}

/** Architectures no supported vLLM release serves (`sizing/engine.ts` states the minimum release). */
const UNSUPPORTED: Readonly<Record<string, ModelInfo['unsupported']>> = {
  mllama: {
    reason: 'vLLM removed the Mllama (Llama 3.2 Vision) encoder-decoder architecture in v0.10.2 (vllm-project/vllm PR #24907); no supported release can serve it',
    source: 'https://github.com/vllm-project/vllm/pull/24907',
  },
};

/** Dense and expert MLP widths, each once. */
function intermediateSizes(m: ResearchModel): number[] {
  const expert = m.moe?.moe_intermediate_size;
  const sizes = [m.intermediate_size, typeof expert === 'number' ? expert : null].filter((n): n is number => n !== null);
  return [...new Set(sizes)];
}

function expertCount(moe: Record<string, number | boolean>): number {
  const experts = moe.n_routed_experts ?? moe.num_local_experts ?? moe.num_experts;
  if (typeof experts !== 'number') throw new Error(`no expert count in ${JSON.stringify(moe)}`);
  return experts;
}

/** Gemma 3: layer i is global iff (i+1) % pattern == 0. Llama 4: chunked-local layers, window = chunk. */
function slidingWindow(m: ResearchModel, layers: number): ModelInfo['slidingWindow'] {
  if (m.sliding_window !== null && m.sliding_window_pattern !== null) {
    const pattern = m.sliding_window_pattern;
    const fullLayers = Array.from({ length: layers }, (_, i) => i).filter((i) => (i + 1) % pattern === 0).length;
    expectEqual(m.id, 'full attention layers', fullLayers, m.num_full_attention_layers ?? fullLayers);
    return { window: m.sliding_window, slidingLayers: layers - fullLayers, fullLayers };
  }
  if (m.attention_chunk_size !== undefined) {
    const chunked = m.num_chunked_attention_layers ?? 0;
    return { window: m.attention_chunk_size, slidingLayers: chunked, fullLayers: layers - chunked };
  }
  return null;
}

function expectEqual(id: string, what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`${id}: ${what} ${actual} differs from the research figure ${expected}`);
}

function crossCheck(info: ModelInfo, m: ResearchModel): void {
  expectEqual(info.id, 'KV bytes per token', kvBytesPerToken(info, 'auto'), m.kv_cache_bytes_per_token_16bit);
  const estimates = [
    ['bf16', m.weights_gib_estimate.bf16_fp16],
    ['fp8', m.weights_gib_estimate.fp8_w8a8],
    ['int8', m.weights_gib_estimate.int8_w8a8],
    ['int4', m.weights_gib_estimate.int4_awq_gptq_g128],
  ] as const;
  for (const [precision, gib] of estimates) {
    const ours = weightBytes(info, precision) / 2 ** 30;
    if (Math.abs(ours - gib) > gib * 0.01) throw new Error(`${info.id}: ${precision} weights ${ours} GiB vs ${gib} GiB`);
  }
}

function main(args: string[]): void {
  const [input, outDir = 'sizing/models'] = args;
  if (!input) throw new Error('usage: import-model-catalog.ts MODELS_JSON [OUT_DIR]');
  const research = JSON.parse(readFileSync(input, 'utf8')) as { models: ResearchModel[] };
  mkdirSync(outDir, { recursive: true });
  for (const m of research.models) {
    const info = toModelInfo(m);
    crossCheck(info, m);
    writeFileSync(join(outDir, modelFileName(info.id)), serializeModelFile(info));
  }
  console.log(`wrote ${research.models.length} model files to ${outDir}`);
}

main(process.argv.slice(2));
