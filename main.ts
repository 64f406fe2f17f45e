// The cdk8s app (`npm run synth`, i.e. `cdk8s synth --no-check-upgrade`): the same compile and atomic
// write as `npx aim-gpu synth` on the defaults, under the same rules for what it may replace (README,
// "Where aim-gpu writes").
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ioErrorLine } from './cli/fs-errors.ts';
import { main } from './cli/main.ts';

// AIM_GPU_OUT lets tests compare this entry point with `aim-gpu synth --out` without touching dist/.
const out = process.env.AIM_GPU_OUT ?? 'dist';
const scratch = process.env.CDK8S_OUTDIR;
// The cdk8s CLI shows the app's stderr but not its stdout: under it, the summary of what was
// written goes to stderr, so the user sees where dist/ went.
const streams = scratch ? { out: process.stderr, err: process.stderr } : undefined;
process.exitCode = await main(['synth', '--specs', 'specs', '--out', out], streams);

// The cdk8s CLI empties its output directory before running the app, which would break the
// atomic-write promise for dist/, so cdk8s.yaml points it at a scratch directory; the CLI expects
// to find something there.
if (process.exitCode === 0 && scratch && resolve(scratch) !== resolve(out)) {
  try {
    mkdirSync(scratch, { recursive: true });
    writeFileSync(join(scratch, 'README.yaml'), `# aim-gpu writes the manifests to ${out}/ (atomically); this directory is scratch for the cdk8s CLI.\n`);
  } catch (error) {
    const line = ioErrorLine(error);
    if (line === undefined) throw error;
    process.stderr.write(`${line}\n`);
    process.exitCode = 1;
  }
}
