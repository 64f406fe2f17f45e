/**
 * Bundles the CLI into `.build/aim-gpu.mjs` (run by `npm ci`/`npm install` through `prepare`).
 * Running the TypeScript sources through tsx costs about a second of start-up; the bundle starts in
 * a fraction of that. It is only a cache: `cli/bin.js` uses it while every source file it was built
 * from is unchanged (`.build/inputs.json` records their sizes and modification times) and runs the
 * sources otherwise. `.build/` sits one level below the project root, like every source folder, so
 * paths written `new URL('../sizing/…', import.meta.url)` resolve the same from the bundle.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

export const BUILD_DIR = '.build';

export async function buildCli(root: string, outDir = join(root, BUILD_DIR)): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(root, 'cli', 'run.ts')],
    outfile: join(outDir, 'aim-gpu.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs)
    .map((input) => resolve(input))
    .sort()
    .map((file) => {
      const stat = statSync(file);
      return { file: relative(outDir, file), size: stat.size, mtimeMs: stat.mtimeMs };
    });
  writeFileSync(join(outDir, 'inputs.json'), JSON.stringify(inputs) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) await buildCli(resolve(import.meta.dirname, '..'));
