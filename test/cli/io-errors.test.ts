import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSpecDir } from '../../api/load.ts';
import { planReview } from '../../cli/plan-review.ts';
import { parsePlan } from '../../cli/previous-plan.ts';
import { aimGpu, copySpecs, readTree, ROOT, tempDir } from './run.ts';

// Issue 7, point 2: every I/O error is one line naming the path, exit 1, never a stack trace; a
// plan file that is not a plan is a positioned warning. Spec-side cases run in process; output
// cases run the CLI. EROFS, ENOSPC and EBUSY need a tmpfs mount (root with CAP_SYS_ADMIN): they
// are skipped, saying so, where mounting is not allowed.

const CLI_RUNS = { timeout: 180_000 };
const BIN = join(ROOT, 'cli', 'bin.js');
const STACK = /\n\s+at /;

const errorLines = (stderr: string) => stderr.split('\n').filter((line) => line.includes(': error: '));

describe('spec files the loader cannot read', () => {
  it('reports each as one positioned error, without blocking or reading past the limit', async () => {
    const specs = copySpecs();
    await execa('mkfifo', [join(specs, 'fifo.yaml')]); // opening it for reading would block
    symlinkSync('/dev/zero', join(specs, 'zero.yaml')); // reading it would never end
    symlinkSync(join(specs, 'nowhere.yaml'), join(specs, 'dangling.yaml'));
    symlinkSync('loop-b.yaml', join(specs, 'loop-a.yaml'));
    symlinkSync('loop-a.yaml', join(specs, 'loop-b.yaml'));
    mkdirSync(join(specs, 'folder.yaml'));
    writeFileSync(join(specs, 'huge.yaml'), 'x'.repeat(1024 * 1024 + 1));
    const lines = loadSpecDir(specs).diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}`);
    expect(lines).toEqual([
      `${specs}/dangling.yaml:1:1: cannot read: is a symlink to ${specs}/nowhere.yaml, which does not exist (ENOENT, open)`,
      `${specs}/fifo.yaml:1:1: is a FIFO (named pipe), not a spec file`,
      `${specs}/folder.yaml:1:1: is a directory, not a spec file`,
      `${specs}/huge.yaml:1:1: file is 1048577 bytes, over the limit of 1048576 bytes (1 MiB) for a spec file`,
      `${specs}/loop-a.yaml:1:1: cannot read: too many symbolic links encountered (ELOOP, open)`,
      `${specs}/loop-b.yaml:1:1: cannot read: too many symbolic links encountered (ELOOP, open)`,
      `${specs}/zero.yaml:1:1: is a device, not a spec file`,
    ]);
  });
});

/** Runs the CLI as a user the file modes apply to (root ignores them): nobody when we are root. */
function asUnprivileged(args: readonly string[], cwd = ROOT) {
  const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  return execa('node', [BIN, ...args], { cwd, reject: false, env: { HOME: '/tmp' }, ...user });
}

/** A temp dir the unprivileged user can enter. */
function openDir(prefix: string): string {
  const dir = tempDir(prefix);
  chmodSync(dir, 0o755);
  return dir;
}

/** Root can drop to nobody only where nobody can read the project (a clone under /root cannot be). */
const canRunUnprivileged = (await asUnprivileged(['--version'])).exitCode === 0;

describe.skipIf(!canRunUnprivileged)('permission denied (skipped where the unprivileged user cannot read the project)', CLI_RUNS, () => {
  it('on a spec file: one positioned error, exit 1 (it was a stack trace)', async () => {
    const specs = openDir('specs');
    cpSync(join(ROOT, 'specs'), specs, { recursive: true });
    chmodSync(join(specs, 'models.yaml'), 0o000);
    const result = await asUnprivileged(['validate', '--specs', specs]);
    expect(result.exitCode).toBe(1);
    expect(errorLines(result.stderr)).toEqual([`${specs}/models.yaml:1:1: error: cannot read: permission denied (EACCES, open)`]);
    expect(result.stderr).not.toMatch(STACK);
  });

  it('on the output directory: one line naming the path, exit 1, nothing written', async () => {
    const locked = openDir('locked'); // 0755, owned by another user than the run's (or 0555)
    if (process.getuid?.() !== 0) chmodSync(locked, 0o555);
    const result = await asUnprivileged(['synth', '--specs', join(ROOT, 'specs'), '--out', join(locked, 'out')]);
    expect(result.exitCode).toBe(1);
    expect(errorLines(result.stderr)).toEqual([`${locked}/.out-aim-gpu.lock: error: permission denied (EACCES, open)`]);
    expect(result.stderr).not.toMatch(STACK);
    expect(readTree(locked).size).toBe(0);
  });
});

describe('hostile --out', CLI_RUNS, () => {
  it('a symlink loop, a FIFO, a path through a file: one line each, exit 1', async () => {
    const base = tempDir('hostile');
    symlinkSync('b', join(base, 'a'));
    symlinkSync('a', join(base, 'b'));
    await execa('mkfifo', [join(base, 'fifo')]);
    const cases: [string, string][] = [
      [join(base, 'a'), `${join(base, 'a')}: error: too many symbolic links encountered (ELOOP, stat)`],
      [join(base, 'fifo'), `${join(base, 'fifo')}: error: refusing to write here: it is not a directory`],
      [join(ROOT, 'package.json', 'out'), `${join(ROOT, 'package.json', 'out')}: error: not a directory (ENOTDIR, lstat)`],
    ];
    for (const [out, line] of cases) {
      const result = await aimGpu(['synth', '--out', out]);
      expect(result.exitCode, out).toBe(1);
      expect(errorLines(result.stderr), out).toEqual([line]);
      expect(result.stderr).not.toMatch(STACK);
    }
  });

  it('a plan file with git conflict markers: a positioned warning, and synth rewrites it', async () => {
    const out = join(tempDir('conflict'), 'out');
    expect((await aimGpu(['synth', '--out', out])).exitCode).toBe(0);
    const plan = join(out, 'plan.jsonc');
    const lines = readFileSync(plan, 'utf8').split('\n');
    lines.splice(5, 0, '<<<<<<< HEAD', '      "pool": "a",', '=======', '      "pool": "b",', '>>>>>>> feature');
    writeFileSync(plan, lines.join('\n'));
    const result = await aimGpu(['synth', '--out', out]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(`${plan}:6:1: warning: holds git merge conflict markers; planning from scratch`);
    expect(readTree(out)).toEqual(readTree(join(ROOT, 'dist')));
  });
});

describe('a previous plan that is not a plan', () => {
  const dist = readFileSync(join(ROOT, 'dist', 'plan.jsonc'), 'utf8');
  it.each([
    ['conflict markers', dist.replace('"nodes": [', '"nodes": [\n=======\n'), /^f:\d+:1: warning: holds git merge conflict markers/],
    ['truncated JSON', dist.slice(0, 200), /^f:\d+:\d+: warning: is not valid JSON/],
    ['empty', '', /^f:1:1: warning: is not valid JSON/],
    ['another kind', '{"apiVersion": "gpusharing.aim/v1alpha1", "kind": "Fleet"}', /warning: is not a plan: kind: expected "Plan"/],
    ['a wrong type deep inside', dist.replace('"partitions": [', '"partitions": 7, "x": ['), /warning: is not a plan: nodes\[0\]\.gpus\[0\]\.partitions: expected an array/],
    ['a partition reference out of range', dist.replace(/"gpu": 0,\n(\s+)"partition": 0/, '"gpu": 99,\n$1"partition": 0'), /warning: is not a plan: replicas\[\d+\]\.partitions\[0\]: node \S+ has no partition 99\.0/],
  ])('%s: a positioned warning, planning from scratch', (_, text, message) => {
    const parsed = parsePlan('f', text);
    expect(parsed.plan).toBeUndefined();
    expect(parsed.diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`)).toEqual([expect.stringMatching(message)]);
  });

  it('is planned against without a crash when its shape is right but its values are nonsense', async () => {
    const nonsense = dist.replaceAll('"CPX"', '"ZPX"').replaceAll('"MI300X"', '"MI999"').replaceAll('"bf16"', '"fp4"');
    const parsed = parsePlan('f', nonsense);
    expect(parsed.diagnostics).toEqual([]);
    const review = await planReview(join(ROOT, 'specs'), new Map([['plan.jsonc', nonsense]]), () => {}, 'HEAD:dist');
    expect(review.result.compiled?.plan.summary.placed).toBe(review.result.compiled?.plan.summary.replicas);
  });

  it('at --base: the review warns and plans from scratch', async () => {
    const review = await planReview(join(ROOT, 'specs'), new Map([['plan.jsonc', '<<<<<<< HEAD\n{}\n']]), () => {}, 'HEAD:dist');
    expect(review.result.diagnostics.map((d) => `${d.file}:${d.line}: ${d.message}`)).toContainEqual(
      expect.stringMatching(/^HEAD:dist\/plan\.jsonc:1: holds git merge conflict markers/),
    );
    expect(review.result.compiled).toBeDefined();
  });
});

describe('discover --from reads a bounded amount', CLI_RUNS, () => {
  it('refuses /dev/zero after 16 MiB, reads a pipe', async () => {
    const zero = await aimGpu(['discover', '--from', '/dev/zero', '--node', 'n1']);
    expect(zero.exitCode).toBe(1);
    expect(zero.stderr.trim()).toBe('aim-gpu discover: error: cannot read /dev/zero: more than 16777216 bytes, too much for amd-smi output');
    const fixture = join(ROOT, 'test', 'fixtures', 'amd-smi', 'mi300x-cpx-list.json');
    const piped = await execa('bash', ['-c', `node ${BIN} discover --from <(cat ${fixture}) --node n1`], { cwd: ROOT, reject: false });
    expect(piped.exitCode, piped.stderr).toBe(0);
    expect(piped.stdout).toContain('gpu: MI300X');
  });
});

// --- Full, read-only and busy file systems: tmpfs mounts (root only) ---

const mounts: string[] = [];
async function mountTmpfs(dir: string, options: string): Promise<boolean> {
  mkdirSync(dir, { recursive: true });
  const mounted = await execa('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { reject: false });
  if (mounted.exitCode === 0) mounts.push(dir);
  return mounted.exitCode === 0;
}
afterAll(async () => {
  for (const dir of mounts.reverse()) await execa('umount', ['-l', dir], { reject: false });
});
const canMount = await (async () => {
  if (process.getuid?.() !== 0) return false;
  const probe = join(tempDir('probe'), 'mnt');
  const ok = await mountTmpfs(probe, 'size=16k');
  if (ok) {
    await execa('umount', [probe], { reject: false });
    mounts.pop();
    rmSync(probe, { recursive: true, force: true });
  }
  return ok;
})();

describe.skipIf(!canMount)('full, read-only and busy file systems (tmpfs; skipped where mounting is not allowed)', CLI_RUNS, () => {
  it('ENOSPC: one line, the output absent as before, no staging left behind', async () => {
    const disk = join(tempDir('full'), 'disk');
    expect(await mountTmpfs(disk, 'size=32k')).toBe(true);
    const result = await aimGpu(['synth', '--out', join(disk, 'out')]);
    expect(result.exitCode).toBe(1);
    expect(errorLines(result.stderr)).toEqual([expect.stringMatching(new RegExp(`^${disk}/\\.out-aim-gpu-staging/\\S+: error: no space left on device \\(ENOSPC, write\\)$`))]);
    expect(result.stderr).not.toMatch(STACK);
    expect(readTree(disk).size).toBe(0);
  });

  it('EROFS: one line, the old tree untouched', async () => {
    const disk = join(tempDir('readonly'), 'disk');
    expect(await mountTmpfs(disk, 'size=4m')).toBe(true);
    const out = join(disk, 'out');
    expect((await aimGpu(['synth', '--out', out])).exitCode).toBe(0);
    const before = readTree(out);
    expect((await execa('mount', ['-o', 'remount,ro', disk], { reject: false })).exitCode).toBe(0);
    const result = await aimGpu(['synth', '--out', out]);
    expect(result.exitCode).toBe(1);
    expect(errorLines(result.stderr)).toEqual([`${disk}/.out-aim-gpu.lock: error: read-only file system (EROFS, open)`]);
    expect(readTree(out)).toEqual(before);
  });

  it('EBUSY: --out is a mount point; one line, the old tree untouched, nothing left beside it', async () => {
    const base = tempDir('busy');
    const out = join(base, 'out');
    expect(await mountTmpfs(out, 'size=4m')).toBe(true);
    const result = await aimGpu(['synth', '--out', out]);
    expect(result.exitCode).toBe(1);
    expect(errorLines(result.stderr)).toEqual([`${out} -> ${base}/.out-aim-gpu-old: error: resource busy or locked (EBUSY, rename)`]);
    expect(result.stderr).not.toMatch(STACK);
    expect(readTree(out).size).toBe(0);
    expect(readdirSync(base)).toEqual(['out']);
  });
});
