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
    // 14e9 B of weights + 4096 tokens × 131072 B of KV + 5.5 GiB dense activation + 0.15 GiB non-torch
    expect(sized!.demand.options[0]!.memoryGiBPerPartition).toBeCloseTo(14e9 / 2 ** 30 + 0.5 + 5.65, 12);
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
    expect(aya!.engineFlags('fp8')).toEqual(['--dtype', 'float16', '--quantization', 'fp8', '--kv-cache-dtype', 'fp8']);
    expect(opaque!.engineFlags('bf16')).toEqual(['--dtype', 'bfloat16']);
  });

  it('binds the engine flags to the checkpoint served at each precision', () => {
    const checkpoints = { int4: 'hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4', fp8: 'amd/Llama-3.1-8B-Instruct-FP8-KV' };
    const spec = specOf([model('quantized', { model: LLAMA, checkpoints }), model('on-load', { model: LLAMA })]);
    const [onLoad, quantized] = sizeDemands(spec, catalog);
    expect(quantized!.engineFlags('bf16')).toEqual(['--dtype', 'bfloat16']);
    expect(quantized!.engineFlags('fp8')).toEqual(['--dtype', 'bfloat16', '--kv-cache-dtype', 'fp8']);
    expect(quantized!.engineFlags('int4')).toEqual(['--dtype', 'float16']);
    expect(onLoad!.engineFlags('fp8')).toEqual(['--dtype', 'bfloat16', '--quantization', 'fp8', '--kv-cache-dtype', 'fp8']);
  });

  it('throws for a model that checkModels rejects as unknown', () => {
    expect(() => sizeDemands(specOf([model('x', { model: 'acme/unknown' })]), catalog)).toThrow(/run checkModels first/);
  });
});
