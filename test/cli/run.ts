import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { execa } from 'execa';

export const ROOT = join(import.meta.dirname, '..', '..');

/** Runs the CLI as users do (`cli/bin.js`), from the project root (or `cwd`). */
export function aimGpu(args: readonly string[], env: Record<string, string> = {}, cwd = ROOT) {
  return execa('node', [join(ROOT, 'cli', 'bin.js'), ...args], { cwd, reject: false, env });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `aim-gpu-${prefix}-`));
}

/** Every file under `dir` (relative path → content), sorted by path. */
export function readTree(dir: string): Map<string, string> {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(dir);
  return new Map(files.sort().map((f) => [relative(dir, f), readFileSync(f, 'utf8')]));
}

/** A copy of a spec directory the test may change. */
export function copySpecs(from = join(ROOT, 'specs')): string {
  const dir = tempDir('specs');
  cpSync(from, dir, { recursive: true });
  return dir;
}
