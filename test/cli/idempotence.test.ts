import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { aimGpu, copySpecs, readTree, ROOT, tempDir } from './run.ts';

const CLI_RUNS = { timeout: 120_000 };

/** A variant of the default specs that moves replicas: llama-8b becomes critical and grows. */
function movingSpecs(): string {
  const specs = copySpecs();
  const models = join(specs, 'models.yaml');
  writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 4', 'replicas: 6'));
  return specs;
}

describe('synth is a function of the specs and the base plan', CLI_RUNS, () => {
  it('leaves the churn figures out of committed files', () => {
    const plan = JSON.parse(readFileSync(join(ROOT, 'dist', 'plan.jsonc'), 'utf8'));
    expect(Object.keys(plan.summary)).not.toContain('replicaMoves');
    expect(Object.keys(plan.summary)).not.toContain('profileChanges');
    expect(readFileSync(join(ROOT, 'dist', 'plan.md'), 'utf8')).not.toMatch(/previous plan|moved/);
  });

  it('writes byte-identical files on a second run, from an output that held another plan', async () => {
    const out = tempDir('out');
    expect((await aimGpu(['synth', movingSpecs(), '--out', out])).exitCode).toBe(0);
    expect((await aimGpu(['synth', '--out', out])).exitCode).toBe(0);
    const first = readTree(out);
    expect((await aimGpu(['synth', '--out', out])).exitCode).toBe(0);
    expect(readTree(out)).toEqual(first);
  });
});

describe('synth --check', CLI_RUNS, () => {
  it('passes on the committed dist/ and writes nothing', async () => {
    const before = readTree(join(ROOT, 'dist'));
    const result = await aimGpu(['synth', '--check']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^dist: up to date \(\d+ files; /m);
    expect(readTree(join(ROOT, 'dist'))).toEqual(before);
  });

  it('fails after a spec edit, listing the files that would be added, changed and removed, and writes nothing', async () => {
    const out = tempDir('out');
    cpSync(join(ROOT, 'dist'), out, { recursive: true });
    writeFileSync(join(out, 'stray.yaml'), 'kind: Stray\n');
    const before = readTree(out);
    const specs = copySpecs();
    const models = join(specs, 'models.yaml');
    // Remove the model r1-distill-14b: its InferenceService and Service go, the plan changes.
    const text = readFileSync(models, 'utf8');
    const start = text.indexOf('---\napiVersion: gpusharing.aim/v1alpha1\nkind: Model\nmetadata:\n  name: r1-distill-14b');
    const end = text.indexOf('---', start + 3);
    writeFileSync(models, text.slice(0, start) + text.slice(end));
    const result = await aimGpu(['synth', specs, '--out', out, '--check']);
    expect(result.exitCode).toBe(1);
    const lines = result.stderr.split('\n');
    expect(lines).toContain(`changed  ${join(out, 'plan.jsonc')}`);
    expect(lines).toContain(`removed  ${join(out, 'serving/aim-models/service-r1-distill-14b.yaml')}`);
    expect(lines).toContain(`removed  ${join(out, 'stray.yaml')}`);
    expect(result.stderr).toMatch(new RegExp(`^${out}: stale, \\d+ files would change; run \`npx aim-gpu synth\` and commit ${out}/$`, 'm'));
    expect(readTree(out)).toEqual(before);

    const added = await aimGpu(['synth', '--out', tempDir('empty'), '--check']);
    expect(added.exitCode).toBe(1);
    expect(added.stderr).toMatch(/^added {4}\S+\/plan\.jsonc$/m);
  });
});

describe('plan --base on a shallow clone', CLI_RUNS, () => {
  it('says in one line that the base was not fetched, exit code 1', async () => {
    const origin = tempDir('origin');
    for (const entry of ['specs', 'dist']) cpSync(join(ROOT, entry), join(origin, entry), { recursive: true });
    const git = (args: string[], cwd = origin) =>
      execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd });
    await git(['init', '-q', '-b', 'main']);
    await git(['add', '.']);
    await git(['commit', '-qm', 'base']);
    await git(['checkout', '-qb', 'feature']);
    await git(['commit', '-q', '--allow-empty', '-m', 'change']);
    const clone = tempDir('clone');
    await execa('git', ['clone', '-q', '--depth', '1', '--single-branch', '--branch', 'feature', `file://${origin}`, clone]);
    const result = await aimGpu(['plan', '--base', 'origin/main'], {}, clone);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'aim-gpu plan: error: cannot resolve --base origin/main: this clone is shallow; fetch the base first (`git fetch --depth=1 origin <branch>`), or check out with full history (actions/checkout `fetch-depth: 0`)',
    ]);
    // After fetching the base it works.
    await execa('git', ['fetch', '-q', '--depth=1', 'origin', 'main:refs/remotes/origin/main'], { cwd: clone });
    const fetched = await aimGpu(['plan', '--base', 'origin/main', '--exit-code'], {}, clone);
    expect(fetched.stderr).not.toContain(': error: ');
    expect(fetched.exitCode).toBe(0);
  });
});

/**
 * The files `kubectl apply -R -f dist/` reads: every file under the folder whose extension is
 * .json, .yaml or .yml (kubectl's resource builder, FileExtensions), each document of which must
 * be a Kubernetes object.
 */
function kubectlFiles(dir: string): string[] {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (['.json', '.yaml', '.yml'].includes(extname(path))) files.push(path);
    }
  };
  walk(dir);
  return files;
}

describe('kubectl apply -R -f dist/', () => {
  it('reads only Kubernetes objects', () => {
    const files = kubectlFiles(join(ROOT, 'dist'));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        const object = doc.toJS();
        expect(object?.apiVersion, file).toMatch(/^([a-z0-9.-]+\/)?v\d/);
        expect(object?.kind, file).toMatch(/^[A-Z]/);
        expect(object?.metadata?.name, file).toBeTruthy();
        expect(object.apiVersion, file).not.toBe('gpusharing.aim/v1alpha1');
      }
    }
  });
});
