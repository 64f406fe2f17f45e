import { describe, expect, it } from 'vitest';
import type { Precision } from '../../api/types.ts';
import { estimateMemory, GIB, kvBytesPerToken, type EstimateOptions } from '../../sizing/estimate.ts';
import { engineFlags, weightBytes } from '../../sizing/precision.ts';
import type { ModelInfo } from '../../sizing/types.ts';
import { catalog } from './fixtures.ts';

function info(id: string): ModelInfo {
  const m = catalog.get(id);
  if (!m) throw new Error(`${id} missing from the catalog`);
  return m;
}

const at8k = (precision: Precision, tensorParallel = 1): EstimateOptions => ({ precision, tensorParallel, maxModelLen: 8192, concurrency: 1 });

describe('KV bytes per token', () => {
  it('is 2 × layers × KV heads × head dim × 2 for GQA (Llama-3.1-8B: 131072)', () => {
    expect(kvBytesPerToken(info('meta-llama/Llama-3.1-8B-Instruct'), 'auto')).toBe(131072);
    expect(estimateMemory(info('meta-llama/Llama-3.1-8B-Instruct'), at8k('bf16')).kvBytesPerToken).toBe(131072);
  });

  it('halves with fp8 weights, whose KV cache is fp8 unless asked otherwise', () => {
    const llama = info('meta-llama/Llama-3.1-8B-Instruct');
    expect(estimateMemory(llama, at8k('fp8')).kvBytesPerToken).toBe(65536);
    expect(estimateMemory(llama, { ...at8k('fp8'), kvCacheDtype: 'auto' }).kvBytesPerToken).toBe(131072);
    expect(estimateMemory(llama, { ...at8k('bf16'), kvCacheDtype: 'fp8' }).kvBytesPerToken).toBe(65536);
  });

  it('caches the MLA latent plus the RoPE key per layer (DeepSeek-V3: 61 × 576 × 2 = 70272)', () => {
    expect(kvBytesPerToken(info('deepseek-ai/DeepSeek-V3'), 'auto')).toBe(70272);
  });

  it('counts only the self-attention layers of a cross-attention vision model', () => {
    expect(kvBytesPerToken(info('meta-llama/Llama-3.2-11B-Vision-Instruct'), 'auto')).toBe(2 * 32 * 8 * 128 * 2);
  });
});

describe('KV cache per rank', () => {
  it('does not divide the MLA latent by tensor parallelism', () => {
    const deepseek = info('deepseek-ai/DeepSeek-V3');
    const tp1 = estimateMemory(deepseek, at8k('bf16', 1));
    const tp8 = estimateMemory(deepseek, at8k('bf16', 8));
    expect(tp8.kvCacheGiB).toBe(tp1.kvCacheGiB);
    expect(tp1.kvCacheGiB).toBeCloseTo((70272 * 8192) / GIB, 12);
  });

  it('splits KV heads across ranks, then replicates them once TP exceeds the KV heads', () => {
    const qwen = info('Qwen/Qwen3-235B-A22B'); // 4 KV heads
    const kv = (tp: number) => estimateMemory(qwen, at8k('bf16', tp)).kvCacheGiB;
    expect(kv(2)).toBeCloseTo(kv(1) / 2, 12);
    expect(kv(4)).toBeCloseTo(kv(1) / 4, 12);
    expect(kv(8)).toBe(kv(4));
  });

  it('keeps only the window in Gemma 3 sliding layers (27b at 8K: 1.03 GiB hybrid vs 3.88 GiB full)', () => {
    const gemma = info('google/gemma-3-27b-it');
    const hybrid = estimateMemory(gemma, at8k('bf16'));
    const full = estimateMemory(gemma, { ...at8k('bf16'), fullSlidingWindowKv: true });
    expect(hybrid.kvCacheGiB).toBeCloseTo(1.03, 2);
    expect(full.kvCacheGiB).toBeCloseTo(3.88, 2);
    const at32k = { ...at8k('bf16'), maxModelLen: 32768 };
    expect(estimateMemory(gemma, at32k).kvCacheGiB).toBeCloseTo(2.91, 2);
    expect(estimateMemory(gemma, { ...at32k, fullSlidingWindowKv: true }).kvCacheGiB).toBeCloseTo(15.5, 1);
  });

  it('caps the chunked-local layers of Llama-4-Scout at the 8192-token chunk', () => {
    const scout = info('meta-llama/Llama-4-Scout-17B-16E-Instruct');
    const perLayerToken = 2 * 8 * 128 * 2;
    const kv = estimateMemory(scout, { ...at8k('bf16'), maxModelLen: 32768 }).kvCacheGiB;
    expect(kv * GIB).toBe(32768 * 12 * perLayerToken + 8192 * 36 * perLayerToken);
  });

  it('holds maxModelLen × concurrency tokens', () => {
    const llama = info('meta-llama/Llama-3.1-8B-Instruct');
    const one = estimateMemory(llama, at8k('bf16'));
    const four = estimateMemory(llama, { ...at8k('bf16'), concurrency: 4 });
    expect(four.kvCacheGiB).toBe(one.kvCacheGiB * 4);
    expect(one.kvCacheGiB).toBe(1);
  });
});

describe('weights', () => {
  // weights_gib_estimate of the research file the catalog was imported from (see scripts/import-model-catalog.ts).
  const researchEstimates: [string, Precision, number][] = [
    ['meta-llama/Llama-3.1-8B-Instruct', 'bf16', 14.96],
    ['meta-llama/Llama-3.1-8B-Instruct', 'fp8', 8.46],
    ['meta-llama/Llama-3.1-8B-Instruct', 'int4', 5.33],
    ['CohereForAI/aya-expanse-32b', 'int4', 18.52],
    ['deepseek-ai/DeepSeek-V3', 'fp8', 626.82],
    ['deepseek-ai/DeepSeek-V3', 'int8', 626.67],
    ['meta-llama/Llama-4-Scout-17B-16E-Instruct', 'bf16', 202.36],
    ['google/gemma-3-27b-it', 'int4', 15.8],
    ['Qwen/Qwen3-235B-A22B', 'fp8', 220.11],
  ];
  it.each(researchEstimates)('%s at %s is within 1%% of %f GiB', (id, precision, gib) => {
    const ours = estimateMemory(info(id), at8k(precision)).weightsGiB;
    expect(Math.abs(ours - gib) / gib).toBeLessThan(0.01);
  });

  it('keeps embeddings and lm_head at 2 bytes when quantized', () => {
    const llama = info('meta-llama/Llama-3.1-8B-Instruct');
    const quantized = llama.paramsTotal - llama.paramsKept16bit;
    expect(weightBytes(llama, 'int4')).toBeCloseTo(quantized * (0.5 + 2.5 / 128) + llama.paramsKept16bit * 2, 0);
  });
});

describe('overhead and total', () => {
  it.each([
    ['meta-llama/Llama-3.1-8B-Instruct', 4.8],
    ['Qwen/Qwen3-32B', 5.6],
    ['mistralai/Mistral-Small-3.1-24B-Instruct-2503', 2.5],
    ['mistralai/Mixtral-8x7B-Instruct-v0.1', 8.0],
    ['meta-llama/Llama-4-Scout-17B-16E-Instruct', 8.0],
    ['google/gemma-3-27b-it', 2.5],
    ['CohereForAI/aya-expanse-8b', 5.5],
  ])('%s has a %f GiB activation peak plus non-torch memory', (id, activation) => {
    expect(estimateMemory(info(id), at8k('bf16', 1)).overheadGiB).toBeCloseTo(activation + 0.15, 12);
    expect(estimateMemory(info(id), at8k('bf16', 2)).overheadGiB).toBeCloseTo(activation + 0.6, 12);
  });

  it('adds weights/TP, KV per rank and overhead', () => {
    const e = estimateMemory(info('meta-llama/Llama-3.3-70B-Instruct'), at8k('fp8', 4));
    expect(e.totalGiB).toBeCloseTo(e.weightsGiB / 4 + e.kvCacheGiB + e.overheadGiB, 12);
  });

  it('rejects a tensor parallelism below 1', () => {
    expect(() => estimateMemory(info('meta-llama/Llama-3.1-8B-Instruct'), at8k('bf16', 0))).toThrow(/tensorParallel/);
  });
});

describe('engine flags', () => {
  const llama = info('meta-llama/Llama-3.1-8B-Instruct');
  it('selects 16-bit precisions with --dtype', () => {
    expect(engineFlags(llama, 'bf16')).toEqual(['--dtype', 'bfloat16']);
    expect(engineFlags(llama, 'fp16')).toEqual(['--dtype', 'float16']);
  });
  it('quantizes to fp8 with an fp8 KV cache', () => {
    expect(engineFlags(llama, 'fp8')).toEqual(['--dtype', 'bfloat16', '--quantization', 'fp8', '--kv-cache-dtype', 'fp8']);
    expect(engineFlags(llama, 'fp8', 'auto')).toEqual(['--dtype', 'bfloat16', '--quantization', 'fp8']);
  });
  it('leaves int4/int8 quantization to the checkpoint and runs AWQ/GPTQ in fp16', () => {
    expect(engineFlags(llama, 'int4')).toEqual(['--dtype', 'float16']);
    expect(engineFlags(info('CohereForAI/aya-expanse-8b'), 'int8')).toEqual(['--dtype', 'float16']);
    expect(engineFlags(llama, 'int8')).toEqual(['--dtype', 'bfloat16']);
  });
  it('names no quantization method for a pre-quantized fp8 checkpoint, which declares its own, and keeps the fp8 KV cache', () => {
    expect(engineFlags(llama, 'fp8', 'fp8', true)).toEqual(['--dtype', 'bfloat16', '--kv-cache-dtype', 'fp8']);
    // DeepSeek-V3 ships FP8: serving its own checkpoint at fp8 quantizes nothing.
    expect(engineFlags(info('deepseek-ai/DeepSeek-V3'), 'fp8')).toEqual(['--dtype', 'bfloat16', '--kv-cache-dtype', 'fp8']);
    expect(engineFlags(info('deepseek-ai/DeepSeek-V3'), 'fp8', 'fp8', false)).toEqual(['--dtype', 'bfloat16', '--quantization', 'fp8', '--kv-cache-dtype', 'fp8']);
  });
});
