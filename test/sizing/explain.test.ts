import { describe, expect, it } from 'vitest';
import { explainModel, renderExplainText } from '../../sizing/explain.ts';
import { GPU_CATALOG } from '../../hardware/gpus.ts';
import { catalog } from './fixtures.ts';

const LLAMA = 'meta-llama/Llama-3.1-8B-Instruct';

describe('explainModel', () => {
  it('reports the breakdown as plain JSON (Llama-3.1-8B bf16: 131072 KV bytes per token)', () => {
    const report = explainModel(catalog, LLAMA, { precision: 'bf16' });
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(report).toMatchObject({
      model: LLAMA,
      precision: 'bf16',
      tensorParallel: 1,
      maxModelLen: 8192,
      concurrency: 1,
      weightsGiB: 14.96,
      kvBytesPerToken: 131072,
      kvCacheGiB: 1,
      maxNumBatchedTokens: 2048,
      maxNumSeqs: 256,
      activationGiB: 0.47, // 1.89 GiB measured at 8192 tokens / 1024 sequences, a quarter of it at 2048 / 256
      nonTorchGiB: 0.27,
      overheadGiB: 0.74,
      totalGiB: 16.7,
      engineArgs: ['--dtype', 'bfloat16'],
    });
  });

  it('lists every profile of every product', () => {
    const report = explainModel(catalog, LLAMA);
    const profiles = Object.values(GPU_CATALOG).flatMap((p) => p.profiles.map((profile) => `${p.name} ${profile.name}`));
    expect(report.fits.map((f) => `${f.gpu} ${f.profile}`)).toEqual(profiles);
  });

  it('finds the smallest tensor parallelism that fits each partition', () => {
    const fits = explainModel(catalog, LLAMA, { precision: 'bf16', headroomPercent: 0 }).fits;
    expect(fits.find((f) => f.gpu === 'MI300X' && f.profile === 'CPX-NPS4')).toMatchObject({ fits: true, tensorParallel: 1 });
    // 16.7 GiB does not fit the 0.78 × 16 GiB vLLM is given; at TP 2 one rank needs 10.55 GiB.
    expect(fits.find((f) => f.gpu === 'MI300A' && f.profile === 'CPX-NPS1')).toMatchObject({
      fits: true,
      usableGiB: 12.48,
      tensorParallel: 2,
      memoryGiBPerPartition: 10.55,
    });
  });

  it("applies the planner's headroom and usable fraction: a rank that fits bare may not fit with headroom", () => {
    // Llama-3.1-8B bf16 at 40960 tokens needs 20.7 GiB at degree 1: under the 21.6 GiB vLLM is given on an
    // MI300X CPX partition bare, over it with 5% headroom (21.74 GiB); the planner then uses degree 2.
    const on = (opts: Parameters<typeof explainModel>[2]) =>
      explainModel(catalog, LLAMA, { precision: 'bf16', maxModelLen: 40960, ...opts }).fits.find((f) => f.gpu === 'MI300X' && f.profile === 'CPX-NPS4')!;
    const bare = on({ tensorParallel: 1, headroomPercent: 0 });
    expect(bare).toMatchObject({ fits: true, tensorParallel: 1 });
    expect(bare.memoryGiBPerPartition!).toBeLessThanOrEqual(bare.usableGiB);
    expect(bare.memoryGiBPerPartition! * 1.05).toBeGreaterThan(bare.usableGiB);
    expect(on({ tensorParallel: 1 })).toMatchObject({ fits: false, tensorParallel: null });
    const fit = on({});
    expect(fit).toMatchObject({ fits: true, tensorParallel: 2, gpusPerReplica: 0.25 }); // 2 of the 8 CPX partitions of a GPU
    expect(fit.reservedGiB!).toBeLessThanOrEqual(fit.usableGiB);
    expect(fit.reservedGiB!).toBeCloseTo(fit.memoryGiBPerPartition! * 1.05, 1);
  });

  it('gives a reason for every precision a product does not run natively, in JSON and in text', () => {
    const report = explainModel(catalog, LLAMA, { precision: 'int8' });
    expect(report.fits.every((f) => f.precisionSupport === 'native' || (f.precisionNote ?? '').length > 0)).toBe(true);
    const text = renderExplainText(report);
    for (const f of report.fits.filter((x) => x.precisionNote)) expect(text).toContain(`${f.gpu}: int8 ${f.precisionSupport}: ${f.precisionNote}`);
  });

  it('checks only the requested tensor parallelism when one is given', () => {
    const fits = explainModel(catalog, LLAMA, { precision: 'bf16', tensorParallel: 1 }).fits;
    expect(fits.find((f) => f.gpu === 'MI300A' && f.profile === 'CPX-NPS1')).toMatchObject({ fits: false, tensorParallel: null });
  });

  it('does not fit where the precision is unsupported', () => {
    const fits = explainModel(catalog, LLAMA, { precision: 'int8' }).fits;
    expect(fits.every((f) => f.precisionSupport === 'unsupported' && !f.fits)).toBe(true);
  });

  it('refuses a model or precision vLLM cannot serve, with the reason', () => {
    expect(() => explainModel(catalog, 'meta-llama/Llama-3.2-11B-Vision-Instruct')).toThrow(/cannot be served: vLLM removed the Mllama/);
    expect(() => explainModel(catalog, 'google/gemma-3-27b-it', { precision: 'fp16' })).toThrow(/refuses float16 for gemma3/);
  });

  it('throws with a suggestion for an unknown model', () => {
    expect(() => explainModel(catalog, 'meta-llama/Llama-3.1-8B')).toThrow(
      'unknown model "meta-llama/Llama-3.1-8B" (did you mean "meta-llama/Llama-3.1-8B-Instruct"?)',
    );
  });

  it('says the closest catalog model is a different model when its size differs, never offering it as a typo fix', () => {
    expect(() => explainModel(catalog, 'meta-llama/Llama-3.1-7B-Instruct')).toThrow(
      'unknown model "meta-llama/Llama-3.1-7B-Instruct" (the closest catalog model, "meta-llama/Llama-3.1-70B-Instruct", is a different model: 70B parameters, not 7B)',
    );
  });

  it('throws for a tensor parallelism that does not divide the heads or a context beyond the model', () => {
    expect(() => explainModel(catalog, 'Qwen/Qwen2.5-0.5B-Instruct', { tensorParallel: 4 })).toThrow(
      'tensor parallelism 4 does not divide the 14 attention heads of Qwen/Qwen2.5-0.5B-Instruct',
    );
    expect(() => explainModel(catalog, 'TinyLlama/TinyLlama-1.1B-Chat-v1.0', { maxModelLen: 4096 })).toThrow(/2048-token context/);
  });
});

describe('renderExplainText', () => {
  const text = renderExplainText(explainModel(catalog, 'google/gemma-3-27b-it', { tensorParallel: 2 }));

  it('shows the breakdown per rank', () => {
    expect(text).toContain('weights          51.10 GiB (25.55 GiB per rank)');
    expect(text).toContain('KV cache         1.02 GiB per rank at least (507904 B/token, as vLLM allocates it)');
  });

  it('aligns the fit table in columns', () => {
    const table = text.split('\n').slice(text.split('\n').indexOf('') + 1).filter(Boolean);
    expect(table).toHaveLength(1 + explainModel(catalog, LLAMA).fits.length);
    expect(new Set(table.map((line) => line.length)).size).toBe(1);
    expect(new Set(table.map((line) => line.indexOf('  native') >= 0 ? line.indexOf('native') : line.indexOf('precision')))).toEqual(
      new Set([table[0]!.indexOf('precision')]),
    );
  });
});
