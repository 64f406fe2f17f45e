/**
 * `node --import tsx bench/fuzz-specs.ts [--runs N] [--seed S] [--synth-sample K]`: fuzzes the spec
 * loader with N (default 10,000) mutated copies of the default specs (test/support/spec-mutations.ts:
 * deleted keys, swapped types, deep nesting, huge numbers, control and invisible characters,
 * aliases, merge keys; truncated files, BOM, UTF-16, CRLF, invalid UTF-8).
 *
 * Each case must load without throwing, in bounded time, with every rejection positioned in its
 * file (`loadViolations`). Up to K accepted cases (default 200) also go through the rest of
 * `validate` and `synth` (sizing checks, planning, the constructs): a spec the loader and the
 * sizing checks accept must synthesize, or `validate` missed something `synth` refuses.
 * Prints the counts and exits 1 on any violation. Not part of `npm test` (which runs 300 cases).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { hasErrors } from '../api/diagnostics.ts';
import { loadSpecTexts, type SpecText } from '../api/load.ts';
import { renderDist } from '../cli/compile.ts';
import { planFleet, poolCapacity } from '../planner/plan.ts';
import { checkModels } from '../sizing/check.ts';
import { sizeDemands } from '../sizing/demand.ts';
import { loadModelCatalog } from '../sizing/model-catalog.ts';
import { loadViolations, mutatedSpecs } from '../test/support/spec-mutations.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '20261129' },
    'synth-sample': { type: 'string', default: '200' },
  },
});
const runs = Number(values.runs);
const seed = Number(values.seed);
const synthSample = Number(values['synth-sample']);
/** A case slower than this is a failure: the loader's work must not grow with what a file asks for. */
const CASE_LIMIT_MS = 2_000;

const root = join(import.meta.dirname, '..');
const base: SpecText[] = ['fleet.yaml', 'pools.yaml', 'models.yaml'].map((name) => ({
  file: `specs/${name}`,
  text: readFileSync(join(root, 'specs', name), 'utf8'),
}));
const catalog = loadModelCatalog();

const counts = { cases: 0, rejected: 0, accepted: 0, sizingRejected: 0, synthesized: 0, crashes: 0, violations: 0, slow: 0 };
const failures: string[] = [];
const times: number[] = [];
const fail = (kind: keyof typeof counts, index: number, message: string) => {
  counts[kind]++;
  if (failures.length < 20) failures.push(`case ${index} (seed ${seed}): ${message}`);
};

/** The rest of `validate` and `synth` after the loader: sizing checks, planning, the constructs. */
async function synthesize(spec: NonNullable<ReturnType<typeof loadSpecTexts>['spec']>): Promise<'sizing' | 'ok'> {
  if (hasErrors(checkModels(spec, catalog.models))) return 'sizing';
  const demands = sizeDemands(spec, catalog.models);
  const { planning } = spec.fleet.spec;
  const plan = await planFleet({
    pools: spec.pools.map(poolCapacity),
    demands: demands.map((d) => d.demand),
    headroomPercent: planning.headroomPercent,
    optimizer: 'heuristic',
    timeLimitSeconds: planning.timeLimitSeconds,
  });
  const sized = new Map(demands.map((d) => [d.demand.model, d]));
  renderDist({
    spec,
    plan,
    maxModelLen: new Map(demands.map((d) => [d.demand.model, d.maxModelLen])),
    engineFlags: (model, precision) => sized.get(model)!.engineFlags(precision),
  });
  return 'ok';
}

const started = Date.now();
const cases = fc.sample(mutatedSpecs(base), { numRuns: runs, seed });
for (const [index, files] of cases.entries()) {
  counts.cases++;
  const t0 = performance.now();
  let result;
  try {
    result = loadSpecTexts(files);
  } catch (error) {
    fail('crashes', index, `loader threw ${(error as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
    continue;
  }
  const ms = performance.now() - t0;
  times.push(ms);
  if (ms > CASE_LIMIT_MS) fail('slow', index, `took ${ms.toFixed(0)} ms`);
  const violations = loadViolations(files, result);
  if (violations.length > 0) fail('violations', index, violations.slice(0, 3).join('; '));
  if (!result.spec) {
    counts.rejected++;
    continue;
  }
  counts.accepted++;
  if (counts.accepted > synthSample) continue;
  try {
    if ((await synthesize(result.spec)) === 'sizing') counts.sizingRejected++;
    else counts.synthesized++;
  } catch (error) {
    fail('crashes', index, `validate passed, synth threw: ${(error as Error).message.split('\n')[0]}`);
  }
}

times.sort((a, b) => a - b);
const pct = (p: number) => (times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] ?? 0).toFixed(1);
console.log(`fuzz-specs: ${counts.cases} cases (seed ${seed}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`  rejected by the loader, every diagnostic positioned: ${counts.rejected}`);
console.log(`  accepted by the loader: ${counts.accepted}; of the first ${Math.min(synthSample, counts.accepted)}: ${counts.sizingRejected} rejected by the sizing checks, ${counts.synthesized} synthesized`);
console.log(`  crashes: ${counts.crashes}, unpositioned or leaking diagnostics: ${counts.violations}, over ${CASE_LIMIT_MS} ms: ${counts.slow}`);
console.log(`  load time per case: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${pct(100)} ms`);
for (const failure of failures) console.log(`  FAIL ${failure}`);
process.exitCode = counts.crashes + counts.violations + counts.slow > 0 ? 1 : 0;
