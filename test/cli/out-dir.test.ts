import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { OutputError } from '../../cli/fs-errors.ts';
import { checkOutDir, resolveOutDir } from '../../cli/out-dir.ts';
import { aimGpu, copySpecs, readTree, ROOT, tempDir } from './run.ts';

// Issue 7: `synth --out .` deleted a git repository, `--out DIR` a home-like directory, `--out specs`
// the specs it had read, `profiles --out-dir .` package.json. The writer now replaces only an
// absent or empty directory or a tree it wrote.

const CLI_RUNS = { timeout: 120_000 };
const SPECS = join(ROOT, 'specs');

/** The refusal for `out`, or undefined when it may be replaced. Checks only: never writes. */
function refusal(out: string, specDir = SPECS): string | undefined {
  try {
    checkOutDir(out, resolveOutDir(out), specDir);
    return undefined;
  } catch (error) {
    if (error instanceof OutputError) return error.message;
    throw error;
  }
}

/** A directory with the shape of a tree aim-gpu wrote. */
function ownTree(dir: string, plan = '{\n  "apiVersion": "gpusharing.aim/v1alpha1",\n  "kind": "Plan",\n  "nodes": []\n}\n'): string {
  mkdirSync(join(dir, 'serving', 'aim-models'), { recursive: true });
  writeFileSync(join(dir, 'serving', 'aim-models', 'service-llama.yaml'), 'kind: Service\n');
  writeFileSync(join(dir, 'plan.jsonc'), plan);
  writeFileSync(join(dir, 'plan.md'), '# plan\n');
  return dir;
}

describe('which directories synth --out may replace', () => {
  it('accepts an absent, an empty and its own directory', () => {
    const base = tempDir('outdir');
    expect(refusal(join(base, 'absent'))).toBeUndefined();
    mkdirSync(join(base, 'empty'));
    expect(refusal(join(base, 'empty'))).toBeUndefined();
    expect(refusal(ownTree(join(base, 'own')))).toBeUndefined();
  });

  it('accepts its own tree whose plan.json has git conflict markers (the run rewrites it)', () => {
    const plan = '{\n  "apiVersion": "gpusharing.aim/v1alpha1",\n  "kind": "Plan",\n<<<<<<< HEAD\n  "nodes": []\n=======\n  "nodes": [1]\n>>>>>>> other\n}\n';
    expect(refusal(ownTree(join(tempDir('outdir'), 'own'), plan))).toBeUndefined();
  });

  it.each([
    ['.', 'it is the working directory'],
    ['..', 'it contains the working directory'],
    ['/', 'it is the root directory'],
    [homedir(), 'it is the home directory'],
    ['package.json', 'it is not a directory'],
    ['specs', 'it is the spec directory'],
    ['specs/generated', 'it is inside the spec directory'],
  ])('refuses %s: %s', (out, why) => {
    expect(refusal(out)).toContain(`refusing to write here: ${why}`);
  });

  it('refuses a directory containing the spec directory', () => {
    const base = tempDir('outdir');
    mkdirSync(join(base, 'specs'));
    expect(refusal(base, join(base, 'specs'))).toContain('it contains the spec directory');
  });

  it('refuses a directory holding .git, a dotfile, a foreign file, a symlink or a tree without a Plan', () => {
    const cases: [string, (dir: string) => void, string][] = [
      ['git', (d) => mkdirSync(join(d, '.git')), 'it holds .git'],
      ['home', (d) => (mkdirSync(join(d, '.ssh')), writeFileSync(join(d, '.bashrc'), '')), 'it holds .bashrc'],
      ['foreign', (d) => (ownTree(d), writeFileSync(join(d, 'serving', 'notes.txt'), '')), 'it holds serving/notes.txt'],
      ['deep', (d) => (ownTree(d), writeFileSync(join(d, 'serving', 'aim-models', 'x.json'), '')), 'it holds serving/aim-models/x.json'],
      ['link', (d) => (ownTree(d), symlinkSync('/etc/passwd', join(d, 'serving', 'aim-models', 'x.yaml'))), 'it holds serving/aim-models/x.yaml'],
      ['kustomize', (d) => (ownTree(d), writeFileSync(join(d, 'plan.jsonc'), '{"kind": "Kustomization"}\n')), 'it has no plan.jsonc of kind Plan'],
      ['noplan', (d) => (mkdirSync(join(d, 'base', 'apps'), { recursive: true }), writeFileSync(join(d, 'base', 'apps', 'deployment-x.yaml'), '')), 'it has no plan.jsonc of kind Plan'],
    ];
    for (const [name, make, why] of cases) {
      const dir = join(tempDir('outdir'), name);
      mkdirSync(dir);
      make(dir);
      expect(refusal(dir), name).toContain(why);
    }
  });

  it('refuses a dangling symlink and follows one to a directory', () => {
    const base = tempDir('outdir');
    symlinkSync(join(base, 'nowhere'), join(base, 'dangling'));
    expect(refusal(join(base, 'dangling'))).toContain('is a symlink to');
    symlinkSync(ownTree(join(base, 'real')), join(base, 'link'));
    expect(resolveOutDir(join(base, 'link'))).toBe(join(base, 'real'));
    expect(refusal(join(base, 'link'))).toBeUndefined();
  });
});

describe('synth --out and profiles --out-dir leave what they did not write', CLI_RUNS, () => {
  it('refuses --out . in a git work tree and --out on a home-like directory, changing nothing', async () => {
    const repo = tempDir('repo');
    mkdirSync(join(repo, '.git'));
    writeFileSync(join(repo, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(repo, 'README.md'), 'mine\n');
    const before = readTree(repo);
    const dot = await execa('node', [join(ROOT, 'cli', 'bin.js'), 'synth', '--specs', SPECS, '--out', '.'], { cwd: repo, reject: false });
    expect(dot.exitCode).toBe(1);
    expect(dot.stderr).toContain('.: error: refusing to write here: it is the working directory');
    expect(dot.stderr).not.toMatch(/\n\s+at /);
    expect(readTree(repo)).toEqual(before);

    const home = tempDir('home');
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.ssh', 'id_ed25519'), 'key\n');
    const result = await aimGpu(['synth', '--out', home]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`${home}: error: refusing to write here: it holds .ssh`);
    expect(readFileSync(join(home, '.ssh', 'id_ed25519'), 'utf8')).toBe('key\n');
  });

  it('refuses --out on the spec directory, leaving the specs as they were', async () => {
    const specs = copySpecs();
    const before = readTree(specs);
    const result = await aimGpu(['synth', '--specs', specs, '--out', specs]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('it is the spec directory');
    expect(readTree(specs)).toEqual(before);
  });

  it('keeps the directory mode and a symlinked --out a symlink', async () => {
    const base = tempDir('modes');
    const fresh = join(base, 'fresh');
    expect((await aimGpu(['synth', '--out', fresh])).exitCode).toBe(0);
    expect(statSync(fresh).mode & 0o777).toBe(0o777 & ~process.umask());
    chmodSync(fresh, 0o750);
    symlinkSync(fresh, join(base, 'link'));
    const result = await aimGpu(['synth', '--out', join(base, 'link')]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(lstatSync(join(base, 'link')).isSymbolicLink()).toBe(true);
    expect(statSync(fresh).mode & 0o777).toBe(0o750);
    expect(readTree(join(base, 'link'))).toEqual(readTree(join(ROOT, 'dist')));
    expect(readdirSync(base).sort()).toEqual(['fresh', 'link']);
  });

  it('profiles --out-dir . deletes only stale profile files, never package.json or tsconfig.json', async () => {
    const project = tempDir('project');
    writeFileSync(join(project, 'package.json'), '{"name": "mine"}\n');
    writeFileSync(join(project, 'tsconfig.json'), '{}\n');
    writeFileSync(join(project, 'retired_model-fp16.json'), '{}\n');
    const result = await execa('node', [join(ROOT, 'cli', 'bin.js'), 'profiles', '--out-dir', '.'], { cwd: project, reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(readFileSync(join(project, 'package.json'), 'utf8')).toBe('{"name": "mine"}\n');
    expect(existsSync(join(project, 'tsconfig.json'))).toBe(true);
    expect(existsSync(join(project, 'retired_model-fp16.json'))).toBe(false);
    expect(readTree(project).get('meta-llama_Llama-3.1-8B-Instruct-fp16.json')).toBe(readFileSync(join(ROOT, 'aim_profiles', 'meta-llama_Llama-3.1-8B-Instruct-fp16.json'), 'utf8'));
  });
});
