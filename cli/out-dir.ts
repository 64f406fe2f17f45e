import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { readBoundedFile } from '../api/read-file.ts';
import { OutputError } from './fs-errors.ts';
import { LEGACY_PLAN_FILE, PLAN_FILE, PLAN_MARKDOWN_FILE } from './compile.ts';
import { isManifestEntry, workPaths } from './tree.ts';

/** Files at the top of a tree besides the stage folders (the legacy plan.json of older releases too). */
const TOP_FILES: readonly string[] = [PLAN_FILE, LEGACY_PLAN_FILE, PLAN_MARKDOWN_FILE];

/**
 * Which directories `synth --out` may replace. The writer deletes only what it wrote: it replaces
 * a directory that is absent, empty, or a tree of its own (a plan of kind Plan and only the files
 * and folders the writer makes, see `isManifestEntry`), and refuses everything else with one
 * line: `/`, the home directory, the working directory and their ancestors, a file, the spec
 * directory and anything containing it or inside it, a directory holding `.git` or any file the
 * writer does not make.
 */

/** The directory to write: `out` resolved, through a symlink (the link stays a link). */
export function resolveOutDir(out: string): string {
  const stats = lstatOrUndefined(out);
  if (stats?.isSymbolicLink()) {
    try {
      return realpathSync(out);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error; // ELOOP and the like: one line
      throw new OutputError(`${out}: error: --out is a symlink to ${readlinkSync(out)}, which does not exist`);
    }
  }
  // The parent may itself be reached through symlinks: resolve it, so the comparisons below hold.
  const parent = dirname(resolve(out));
  return existsSync(parent) ? join(realpathSync(parent), basename(resolve(out))) : resolve(out);
}

/** Throws an OutputError when `target` (from `resolveOutDir`) may not be replaced. */
export function checkOutDir(out: string, target: string, specDir: string): void {
  const refuse = (why: string): never => {
    throw new OutputError(`${out}: error: refusing to write here: ${why}`);
  };
  const protectedDirs: [string, string][] = [
    ['the root directory', sep],
    ['the home directory', realOrResolved(homedir())],
    ['the working directory', realOrResolved(process.cwd())],
  ];
  for (const [what, dir] of protectedDirs) {
    if (target === dir) refuse(`it is ${what}`);
    if (contains(target, dir)) refuse(`it contains ${what}`);
  }
  const specs = realOrResolved(specDir);
  if (target === specs) refuse('it is the spec directory');
  if (contains(target, specs)) refuse(`it contains the spec directory ${specDir}`);
  if (contains(specs, target)) refuse(`it is inside the spec directory ${specDir}`);

  const stats = lstatOrUndefined(target);
  if (stats === undefined) return;
  if (!stats.isDirectory()) refuse('it is not a directory');
  const entries = readdirSync(target);
  if (entries.length === 0) return;
  if (entries.includes('.git')) refuse('it holds .git (a git work tree)');
  const foreign = foreignEntry(target);
  if (foreign !== undefined) refuse(`${foreign} (only an absent or empty directory, or one aim-gpu wrote, is replaced)`);
}

/**
 * Why `dir` is not a tree the writer made (`it holds x.txt, which aim-gpu did not write`: the
 * first entry that does not fit), or undefined when every entry fits the tree's shape and
 * `plan.json` (when `requirePlan`) is a Plan. Symlinks never fit.
 */
export function foreignEntry(dir: string, requirePlan = true): string | undefined {
  const walk = (path: string, depth: number): string | undefined => {
    for (const name of readdirSync(path).sort()) {
      const child = join(path, name);
      const stats = lstatSync(child);
      const isDirectory = stats.isDirectory();
      const fits = depth === 1 && stats.isFile() ? TOP_FILES.includes(name) : isManifestEntry(name, depth, isDirectory);
      if (!(isDirectory || stats.isFile()) || !fits) {
        return `it holds ${relative(dir, child)}, which aim-gpu did not write`;
      }
      if (isDirectory) {
        const inner = walk(child, depth + 1);
        if (inner !== undefined) return inner;
      }
    }
    return undefined;
  };
  const found = walk(dir, 1);
  if (found !== undefined || !requirePlan) return found;
  const hasPlan = [PLAN_FILE, LEGACY_PLAN_FILE].some((name) => isPlanFile(join(dir, name)));
  return hasPlan ? undefined : `it has no ${PLAN_FILE} of kind Plan, so aim-gpu did not write it`;
}

/** Largest plan file read; a fleet of a thousand 8-GPU CPX nodes writes about 10 MiB. */
export const MAX_PLAN_BYTES = 64 * 1024 * 1024;

/**
 * Whether the file is a plan this tool wrote: the top-level `apiVersion` and `kind` lines as
 * `JSON.stringify(plan, null, 2)` writes them. A textual test, so a plan with git conflict
 * markers still proves the tree is ours (and is then replaced, see previous-plan.ts).
 */
function isPlanFile(file: string): boolean {
  let read;
  try {
    read = readBoundedFile(file, MAX_PLAN_BYTES);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return false;
    throw error;
  }
  if (!('text' in read)) return false;
  return /^ {2}"apiVersion": "gpusharing\.aim\/v1alpha1",$/m.test(read.text) && /^ {2}"kind": "Plan",$/m.test(read.text);
}

/**
 * Finishes or discards what a killed run left next to `target` (see `writeTreeAtomically`): an
 * incomplete staging tree is deleted; a complete one is swapped in when `target` is missing; the
 * moved-aside old tree is put back when there is nothing to swap in, and deleted otherwise. Each
 * is checked to have the tree's shape before it is deleted. The caller holds the lock.
 */
export function recoverWork(out: string, target: string): void {
  const work = workPaths(target);
  discard(out, work.staging);
  if (existsSync(work.old) && !existsSync(target)) renameSync(existsSync(work.ready) ? work.ready : work.old, target);
  discard(out, work.old);
  discard(out, work.ready);
}

function discard(out: string, dir: string): void {
  const stats = lstatOrUndefined(dir);
  if (stats === undefined) return;
  const foreign = stats.isDirectory() ? foreignEntry(dir, false) : 'it is not a directory';
  if (foreign !== undefined) throw new OutputError(`${out}: error: cannot clear ${dir}: ${foreign}; move it away and run again`);
  rmSync(dir, { recursive: true, force: true });
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw error;
  }
}

function realOrResolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** Whether `inner` lies strictly inside `outer` (both absolute and normalized). */
function contains(outer: string, inner: string): boolean {
  const rel = relative(outer, inner);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}
