import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasErrors, sortDiagnostics } from '../../api/diagnostics.ts';
import { loadSpecTexts } from '../../api/load.ts';
import { FIXTURES } from './helpers.ts';

/** The valid fixture files, which every run starts from before mutating one of them. */
const base = ['fleet.yaml', 'pools.yaml', 'models.yaml'].map((name) => ({
  file: `specs/${name}`,
  text: readFileSync(path.join(FIXTURES, 'good', name), 'utf8'),
}));

type Mutation = (text: string) => string;

const lineIndex = fc.nat();
const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -1e6, max: 1e6 }).map(String),
  fc.double({ noNaN: false }).map(String),
  fc.constantFrom('null', '~', 'true', 'no', '[]', '{}', '[1, a]', '{a: 1}', '&x 1', '*x', '!!binary aGk=', '"', "'", '- x', '.inf'),
);

function onLine(text: string, index: number, change: (line: string) => string[]): string {
  const lines = text.split('\n');
  const at = index % lines.length;
  lines.splice(at, 1, ...change(lines[at]!));
  return lines.join('\n');
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  lineIndex.map((i): Mutation => (text) => onLine(text, i, () => [])),
  fc.tuple(lineIndex, scalar).map(([i, value]): Mutation => (text) => onLine(text, i, (line) => [line.replace(/:(\s.*)?$/, `: ${value}`)])),
  fc.tuple(lineIndex, fc.string({ maxLength: 12 })).map(([i, key]): Mutation => (text) => onLine(text, i, (line) => [line.replace(/^(\s*)[^:\s]+:/, `$1${key}:`)])),
  fc.tuple(lineIndex, fc.integer({ min: -2, max: 2 })).map(([i, shift]): Mutation => (text) =>
    onLine(text, i, (line) => [shift >= 0 ? ' '.repeat(shift) + line : line.slice(-shift)]),
  ),
  lineIndex.map((i): Mutation => (text) => onLine(text, i, (line) => [line, line])),
  fc.nat().map((n): Mutation => (text) => text.slice(0, n % (text.length + 1))),
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 8 })).map(([n, bytes]): Mutation => (text) => {
    const at = n % (text.length + 1);
    return text.slice(0, at) + bytes + text.slice(at);
  }),
);

describe('loadSpecTexts on mutated specs', () => {
  it('never throws, positions every diagnostic, and returns a spec exactly when there is no error', () => {
    fc.assert(
      fc.property(fc.nat({ max: base.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), (target, mutations) => {
        const files = base.map((f, i) => (i === target ? { ...f, text: mutations.reduce((text, m) => m(text), f.text) } : f));
        const lineCounts = new Map(files.map((f) => [f.file, f.text.split('\n').length]));
        const result = loadSpecTexts(files);
        const unpositioned = result.diagnostics.filter((d) => {
          const lines = lineCounts.get(d.file);
          const lineOk = lines !== undefined && Number.isInteger(d.line) && d.line >= 1 && d.line <= lines;
          return !lineOk || !Number.isInteger(d.col) || d.col < 1 || d.message === '';
        });
        expect(unpositioned).toEqual([]);
        expect(result.diagnostics).toEqual(sortDiagnostics(result.diagnostics));
        expect(result.spec !== undefined).toBe(!hasErrors(result.diagnostics));
      }),
      { numRuns: 300, seed: 1066 },
    );
  });
});
