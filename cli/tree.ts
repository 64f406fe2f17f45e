import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { App } from 'cdk8s';
import { testPause } from './test-pause.ts';
import { toYaml } from './yaml.ts';

/** A rendered output tree: relative path → file content, in the order files are listed. */
export type Tree = ReadonlyMap<string, string>;

interface KubeObject {
  readonly kind: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

/**
 * One file per resource, `<chart id>/<namespace or cluster>/<kind>-<name>.yaml`: charts are the
 * GitOps stages, so a stage is a folder a Flux Kustomization or a reviewer can point at. Paths
 * carry no hashes or index prefixes, so they stay put as the fleet changes.
 */
function manifestPath(chart: string, object: KubeObject, name: string): string {
  return `${chart}/${object.metadata?.namespace ?? 'cluster'}/${object.kind.toLowerCase()}-${name}.yaml`;
}

/** Stage and namespace folders: chart ids and Kubernetes namespaces (DNS labels), or `cluster`. */
const FOLDER = /^[a-z0-9][a-z0-9.-]*$/;
/** `<kind>-<name>.yaml`; names may hold `:` (RBAC objects), never a leading dot. */
const MANIFEST = /^[a-z0-9][^/]*\.yaml$/;

/**
 * Whether a path below the output root can be one `manifestPath` gives (the plan files beside the
 * stage folders are compile.ts's): the shape of a tree this tool wrote, used to prove a directory
 * is safe to replace. `depth` is the number of segments of the path (1: a top-level entry),
 * `isDirectory` what it is on disk.
 */
export function isManifestEntry(name: string, depth: number, isDirectory: boolean): boolean {
  if (depth === 1) return isDirectory && FOLDER.test(name);
  if (depth === 2) return isDirectory && FOLDER.test(name);
  return depth === 3 && !isDirectory && MANIFEST.test(name);
}

export function renderManifests(app: App): Map<string, string> {
  const errors = app.node
    .findAll()
    .flatMap((construct) => construct.node.validate().map((error) => `[${construct.node.path}] ${error}`));
  if (errors.length > 0) throw new Error(`construct validation failed:\n  ${errors.join('\n  ')}`);

  const files = new Map<string, string>();
  for (const chart of app.charts) {
    for (const object of chart.toJson() as KubeObject[]) {
      const name = object.metadata?.name;
      if (!name) throw new Error(`[${chart.node.path}] a ${object.kind} has no metadata.name`);
      const path = manifestPath(chart.node.id, object, name);
      if (files.has(path)) throw new Error(`[${chart.node.path}] two objects would be written to ${path}`);
      files.set(path, toYaml(object));
    }
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The sibling names the writer uses next to `target` (same directory, so renames stay on one file
 * system). `.gitignore`'s `.dist-*` covers them for the default `dist`.
 */
export interface WorkPaths {
  readonly target: string;
  /** Being written; incomplete until renamed to `ready`. */
  readonly staging: string;
  /** Complete, waiting to be swapped in. */
  readonly ready: string;
  /** The previous tree, moved aside for the swap. */
  readonly old: string;
  readonly lock: string;
}

export function workPaths(target: string): WorkPaths {
  const base = join(dirname(target), `.${basename(target)}-aim-gpu`);
  return { target, staging: `${base}-staging`, ready: `${base}-ready`, old: `${base}-old`, lock: `${base}.lock` };
}

/**
 * Replaces the directory `target` (an absolute, resolved path) with the tree. The caller holds the
 * lock and has checked that `target` may be replaced, and has run `recoverWork`. Steps, each one
 * a rename but the first:
 *   1. write everything into `staging` (a kill here leaves the old tree; recovery deletes staging);
 *   2. `staging` → `ready` (complete from now on);
 *   3. `target` → `old`;  4. `ready` → `target`;  5. delete `old`.
 * Between 3 and 4 (two renames, microseconds apart; Node has no atomic exchange) `target` is
 * absent: recovery then finishes the swap with `ready`. So a kill at any instant leaves the old
 * tree or the new one, and the next run completes or discards what it left.
 */
export function writeTreeAtomically(target: string, tree: Tree): void {
  const work = workPaths(target);
  mkdirSync(dirname(target), { recursive: true });
  // mkdir's default mode under the umask (0755 usually), or the mode the user gave the old tree.
  mkdirSync(work.staging);
  if (existsSync(target)) chmodSync(work.staging, statSync(target).mode & 0o7777);
  let file = work.staging;
  try {
    let written = 0;
    for (const [path, content] of tree) {
      file = join(work.staging, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
      if (++written === Math.ceil(tree.size / 2)) testPause('staging');
    }
  } catch (error) {
    // A full disk or a permission error part-way: the old tree stands; free what was written.
    rmSync(work.staging, { recursive: true, force: true });
    // A failed write(2) names no path (Node reports the fd's syscall): name the file.
    if (error instanceof Error && !('path' in error)) Object.assign(error, { path: file });
    throw error;
  }
  renameSync(work.staging, work.ready);
  testPause('ready');
  try {
    if (existsSync(target)) renameSync(target, work.old);
  } catch (error) {
    // E.g. EBUSY (`target` is a mount point): the old tree stands; drop the new one.
    rmSync(work.ready, { recursive: true, force: true });
    throw error;
  }
  testPause('old');
  renameSync(work.ready, target);
  testPause('swapped');
  rmSync(work.old, { recursive: true, force: true });
}
