import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { App } from 'cdk8s';
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
      const path = `${chart.node.id}/${object.metadata?.namespace ?? 'cluster'}/${object.kind.toLowerCase()}-${name}.yaml`;
      if (files.has(path)) throw new Error(`[${chart.node.path}] two objects would be written to ${path}`);
      files.set(path, toYaml(object));
    }
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Replaces `outDir` with the tree. Everything is written to a sibling staging directory first and
 * swapped in with renames, so a failure part-way leaves the previous output as it was.
 */
export function writeTreeAtomically(outDir: string, tree: Tree): void {
  const target = resolve(outDir);
  mkdirSync(dirname(target), { recursive: true });
  const staging = mkdtempSync(join(dirname(target), `.${basename(target)}-next-`));
  try {
    for (const [path, content] of tree) {
      const file = join(staging, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  const previous = `${staging}-previous`;
  if (existsSync(target)) renameSync(target, previous);
  renameSync(staging, target);
  rmSync(previous, { recursive: true, force: true });
}
