// The cdk8s app (`npx cdk8s synth`): the same compile and atomic write as `npx aim-gpu synth` on the defaults.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { main } from './cli/main.ts';

// AIM_GPU_OUT lets tests compare this entry point with `aim-gpu synth --out` without touching dist/.
const out = process.env.AIM_GPU_OUT ?? 'dist';
process.exitCode = await main(['synth', '--specs', 'specs', '--out', out]);

// The cdk8s CLI empties its output directory before running the app, which would break the
// atomic-write promise for dist/, so cdk8s.yaml points it at a scratch directory; the CLI expects
// to find something there.
const scratch = process.env.CDK8S_OUTDIR;
if (process.exitCode === 0 && scratch && resolve(scratch) !== resolve(out)) {
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(scratch, 'README.yaml'), `# aim-gpu writes the manifests to ${out}/ (atomically); this directory is scratch for the cdk8s CLI.\n`);
}
