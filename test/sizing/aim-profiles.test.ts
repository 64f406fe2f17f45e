import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { staleAimProfiles, writeAimProfiles } from '../../cli/profiles-dir.ts';
import { buildAimProfiles } from '../../sizing/aim-profiles.ts';
import { catalog } from './fixtures.ts';

const COMMITTED = fileURLToPath(new URL('../../aim_profiles/', import.meta.url));
const profiles = buildAimProfiles(catalog);
const profile = (file: string) => JSON.parse(profiles.find((p) => p.file === file)!.content);
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true });
});

describe('AIM profiles', () => {
  it('are committed up to date (regenerate with `npx aim-gpu profiles`)', () => {
    expect(staleAimProfiles(catalog, COMMITTED), 'stale files in aim_profiles/').toEqual([]);
  });

  it('cover every servable catalog model at fp16, int8, int4 and fp8, less what vLLM refuses', () => {
    const servable = [...catalog.values()].filter((m) => !m.unsupported);
    const gemma = servable.filter((m) => m.modelType.startsWith('gemma'));
    // No float16 for Gemma (nor int4, whose ROCm kernels need it); nothing for Llama 3.2 Vision.
    expect(profiles).toHaveLength(servable.length * 4 - gemma.length * 2);
    expect(profiles.filter((p) => p.file.startsWith('google_gemma-3-27b-it-')).map((p) => p.file)).toEqual([
      'google_gemma-3-27b-it-fp8.json',
      'google_gemma-3-27b-it-int8.json',
    ]);
    expect(profiles.some((p) => p.file.includes('Llama-3.2-11B-Vision'))).toBe(false);
    expect(profiles.filter((p) => p.file.startsWith('meta-llama_Llama-3.1-8B-Instruct-')).map((p) => p.file)).toEqual([
      'meta-llama_Llama-3.1-8B-Instruct-fp16.json',
      'meta-llama_Llama-3.1-8B-Instruct-fp8.json',
      'meta-llama_Llama-3.1-8B-Instruct-int4.json',
      'meta-llama_Llama-3.1-8B-Instruct-int8.json',
    ]);
  });

  it('keep the original format fields first, in a fixed order', () => {
    const p = profile('meta-llama_Llama-3.1-8B-Instruct-fp16.json');
    expect(Object.keys(p).slice(0, 10)).toEqual([
      'model_id', 'variant_id', 'version', 'parameters', 'precision', 'memory_requirement_gb',
      'recommended_partition_gb', 'gpu_sharing', 'resource_requirements', 'metadata',
    ]);
    expect(p).toMatchObject({
      model_id: 'meta-llama/Llama-3.1-8B-Instruct',
      variant_id: 'meta-llama/Llama-3.1-8B-Instruct-fp16',
      parameters: '8B',
      recommended_partition_gb: 24,
      gpu_sharing: { enabled: true, memory_limit_gb: 16.7, partition_id: null, qos_priority: 'medium' },
      resource_requirements: { gpu_memory_gb: 16.7, gpu_count: 1 },
      metadata: { quantization: 'none', base_model: 'meta-llama/Llama-3.1-8B-Instruct', parameters: '8B' },
    });
  });

  it('name the smallest partition that fits per product, and its tensor parallelism', () => {
    const p = profile('meta-llama_Llama-3.1-8B-Instruct-fp16.json');
    expect(p.partitions.MI300X).toMatchObject({ profile: 'CPX-NPS4', partition_gib: 24, tensor_parallel: 1 });
    expect(p.partitions.MI300A).toMatchObject({ profile: 'CPX-NPS1', partition_gib: 16, tensor_parallel: 2 });
  });

  it('explain why a model fits no partition of a product (DeepSeek-V3 on a 4-APU MI300A node)', () => {
    const p = profile('deepseek-ai_DeepSeek-V3-fp8.json');
    expect(p.partitions.MI300A).toMatchObject({ profile: null, tensor_parallel: null });
    expect(p.partitions.MI300A.reason).toMatch(/^does not fit one MI300A node: at tensor parallelism 4 on SPX-NPS1 one rank needs 1\d\d\.\d\d GiB/);
    // DPX-NPS2, AMD-validated, before the equal DPX-NPS1.
    expect(p.partitions.MI300X).toMatchObject({ profile: 'DPX-NPS2', tensor_parallel: 8 });
  });

  it('flag precisions a product cannot run', () => {
    expect(profile('meta-llama_Llama-3.1-8B-Instruct-int8.json').partitions.MI300X.precision_support).toBe('unsupported');
    expect(profile('meta-llama_Llama-3.1-8B-Instruct-int4.json').partitions.MI300X.precision_support).toBe('warning');
  });

  it('are written with stale files removed, and a changed or extra file is reported stale', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aim-profiles-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'retired_model-fp16.json'), '{}\n');
    expect(writeAimProfiles(catalog, dir)).toBe(profiles.length);
    expect(existsSync(join(dir, 'retired_model-fp16.json'))).toBe(false);
    expect(readdirSync(dir)).toHaveLength(profiles.length);
    expect(staleAimProfiles(catalog, dir)).toEqual([]);

    writeFileSync(join(dir, 'meta-llama_Llama-3.1-8B-Instruct-fp8.json'), '{}\n');
    writeFileSync(join(dir, 'retired_model-fp16.json'), '{}\n');
    rmSync(join(dir, 'Qwen_Qwen3-8B-int4.json'));
    expect(staleAimProfiles(catalog, dir)).toEqual([
      'Qwen_Qwen3-8B-int4.json',
      'meta-llama_Llama-3.1-8B-Instruct-fp8.json',
      'retired_model-fp16.json',
    ]);
  });
});
