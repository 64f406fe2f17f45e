import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAimProfiles, isAimProfileFileName } from '../sizing/aim-profiles.ts';
import type { ModelCatalog } from '../sizing/model-catalog.ts';

/**
 * `aim-gpu profiles --out-dir DIR`: the AIM profiles on disk. Other files in DIR are the user's:
 * only a file named as a profile (`isAimProfileFileName`) is ever deleted, so `--out-dir .` in a
 * project leaves `package.json` alone. Each file is written to a temporary name and renamed over
 * the old one: a kill never leaves half a file, and a symlink at a profile's name is replaced,
 * not written through.
 */

/** Writes every profile into `dir` and deletes profile files no model/precision produces any more. */
export function writeAimProfiles(catalog: ModelCatalog, dir: string): number {
  const profiles = buildAimProfiles(catalog);
  mkdirSync(dir, { recursive: true });
  const wanted = new Set(profiles.map((p) => p.file));
  for (const name of readdirSync(dir)) {
    if (isAimProfileFileName(name) && !wanted.has(name) && lstatSync(join(dir, name)).isFile()) rmSync(join(dir, name));
  }
  for (const p of profiles) {
    const temporary = join(dir, `.${p.file}.${process.pid}.tmp`);
    writeFileSync(temporary, p.content);
    renameSync(temporary, join(dir, p.file));
  }
  return profiles.length;
}

/** Files of `dir` that differ from what the catalog generates: changed, missing or left over. */
export function staleAimProfiles(catalog: ModelCatalog, dir: string): string[] {
  const profiles = buildAimProfiles(catalog);
  const present = new Set(readdirSync(dir).filter((n) => n.endsWith('.json')));
  const stale = profiles
    .filter((p) => !present.has(p.file) || readFileSync(join(dir, p.file), 'utf8') !== p.content)
    .map((p) => p.file);
  const wanted = new Set(profiles.map((p) => p.file));
  return [...stale, ...[...present].filter((n) => !wanted.has(n))].sort();
}
