import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCli } from '../../scripts/build-cli.ts';
import { aimGpu, readTree, ROOT, tempDir } from './run.ts';

// One level below the root, like `.build/`, so the bundle resolves project files the same way.
const OUT = join(ROOT, '.build-test');
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

describe('the bundled CLI', { timeout: 60_000 }, () => {
  it('writes the same dist/ as the TypeScript sources', async () => {
    await buildCli(ROOT, OUT);
    const fromBundle = tempDir('bundle');
    const bundled = await execa('node', [join(OUT, 'aim-gpu.mjs'), 'synth', '--out', fromBundle], { cwd: ROOT, reject: false });
    expect(bundled.exitCode, bundled.stderr).toBe(0);
    const fromSources = tempDir('sources');
    const sources = await aimGpu(['synth', '--out', fromSources], { AIM_GPU_FROM_SOURCES: '1' });
    expect(sources.exitCode, sources.stderr).toBe(0);
    expect(readTree(fromBundle)).toEqual(readTree(fromSources));
    expect(readTree(fromBundle)).toEqual(readTree(join(ROOT, 'dist')));
  });

  it('records every project source it was built from, so an edit falls back to the sources', async () => {
    await buildCli(ROOT, OUT);
    const { readFileSync } = await import('node:fs');
    const inputs = JSON.parse(readFileSync(join(OUT, 'inputs.json'), 'utf8')) as { file: string }[];
    const files = inputs.map((i) => i.file);
    for (const source of ['../cli/main.ts', '../api/load.ts', '../planner/plan.ts', '../constructs/fleet.ts', '../sizing/estimate.ts', '../api/v1alpha1.schema.json']) {
      expect(files).toContain(source);
    }
  });
});
