import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { execa } from 'execa';
import type { Files } from '../review/files.ts';
import { LEGACY_PLAN_FILE, PLAN_FILE } from './compile.ts';
import { parsePlan, readPlanFile, type PreviousPlan } from './previous-plan.ts';
import { CliError } from './usage.ts';


/**
 * Bounds of an output tree read for `plan` and `synth --check`. Ours is a few thousand small files
 * (the synth bench's largest fleet writes 2,068 files, 4.5 MiB); past these the directory is not
 * an aim-gpu output and reading on (`--out /`) would walk the whole file system.
 */
export const OUTPUT_TREE_LIMITS = { files: 50_000, bytes: 256 * 1024 * 1024 } as const;

/**
 * Every regular file under `dir` (empty when it does not exist), sorted by path. Symlinks, FIFOs and
 * devices are skipped (never followed, never opened); a tree past OUTPUT_TREE_LIMITS is an error.
 */
export function readOutputTree(dir: string, limits: { files: number; bytes: number } = OUTPUT_TREE_LIMITS): Files {
  const files = new Map<string, string>();
  if (!existsSync(dir)) return files;
  let bytes = 0;
  const tooBig = () => new CliError(`${dir}: more than ${limits.files} files or ${limits.bytes / 1024 / 1024} MiB; not an aim-gpu output tree`);
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        bytes += statSync(path).size;
        if (files.size >= limits.files || bytes > limits.bytes) throw tooBig();
        files.set(relative(dir, path).split(sep).join('/'), readFileSync(path, 'utf8'));
      }
    }
  };
  walk(dir);
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The plan in an output tree (the legacy `plan.json` of older releases too), if any; `where` names
 * the tree in messages (`dist`, `origin/main:dist`). One that is not a plan is a warning (previous-plan.ts).
 */
export function planInTree(files: Files, where: string): PreviousPlan {
  for (const name of [PLAN_FILE, LEGACY_PLAN_FILE]) {
    const text = files.get(name);
    if (text !== undefined) return parsePlan(join(where, name), text);
  }
  return { diagnostics: [] };
}

/** The plan last written to `out`: the previous plan that keeps unchanged replicas in place. */
export function planIn(out: string): PreviousPlan {
  for (const name of [PLAN_FILE, LEGACY_PLAN_FILE]) {
    const file = join(out, name);
    if (existsSync(file)) return readPlanFile(file);
  }
  return { diagnostics: [] };
}

async function git(args: readonly string[], input?: string) {
  return execa('git', [...args], { reject: false, encoding: 'buffer', ...(input !== undefined && { input }) });
}

/**
 * Why `ref` does not name a commit, in one line the user can act on. The usual cause in CI is a
 * shallow checkout (actions/checkout fetches one commit unless `fetch-depth: 0`), where
 * `origin/main` was never fetched.
 */
async function unresolvedRef(ref: string): Promise<CliError> {
  const shallow = await git(['rev-parse', '--is-shallow-repository']);
  if (shallow.exitCode !== 0) return new CliError(`cannot resolve --base ${ref}: not inside a git repository`);
  if (Buffer.from(shallow.stdout).toString().trim() === 'true') {
    return new CliError(
      `cannot resolve --base ${ref}: this clone is shallow; fetch the base first (\`git fetch --depth=1 origin <branch>\`), ` +
        'or check out with full history (actions/checkout `fetch-depth: 0`)',
    );
  }
  return new CliError(`cannot resolve --base ${ref}: no such commit, branch or tag (try \`git fetch\`)`);
}

/**
 * The output tree committed at `ref` under `out` (relative to the current directory): empty when
 * the ref has no such folder. One `git ls-tree` and one `git cat-file --batch`, however many files.
 */
export async function treeAtRef(ref: string, out: string): Promise<Files> {
  const commit = await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  if (commit.exitCode !== 0) throw await unresolvedRef(ref);
  const sha = Buffer.from(commit.stdout).toString().trim();
  const prefix = `./${relative('.', out).split(sep).join('/')}/`;
  const listed = await git(['ls-tree', '-r', '-z', '--full-name', sha, '--', prefix]);
  if (listed.exitCode !== 0) throw new CliError(`cannot list ${out}/ at ${ref}: ${Buffer.from(listed.stderr).toString().trim()}`);
  const top = Buffer.from((await git(['rev-parse', '--show-prefix'])).stdout).toString().trim();
  const root = `${top}${prefix.slice(2)}`;
  const entries = Buffer.from(listed.stdout)
    .toString()
    .split('\0')
    .filter((line) => line.includes(' blob '))
    .map((line) => {
      const [meta, path] = line.split('\t') as [string, string];
      return { blob: meta.split(' ')[2]!, path: path.slice(root.length) };
    });
  const files = new Map<string, string>();
  if (entries.length === 0) return files;
  const batch = Buffer.from((await git(['cat-file', '--batch'], entries.map((e) => e.blob).join('\n') + '\n')).stdout);
  let at = 0;
  for (const entry of entries) {
    const headerEnd = batch.indexOf(0x0a, at);
    const size = Number(batch.subarray(at, headerEnd).toString().split(' ')[2]);
    files.set(entry.path, batch.subarray(headerEnd + 1, headerEnd + 1 + size).toString('utf8'));
    at = headerEnd + 1 + size + 1;
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
