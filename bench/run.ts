/**
 * `npm run bench [-- --quick]`: the planner benchmark (quality against the lower bound and the
 * HiGHS optimum, planning time, churn) and the synth benchmark (stages, output size, wall time).
 */
import { execa } from 'execa';
import { join } from 'node:path';

const extra = process.argv.slice(2);
for (const bench of ['planner.ts', 'synth.ts']) {
  console.log(`\n=== bench/${bench} ===\n`);
  await execa('node', ['--import', 'tsx', join(import.meta.dirname, bench), ...extra], { stdio: 'inherit' });
}
