import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { aimGpu, copySpecs, readTree, ROOT, tempDir } from './run.ts';

// Issue 7, point 2: a kill at any instant leaves the old tree or the new one, the next run
// recovers what a killed run left, and two runs on one --out never corrupt it. Real processes,
// real SIGKILLs: at the writer's named pause points (AIM_GPU_TEST_PAUSE, cli/test-pause.ts) and
// after arbitrary delays.

const CLI_RUNS = { timeout: 300_000 };
const BIN = join(ROOT, 'cli', 'bin.js');

let oldTree: string; // the --out every case starts from (3 replicas of llama-8b)
let expectedNew: Map<string, string>; // what an uninterrupted run makes of it with the default specs
const SPECS = join(ROOT, 'specs');

/** A fresh copy of the old tree, in a directory of its own (the writer's siblings land there too). */
function oldCopy(): { base: string; out: string } {
  const base = tempDir('interrupt');
  cpSync(oldTree, join(base, 'out'), { recursive: true });
  return { base, out: join(base, 'out') };
}

function start(out: string, env: Record<string, string> = {}): ResultPromise<{ reject: false; env: Record<string, string> }> {
  return execa('node', [BIN, 'synth', '--specs', SPECS, '--out', out], { cwd: ROOT, reject: false, env });
}

/** Resolves when the process prints that it paused (or rejects when it exits first). */
function paused(run: ResultPromise, point: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    run.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(`aim-gpu: paused at ${point}`)) resolve();
    });
    run.then((r) => reject(new Error(`exited ${r.exitCode} before pausing at ${point}: ${r.stderr}`)), reject);
  });
}

/** The writer's leftovers next to `out`. */
function leftovers(base: string): string[] {
  return readdirSync(base).filter((name) => name !== 'out');
}

beforeAll(async () => {
  const specs = copySpecs();
  const models = join(specs, 'models.yaml');
  writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 4', 'replicas: 3'));
  oldTree = join(tempDir('old'), 'out');
  const old = await aimGpu(['synth', '--specs', specs, '--out', oldTree]);
  expect(old.exitCode, old.stderr).toBe(0);
  const reference = oldCopy();
  const fresh = await start(reference.out);
  expect(fresh.exitCode, fresh.stderr).toBe(0);
  expectedNew = readTree(reference.out);
  expect(expectedNew).not.toEqual(readTree(oldTree));
}, 120_000);

describe('synth killed at any instant', CLI_RUNS, () => {
  it.each([
    // point, what --out holds right after the kill
    ['locked', 'old'],
    ['staging', 'old'],
    ['ready', 'old'],
    ['old', 'absent'], // between the two renames: the complete new tree waits in .out-aim-gpu-ready
    ['swapped', 'new'],
  ])('killed at %s leaves the %s tree, and the next run recovers', async (point, state) => {
    const { base, out } = oldCopy();
    const run = start(out, { AIM_GPU_TEST_PAUSE: point });
    await paused(run, point);
    run.kill('SIGKILL');
    const killed = await run;
    expect(killed.signal).toBe('SIGKILL');

    if (state === 'old') expect(readTree(out)).toEqual(readTree(oldTree));
    if (state === 'new') expect(readTree(out)).toEqual(expectedNew);
    if (state === 'absent') {
      expect(existsSync(out)).toBe(false);
      expect(readTree(join(base, '.out-aim-gpu-ready'))).toEqual(expectedNew);
    }
    expect(leftovers(base).length).toBeGreaterThan(0); // the lock at least

    const next = await start(out);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(readTree(out)).toEqual(expectedNew);
    expect(leftovers(base)).toEqual([]);
  });

  it('killed after arbitrary delays, always leaves the old or the new tree (or the swap to finish), and recovers', async () => {
    for (const delayMs of [600, 1500, 2500]) {
      const { base, out } = oldCopy();
      const run = start(out);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      run.kill('SIGKILL');
      await run;
      const now = existsSync(out) ? readTree(out) : undefined;
      if (now === undefined) expect(readTree(join(base, '.out-aim-gpu-ready')), `${delayMs} ms`).toEqual(expectedNew);
      else expect([readTree(oldTree), expectedNew], `${delayMs} ms`).toContainEqual(now);
      const next = await start(out);
      expect(next.exitCode, next.stderr).toBe(0);
      expect(readTree(out)).toEqual(expectedNew);
      expect(leftovers(base)).toEqual([]);
    }
  });
});

describe('two synth runs on one --out', CLI_RUNS, () => {
  it('the second fails at once naming the first while it runs, and takes over its lock once it was killed', async () => {
    const { base, out } = oldCopy();
    const first = start(out, { AIM_GPU_TEST_PAUSE: 'locked' });
    await paused(first, 'locked');
    const second = await start(out);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`${out}: error: another aim-gpu synth (pid ${first.pid}) is writing it`);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    expect(readTree(out)).toEqual(readTree(oldTree));
    first.kill('SIGKILL');
    await first;
    const third = await start(out);
    expect(third.exitCode, third.stderr).toBe(0);
    expect(readTree(out)).toEqual(expectedNew);
    expect(leftovers(base)).toEqual([]);
  });

  it('started together, each succeeds or fails clearly, and the tree is the new one', async () => {
    const { base, out } = oldCopy();
    const results = await Promise.all([start(out), start(out), start(out)]);
    for (const r of results) {
      if (r.exitCode !== 0) expect(r.stderr).toMatch(/another aim-gpu synth \(pid \d+\) is writing it/);
    }
    expect(results.some((r) => r.exitCode === 0)).toBe(true);
    expect(readTree(out)).toEqual(expectedNew);
    expect(leftovers(base)).toEqual([]);
  });
});
