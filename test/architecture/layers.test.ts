import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** The pipeline's layers, bottom first; a module may import only from its own layer or lower ones. */
const LAYERS = ['hardware', 'api', 'sizing', 'planner', 'constructs', 'review', 'cli'] as const;

const ROOT = path.resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

/** Top-level folders a file's relative imports (static, dynamic, re-exports) reach. */
function importedLayers(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => m[1]!);
  return specifiers.map((s) => path.relative(ROOT, path.resolve(ROOT, path.dirname(file), s)).split(path.sep)[0]!);
}

describe('layers point down the pipeline', () => {
  for (const [rank, layer] of LAYERS.entries()) {
    it(`${layer}/ imports nothing from the layers above it`, () => {
      const above = new Set<string>(LAYERS.slice(rank + 1));
      const upward = sourceFiles(layer).flatMap((file) => importedLayers(file).filter((l) => above.has(l)).map((l) => `${file} -> ${l}/`));
      expect(upward).toEqual([]);
    });
  }

  it('the check sees imports: sizing/ reaches hardware/ and api/', () => {
    const reached = new Set(sourceFiles('sizing').flatMap(importedLayers));
    expect(reached.has('hardware')).toBe(true);
    expect(reached.has('api')).toBe(true);
  });
});
