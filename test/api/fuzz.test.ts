import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSpecTexts } from '../../api/load.ts';
import { loadViolations, mutatedSpecs } from '../support/spec-mutations.ts';
import { FIXTURES } from './helpers.ts';

/** The valid fixture files, which every run starts from before mutating one of them. */
const base = ['fleet.yaml', 'pools.yaml', 'models.yaml'].map((name) => ({
  file: `specs/${name}`,
  text: readFileSync(path.join(FIXTURES, 'good', name), 'utf8'),
}));

// 300 cases here; `node --import tsx bench/fuzz-specs.ts` runs 10,000 and the rest of validate and synth.
describe('loadSpecTexts on mutated specs', () => {
  it('never throws, positions every diagnostic, and returns a spec exactly when there is no error', () => {
    fc.assert(
      fc.property(mutatedSpecs(base), (files) => {
        expect(loadViolations(files, loadSpecTexts(files))).toEqual([]);
      }),
      { numRuns: 300, seed: 1066 },
    );
  });
});
