import { describe, expect, it } from 'vitest';
import { sizeDemands } from '../../sizing/demand.ts';
import { estimateMemory } from '../../sizing/estimate.ts';
import { catalog, model, pool, specOf } from './fixtures.ts';

const LLAMA = 'meta-llama/Llama-3.1-8B-Instruct';
const options = (spec: ReturnType<typeof specOf>) => sizeDemands(spec, catalog)[0]!.demand.options;
const shapes = (spec: ReturnType<typeof specOf>) => options(spec).map((o) => `${o.precision}/tp${o.tensorParallel}`);

describe('sizeDemands', () => {
  it('orders auto options by allowed precision, then tensor parallelism ascending', () => {
    const spec = specOf([model('llama', { model: LLAMA, precision: 'auto', allowedPrecisions: ['fp8', 'bf16'] })]);
    expect(shapes(spec)).toEqual(['fp8/tp1', 'fp8/tp2', 'fp8/tp4', 'fp8/tp8', 'bf16/tp1', 'bf16/tp2', 'bf16/tp4', 'bf16/tp8']);
    expect(sizeDemands(spec, catalog)[0]!.demand.precisionAuto).toBe(true);
  });

  it('drops auto precisions a pool product cannot run (int8 on MI300X)', () => {
    const spec = specOf([model('llama', { model: LLAMA, precision: 'auto', allowedPrecisions: ['int8', 'int4'], tensorParallel: 1 })]);
    expect(shapes(spec)).toEqual(['int4/tp1']);
  });

  it('offers only degrees that divide the attention heads (Qwen2.5-0.5B has 14)', () => {
    const spec = specOf([model('qwen', { model: 'Qwen/Qwen2.5-0.5B-Instruct' })]);
    expect(shapes(spec)).toEqual(['bf16/tp1', 'bf16/tp2']);
  });

  it('offers only degrees one node of its pools can hold', () => {
    const apu = pool('apu', 'MI300A', ['SPX-NPS1']); // 4 APUs, one partition each
    expect(shapes(specOf([model('llama', { model: LLAMA })], [apu]))).toEqual(['bf16/tp1', 'bf16/tp2', 'bf16/tp4']);
  });

  it('uses an explicit precision and tensor parallelism as the only option', () => {
    const spec = specOf([model('llama', { model: LLAMA, precision: 'int4', tensorParallel: 2 })]);
    expect(shapes(spec)).toEqual(['int4/tp2']);
    expect(sizeDemands(spec, catalog)[0]!.demand.precisionAuto).toBe(false);
  });

  it('serves at the native precision when none is given (fp16 Cohere, fp8 DeepSeek-V3 checkpoint)', () => {
    const spec = specOf([
      model('aya', { model: 'CohereForAI/aya-expanse-8b', tensorParallel: 1 }),
      model('deepseek', { model: 'deepseek-ai/DeepSeek-V3', tensorParallel: 8 }),
    ]);
    expect(sizeDemands(spec, catalog).map((d) => d.demand.options.map((o) => o.precision))).toEqual([['fp16'], ['fp8']]);
  });

  it('sizes each option with the estimator at min(context, 8192) tokens', () => {
    const spec = specOf([model('llama', { model: LLAMA, concurrency: 2, tensorParallel: 2 })]);
    const [sized] = sizeDemands(spec, catalog);
    const expected = estimateMemory(catalog.get(LLAMA)!, { precision: 'bf16', tensorParallel: 2, maxModelLen: 8192, concurrency: 2 });
    expect(sized!.maxModelLen).toBe(8192);
    expect(sized!.demand.options[0]!.memoryGiBPerPartition).toBe(expected.totalGiB);
  });

  it('caps the default context at the model context (TinyLlama: 2048)', () => {
    const spec = specOf([model('tiny', { model: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0' })]);
    expect(sizeDemands(spec, catalog)[0]!.maxModelLen).toBe(2048);
  });

  it('splits a memoryGiB override evenly over the ranks, even for a model outside the catalog', () => {
    const spec = specOf([model('private', { model: 'acme/private-13b', memoryGiB: 40 })]);
    expect(options(spec).map((o) => [o.tensorParallel, o.memoryGiBPerPartition])).toEqual([[1, 40], [2, 20], [4, 10], [8, 5]]);
  });

  it('sizes a model outside the catalog from spec.architecture', () => {
    const architecture = {
      numHiddenLayers: 32, hiddenSize: 4096, numAttentionHeads: 32, numKeyValueHeads: 8,
      vocabSize: 32000, paramsTotal: 7_000_000_000, maxPositionEmbeddings: 4096,
    };
    const spec = specOf([model('custom', { model: 'acme/custom-7b', architecture, tensorParallel: 1 })]);
    const [sized] = sizeDemands(spec, catalog);
    expect(sized!.maxModelLen).toBe(4096);
    // 14e9 B of weights + 4096 tokens × 131072 B of KV + the 2.0 GiB dense activation measured at
    // 8192 tokens / 1024 sequences, scaled to the 2048 / 256 a replica starts with + 0.27 GiB non-torch
    expect(sized!.demand.options[0]!.memoryGiBPerPartition).toBeCloseTo(14e9 / 2 ** 30 + 0.5 + 2.0 / 4 + 0.27, 12);
  });

  it('sorts demands by model name and resolves an empty pool list to every pool', () => {
    const pools = [pool('a', 'MI300X'), pool('b', 'MI325X')];
    const spec = specOf([model('zeta', { model: LLAMA }), model('alpha', { model: LLAMA, pools: ['b'] })], pools);
    expect(sizeDemands(spec, catalog).map((d) => [d.demand.model, d.demand.pools])).toEqual([
      ['alpha', ['b']],
      ['zeta', ['a', 'b']],
    ]);
  });

  it('binds the engine flags to the model dtype (fp16 Cohere; bf16 for a model known only by its memory)', () => {
    const spec = specOf([model('aya', { model: 'CohereForAI/aya-expanse-8b' }), model('private', { model: 'acme/x', memoryGiB: 10 })]);
    const [aya, opaque] = sizeDemands(spec, catalog);
    expect(aya!.engineFlags('fp16')).toEqual(['--dtype', 'float16']);
    expect(aya!.engineFlags('fp8')).toEqual(['--dtype', 'float16', '--quantization', 'fp8']);
    expect(opaque!.engineFlags('bf16')).toEqual(['--dtype', 'bfloat16']);
  });

  it('binds the engine flags to the checkpoint served at each precision', () => {
    const checkpoints = { int4: 'hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4', fp8: 'amd/Llama-3.1-8B-Instruct-FP8-KV' };
    const spec = specOf([model('quantized', { model: LLAMA, checkpoints }), model('on-load', { model: LLAMA })]);
    const [onLoad, quantized] = sizeDemands(spec, catalog);
    expect(quantized!.engineFlags('bf16')).toEqual(['--dtype', 'bfloat16']);
    expect(quantized!.engineFlags('fp8')).toEqual(['--dtype', 'bfloat16', '--kv-cache-dtype', 'fp8']);
    expect(quantized!.engineFlags('int4')).toEqual(['--dtype', 'float16']);
    // The AMD checkpoint carries calibrated KV scales (-FP8-KV): fp8 cache; quantized on load: 16-bit cache.
    expect(onLoad!.engineFlags('fp8')).toEqual(['--dtype', 'bfloat16', '--quantization', 'fp8']);
  });

  it('gives an fp8 KV cache when the model asks for one, and sizes it so', () => {
    const spec = specOf([model('llama', { model: LLAMA, precision: 'fp8', kvCacheDtype: 'fp8', tensorParallel: 1 })]);
    const [sized] = sizeDemands(spec, catalog);
    expect(sized!.engineFlags('fp8')).toEqual(['--dtype', 'bfloat16', '--quantization', 'fp8', '--kv-cache-dtype', 'fp8']);
    const sixteen = sizeDemands(specOf([model('llama', { model: LLAMA, precision: 'fp8', tensorParallel: 1 })]), catalog)[0]!;
    // 8192 tokens × 128 KiB at 16 bits = 1 GiB; half of it at fp8.
    expect(sixteen.demand.options[0]!.memoryGiBPerPartition - sized!.demand.options[0]!.memoryGiBPerPartition).toBeCloseTo(0.5, 12);
  });

  it('offers int4 only at degrees that split every layer into whole quantization groups', () => {
    const spec = specOf([model('qwen', { model: 'Qwen/Qwen2.5-72B-Instruct', precision: 'int4', checkpoints: { int4: 'Qwen/Qwen2.5-72B-Instruct-AWQ' } })]);
    expect(shapes(spec)).toEqual(['int4/tp1']);
  });

  it('serves a replica with its whole partition, at the batch limits the partition allows', () => {
    const spec = specOf([model('llama', { model: LLAMA, tensorParallel: 1 })]);
    const option = options(spec)[0]!;
    const small = option.serve!({ memoryGiB: 24, usableMemoryFraction: 0.95, headroomPercent: 5 });
    expect(small).toMatchObject({ gpuMemoryUtilization: 0.9, maxNumBatchedTokens: 2048, maxNumSeqs: 256 });
    const large = option.serve!({ memoryGiB: 192, usableMemoryFraction: 0.95, headroomPercent: 5 });
    expect(large).toMatchObject({ gpuMemoryUtilization: 0.94, maxNumBatchedTokens: 8192, maxNumSeqs: 1024 });
    // What the weights and overheads leave of 0.94 × 192 GiB is KV cache: 8192-token sequences at 1 GiB each.
    expect(large.kv!.cacheGiB).toBeCloseTo(0.94 * 192 - large.memoryGiBPerPartition + 1, 12);
    expect(large.kv!.sequences).toBe(Math.floor(large.kv!.cacheGiB));
  });

  it('throws for a model that checkModels rejects as unknown', () => {
    expect(() => sizeDemands(specOf([model('x', { model: 'acme/unknown' })]), catalog)).toThrow(/run checkModels first/);
  });
});
