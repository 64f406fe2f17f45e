import { describe, expect, it } from 'vitest';
import type { Precision } from '../../api/types.ts';
import { LARGE_DEVICE_BATCH, SMALL_DEVICE_BATCH } from '../../sizing/engine.ts';
import { activationPeakGiB, DEFAULT_ENGINE, estimateMemory, GIB, kvBytesPerToken, type EstimateOptions } from '../../sizing/estimate.ts';
import { admissionBytes, kvLayout } from '../../sizing/kv.ts';
import { engineFlags, int4TensorParallelProblem, precisionProblem, servedKvCacheDtype, weightBytes } from '../../sizing/precision.ts';
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

  it('stays 16-bit with fp8 weights unless an fp8 cache is asked for', () => {
    const llama = info('meta-llama/Llama-3.1-8B-Instruct');
    expect(estimateMemory(llama, at8k('fp8')).kvBytesPerToken).toBe(131072);
    expect(estimateMemory(llama, { ...at8k('fp8'), kvCacheDtype: 'fp8' }).kvBytesPerToken).toBe(65536);
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

  // Gemma 3 27B: 10 full and 52 sliding (window 1024) layers, 16 KV heads × 128 × 2 B × K,V = 8 KiB
  // per layer and token; a 16-token page is 128 KiB.
  const GEMMA_PAGE = 16 * 8192;

  it('admits Gemma 3 as vLLM does: sliding layers hold window − 1 + max_num_batched_tokens tokens (6.16 GiB at 32K)', () => {
    const gemma = info('google/gemma-3-27b-it');
    const layout = kvLayout(gemma, { tensorParallel: 1, kvCacheDtype: 'auto', blockSize: 16 });
    // full: cdiv(32768, 16) = 2048 blocks; sliding: cdiv(min(1023 + 8192, 32768), 16) + 1 = 577 blocks
    expect(admissionBytes(layout, 32768, LARGE_DEVICE_BATCH)).toBe((10 * 2048 + 52 * 577) * GEMMA_PAGE);
    expect(admissionBytes(layout, 32768, LARGE_DEVICE_BATCH) / GIB).toBeCloseTo(6.16, 2);
    // min(L, window) sized it at 5.77 GiB less than that before, and vLLM refused the replica.
    expect((10 * 32768 + 52 * 1024) * 8192).toBeLessThan(admissionBytes(layout, 32768, LARGE_DEVICE_BATCH));
  });

  it('sizes Gemma 3 for the hybrid allocator: groups of 10 layers, the 52 sliding ones padded to 60', () => {
    const gemma = info('google/gemma-3-27b-it');
    const at32k = { ...at8k('bf16'), maxModelLen: 32768, batch: LARGE_DEVICE_BATCH };
    expect(estimateMemory(gemma, at32k).kvCacheGiB * GIB).toBe((2048 + 6 * 577) * 10 * GEMMA_PAGE);
    // --disable-hybrid-kv-cache-manager: every layer holds every token.
    expect(estimateMemory(gemma, { ...at32k, fullSlidingWindowKv: true }).kvCacheGiB * GIB).toBe(62 * 2048 * GEMMA_PAGE);
    // Fewer batched tokens, smaller sliding share.
    expect(estimateMemory(gemma, { ...at32k, batch: SMALL_DEVICE_BATCH }).kvCacheGiB).toBeLessThan(estimateMemory(gemma, at32k).kvCacheGiB);
  });

  it('caps the chunked-local layers of Llama-4-Scout at chunk + max_num_batched_tokens', () => {
    const scout = info('meta-llama/Llama-4-Scout-17B-16E-Instruct');
    const page = 16 * 2 * 8 * 128 * 2;
    const kv = estimateMemory(scout, { ...at8k('bf16'), maxModelLen: 32768, batch: SMALL_DEVICE_BATCH }).kvCacheGiB;
    // full: 2048 blocks; chunked: cdiv(min(8192 + 2048, 32768), 16) = 640 blocks; 36 = 3 groups of 12
    expect(kv * GIB).toBe((12 * 2048 + 36 * 640) * page);
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
  // llm-d-planner's constants, measured on vLLM 0.19.0 at 8192 batched tokens / 1024 sequences.
  it.each([
    ['meta-llama/Llama-3.1-8B-Instruct', 1.89],
    ['Qwen/Qwen3-32B', 2.21],
    ['mistralai/Mistral-Small-3.1-24B-Instruct-2503', 2.1],
    ['mistralai/Mixtral-8x7B-Instruct-v0.1', 1.21],
    ['meta-llama/Llama-4-Scout-17B-16E-Instruct', 2.5],
    ['google/gemma-3-27b-it', 3.94],
    ['CohereForAI/aya-expanse-8b', 2.0],
  ])('%s has its measured %f GiB activation peak at the measured batch limits, less below them', (id, activation) => {
    const large = estimateMemory(info(id), { ...at8k('bf16', 1), batch: LARGE_DEVICE_BATCH });
    expect(large.activationGiB).toBeCloseTo(activation, 12);
    expect(large.overheadGiB).toBeCloseTo(activation + 0.27, 12);
    expect(estimateMemory(info(id), { ...at8k('bf16', 2), batch: LARGE_DEVICE_BATCH }).overheadGiB).toBeCloseTo(activation + 2.1, 12);
    expect(estimateMemory(info(id), at8k('bf16')).activationGiB).toBeLessThan(activation);
  });

  it("scales the sampler's share with max_num_seqs × vocabulary (Gemma's 262k vocabulary doubles it)", () => {
    const share = (id: string) =>
      activationPeakGiB(info(id), { maxNumBatchedTokens: 8192, maxNumSeqs: 1024 }, DEFAULT_ENGINE) -
      activationPeakGiB(info(id), { maxNumBatchedTokens: 8192, maxNumSeqs: 512 }, DEFAULT_ENGINE);
    expect(share('meta-llama/Llama-3.1-8B-Instruct')).toBeCloseTo((2 * 512 * 128256 * 4) / GIB, 12);
    expect(share('google/gemma-3-27b-it') / share('meta-llama/Llama-3.1-8B-Instruct')).toBeCloseTo(262208 / 128256, 12);
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
  it('quantizes to fp8 with a 16-bit KV cache unless an fp8 one is chosen', () => {
    expect(engineFlags(llama, 'fp8')).toEqual(['--dtype', 'bfloat16', '--quantization', 'fp8']);
    expect(engineFlags(llama, 'fp8', 'fp8')).toEqual(['--dtype', 'bfloat16', '--quantization', 'fp8', '--kv-cache-dtype', 'fp8']);
  });
  it('leaves int4/int8 quantization to the checkpoint and runs AWQ/GPTQ in fp16', () => {
    expect(engineFlags(llama, 'int4')).toEqual(['--dtype', 'float16']);
    expect(engineFlags(info('CohereForAI/aya-expanse-8b'), 'int8')).toEqual(['--dtype', 'float16']);
    expect(engineFlags(llama, 'int8')).toEqual(['--dtype', 'bfloat16']);
  });
  it('names no quantization method for a pre-quantized fp8 checkpoint, which declares its own', () => {
    expect(engineFlags(llama, 'fp8', 'fp8', true)).toEqual(['--dtype', 'bfloat16', '--kv-cache-dtype', 'fp8']);
    // DeepSeek-V3 ships FP8: serving its own checkpoint at fp8 quantizes nothing.
    expect(engineFlags(info('deepseek-ai/DeepSeek-V3'), 'fp8')).toEqual(['--dtype', 'bfloat16']);
    expect(engineFlags(info('deepseek-ai/DeepSeek-V3'), 'fp8', 'auto', false)).toEqual(['--dtype', 'bfloat16', '--quantization', 'fp8']);
  });
});

describe('the KV cache dtype', () => {
  it('is fp8 only when asked for, or when the checkpoint carries calibrated KV scales', () => {
    expect(servedKvCacheDtype('auto', 'meta-llama/Llama-3.1-8B-Instruct')).toBe('auto');
    expect(servedKvCacheDtype('fp8', 'meta-llama/Llama-3.1-8B-Instruct')).toBe('fp8');
    expect(servedKvCacheDtype('auto', 'amd/Llama-3.1-8B-Instruct-FP8-KV')).toBe('fp8');
  });
});

describe('precision rules per family', () => {
  it('refuses float16, and with it int4, where vLLM does (gemma3), and nothing else', () => {
    const gemma = info('google/gemma-3-27b-it');
    expect(precisionProblem(gemma, 'fp16')).toMatch(/refuses float16 for gemma3/);
    expect(precisionProblem(gemma, 'int4')).toMatch(/float16 activations only/);
    expect(precisionProblem(gemma, 'bf16')).toBeUndefined();
    expect(precisionProblem(gemma, 'fp8')).toBeUndefined();
    expect(precisionProblem(info('google/gemma-3-1b-it'), 'fp16')).toMatch(/gemma3_text/);
    expect(precisionProblem(info('meta-llama/Llama-3.1-8B-Instruct'), 'fp16')).toBeUndefined();
  });

  it('splits int4 only into whole 128-wide quantization groups per rank', () => {
    const qwen72 = info('Qwen/Qwen2.5-72B-Instruct'); // intermediate 29568 = 231 groups
    expect(int4TensorParallelProblem(qwen72, 1)).toBeUndefined();
    expect(int4TensorParallelProblem(qwen72, 2)).toMatch(/29568 inputs, 14784 per rank/);
    expect(int4TensorParallelProblem(info('meta-llama/Llama-3.1-8B-Instruct'), 8)).toBeUndefined();
  });
});
