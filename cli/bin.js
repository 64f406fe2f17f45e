#!/usr/bin/env node
// The `aim-gpu` command. Runs the bundle `npm ci` built (`.build/aim-gpu.mjs`, see scripts/build-cli.ts)
// while the sources it was built from are unchanged, and the TypeScript sources through tsx otherwise.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const buildDir = join(import.meta.dirname, '..', '.build');

function bundleIsFresh() {
  if (process.env.AIM_GPU_FROM_SOURCES === '1') return false;
  try {
    const inputs = JSON.parse(readFileSync(join(buildDir, 'inputs.json'), 'utf8'));
    return inputs.every(({ file, size, mtimeMs }) => {
      const stat = statSync(join(buildDir, file));
      return stat.size === size && stat.mtimeMs === mtimeMs;
    });
  } catch {
    return false;
  }
}

if (bundleIsFresh()) {
  await import(pathToFileURL(join(buildDir, 'aim-gpu.mjs')).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./run.ts');
}
