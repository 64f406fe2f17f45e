import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aimGpu, copySpecs, readTree, ROOT, tempDir } from './run.ts';

// Every test starts the CLI (Node and tsx) one or more times; on a loaded 2-core machine a start alone takes over a second.
const CLI_RUNS = { timeout: 60_000 };

describe('aim-gpu command line', CLI_RUNS, () => {
  it('prints help for the tool and for every command, exit code 0', async () => {
    const top = await aimGpu(['--help']);
    expect(top.exitCode).toBe(0);
    for (const command of ['validate', 'plan', 'synth', 'explain', 'discover', 'profiles']) {
      expect(top.stdout).toContain(command);
      const help = await aimGpu([command, '--help']);
      expect(help.exitCode, command).toBe(0);
      expect(help.stdout).toContain(`Usage: npx aim-gpu ${command}`);
    }
  });

  it('fails with exit code 2 on an unknown command, an unknown option or a bad option value', async () => {
    expect((await aimGpu(['deploy'])).exitCode).toBe(2);
    const unknownOption = await aimGpu(['validate', '--spec', 'specs']);
    expect(unknownOption.exitCode).toBe(2);
    expect(unknownOption.stderr).toContain('unknown option --spec (did you mean --specs?)');
    const badFormat = await aimGpu(['plan', '--format', 'yaml']);
    expect(badFormat.exitCode).toBe(2);
    expect(badFormat.stderr).toContain('--format must be one of text, markdown, json, got "yaml"');
  });

  it('explains Llama-3.1-8B at bf16 with 128 KiB of KV cache per token', async () => {
    const result = await aimGpu(['explain', 'meta-llama/Llama-3.1-8B-Instruct', '--precision', 'bf16', '--format', 'json']);
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.kvBytesPerToken).toBe(131072);
    expect(report.weightsGiB).toBeGreaterThan(14.9);
    expect(report.totalGiB).toBeGreaterThan(report.weightsGiB + report.kvCacheGiB);
  });

  it('fails with exit code 1 and a suggestion on an unknown model', async () => {
    const result = await aimGpu(['explain', 'meta-llama/Llama-3.1-8B-Instruc']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('meta-llama/Llama-3.1-8B-Instruct');
  });

  it('validates the default specs', async () => {
    const result = await aimGpu(['validate']);
    expect(result.stderr).not.toContain(': error: ');
    expect(result.exitCode).toBe(0);
  });

  it('reports every problem of an invalid spec directory, positioned, with exit code 1', async () => {
    const result = await aimGpu(['validate', '--specs', 'test/fixtures/specs/bad/several-problems']);
    expect(result.exitCode).toBe(1);
    const errors = result.stderr.split('\n').filter((line) => line.includes(': error: '));
    expect(errors.length).toBeGreaterThan(1);
    for (const line of errors) expect(line).toMatch(/^test\/fixtures\/specs\/bad\/several-problems\/\S+\.yaml:\d+:\d+: error: /);
  });
});

describe('aim-gpu synth', CLI_RUNS, () => {
  it('writes the committed dist/ for the default specs, byte for byte', async () => {
    const out = tempDir('out');
    const result = await aimGpu(['synth', '--out', out]);
    expect(result.stderr).not.toContain(': error: ');
    expect(result.exitCode).toBe(0);
    expect(readTree(out)).toEqual(readTree(join(ROOT, 'dist')));
  });

  it('is deterministic and stable: a second run on its own output changes nothing', async () => {
    const out = tempDir('out');
    await aimGpu(['synth', '--out', out]);
    const first = readTree(out);
    await aimGpu(['synth', '--out', out]);
    expect(readTree(out)).toEqual(first);
  });

  it('writes the same bytes through `npx cdk8s synth`', async () => {
    const viaCli = tempDir('cli');
    const viaCdk8s = tempDir('cdk8s');
    await aimGpu(['synth', '--out', viaCli]);
    const { execa } = await import('execa');
    const cdk8s = await execa('npx', ['cdk8s', 'synth', '--no-check-upgrade'], { cwd: ROOT, reject: false, env: { AIM_GPU_OUT: viaCdk8s } });
    expect(cdk8s.exitCode, cdk8s.stderr).toBe(0);
    // It says what it wrote and where (the cdk8s CLI shows the app's stderr only).
    expect(cdk8s.stderr).toMatch(new RegExp(`^${viaCdk8s}: wrote \\d+ files; \\d+/\\d+ replicas on \\d+/\\d+ GPUs$`, 'm'));
    expect(readTree(viaCdk8s)).toEqual(readTree(viaCli));
  });

  it('fails with exit code 1 and leaves the previous output untouched when a spec is invalid', async () => {
    const specs = copySpecs();
    const models = join(specs, 'models.yaml');
    writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 4', 'replicas: -4'));
    const out = tempDir('out');
    expect((await aimGpu(['synth', '--out', out])).exitCode).toBe(0);
    const previous = readTree(out);
    const result = await aimGpu(['synth', '--specs', specs, '--out', out]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/models\.yaml:\d+:\d+: error: spec\.replicas: must be >= 0/);
    expect(readTree(out)).toEqual(previous);
  });

  it('fails with exit code 1 on unschedulable demand unless the Fleet allows it', async () => {
    const specs = copySpecs();
    const models = join(specs, 'models.yaml');
    writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 4', 'replicas: 100'));
    const out = tempDir('out');
    const refused = await aimGpu(['synth', '--specs', specs, '--out', out]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/models\.yaml:\d+:\d+: error: spec\.\w+: \d+ of \d+ replicas? of \S+ cannot be placed: out of capacity/);
    expect(existsSync(join(out, 'plan.jsonc'))).toBe(false);

    const fleet = join(specs, 'fleet.yaml');
    writeFileSync(fleet, readFileSync(fleet, 'utf8').replace('allowUnschedulable: false', 'allowUnschedulable: true'));
    const allowed = await aimGpu(['synth', '--specs', specs, '--out', out]);
    expect(allowed.exitCode).toBe(0);
    const plan = JSON.parse(readFileSync(join(out, 'plan.jsonc'), 'utf8'));
    expect(plan.unschedulable.length).toBeGreaterThan(0);
    expect(plan.summary.placed + plan.unschedulable.length).toBe(plan.summary.replicas);
  });
});

describe('aim-gpu plan', CLI_RUNS, () => {
  it('shows no change against the plan committed at HEAD', async () => {
    const result = await aimGpu(['plan', '--base', 'HEAD', '--format', 'json']);
    expect(result.exitCode).toBe(0);
    const { diff } = JSON.parse(result.stdout);
    expect(diff.changed).toBe(false);
    expect([...diff.plan.added, ...diff.plan.removed, ...diff.plan.moved, ...diff.plan.repartitioned, ...diff.files]).toEqual([]);
  });

  it('adds one replica without moving any other or repartitioning a node', async () => {
    const specs = copySpecs();
    const models = join(specs, 'models.yaml');
    writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 4', 'replicas: 5'));
    const result = await aimGpu(['plan', '--specs', specs, '--base', 'HEAD', '--format', 'json']);
    expect(result.exitCode).toBe(0);
    const { diff, plan } = JSON.parse(result.stdout);
    expect(diff.plan.added.map((a: { id: string }) => a.id)).toEqual(['llama-8b#4']);
    expect(diff.plan.moved).toEqual([]);
    expect(diff.plan.removed).toEqual([]);
    expect(diff.plan.repartitioned).toEqual([]);
    expect(diff.churn).toEqual({ replicaMoves: 0, profileChanges: 0 });
    expect(plan.summary.replicaMoves).toBe(0);
    expect(plan.summary.profileChanges).toBe(0);
  });

  it('renders the diff as markdown for a pull request', async () => {
    const specs = copySpecs();
    const models = join(specs, 'models.yaml');
    writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 4', 'replicas: 3'));
    const result = await aimGpu(['plan', '--specs', specs, '--base', 'HEAD', '--format', 'markdown']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('### aim-gpu plan: changes');
    expect(result.stdout).toMatch(/^- llama-8b#3 {2}from gpu-node-0\d\[\d+\.\d+\]$/m);
  });

  it('fails with exit code 1 and one line when the git ref does not exist', async () => {
    const result = await aimGpu(['plan', '--base', 'no-such-ref']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toBe('aim-gpu plan: error: cannot resolve --base no-such-ref: no such commit, branch or tag (try `git fetch`)');
  });
});

describe('aim-gpu validate on specs that load but cannot be served', CLI_RUNS, () => {
  it.each([
    {
      fixture: 'unknown-model',
      line: 'models.yaml:6:10: error: spec.model: unknown model "meta-llama/Llama-3.1-8B-Instruc"; add sizing/models/meta-llama__Llama-3.1-8B-Instruc.json or give spec.architecture or spec.memoryGiB (did you mean "meta-llama/Llama-3.1-8B-Instruct"?)',
    },
    {
      fixture: 'tp-not-dividing-heads',
      line: 'models.yaml:7:19: error: spec.tensorParallel: tensor parallelism 4 does not divide the 14 attention heads of Qwen/Qwen2.5-0.5B-Instruct',
    },
    {
      fixture: 'impossible-fit',
      line:
        'models.yaml:7:14: error: spec.precision: 1 of 1 replica of deepseek-v3 cannot be placed: never fits: no profile of pool mi300x has partitions of ≥ 238.96 GiB (largest: SPX-NPS1, 192 GiB × 0.94 given to vLLM); ' +
        'needs ≥ 238.96 GiB per rank at best (bf16, tensorParallel 8, 5% headroom included); ways out (each checked by planning with it): precision: fp8; maxModelLen ≤ 8192; concurrency ≤ 2',
    },
  ])('fails on $fixture with one positioned error and exit code 1', async ({ fixture, line }) => {
    const dir = `test/fixtures/specs/bad/${fixture}`;
    const result = await aimGpu(['validate', '--specs', dir]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.split('\n').filter((l) => l.includes(': error: '))).toEqual([`${dir}/${line}`]);
  });
});
