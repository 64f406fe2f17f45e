import fc from 'fast-check';
import { hasErrors, sortDiagnostics } from '../../api/diagnostics.ts';
import type { LoadResult, SpecText } from '../../api/load.ts';

/**
 * Mutations of valid spec files for fuzzing the loader, shared by the fuzz test (a few hundred
 * cases in `npm test`) and `bench/fuzz-specs.ts` (ten thousand). A mutation works on the text as a
 * user or an attacker would write it; an encoding then turns the text into what the loader reads
 * from disk as UTF-8.
 */

export type Mutation = (text: string) => string;

function onLine(text: string, index: number, change: (line: string) => string[]): string {
  const lines = text.split('\n');
  const at = index % lines.length;
  lines.splice(at, 1, ...change(lines[at]!));
  return lines.join('\n');
}

const setValue = (line: string, value: string) => line.replace(/:(\s.*)?$/, `: ${value}`);
const lineIndex = fc.nat();

/** A YAML scalar of any type, numbers at their limits, strings with control and invisible characters. */
const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -1e6, max: 1e6 }).map(String),
  fc.double({ noNaN: false }).map(String),
  fc.constantFrom('null', '~', 'true', 'no', '[]', '{}', '[1, a]', '{a: 1}', '!!binary aGk=', '"', "'", '- x', '.inf', '.nan'),
  fc.constantFrom('1000000000', '9007199254740993', '1e308', '1e-400', '5e-324', '-0', '0x1F', '0o17', '1_000', '150001', '1e6'),
  fc
    .string({ unit: fc.constantFrom('\\0', '\\n', '\\t', '\\r', '\\e', '\\x07', '\\u202E', '\\u2028', '\\uFEFF', 'é', '\u{1F600}', '\u0301', 'a', '/', ':', '@'), maxLength: 6 })
    .map((body) => `"x${body}"`),
);

const nesting = fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.boolean()).map(([depth, flowMap]) =>
  flowMap ? `${'{a: '.repeat(depth)}1${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`,
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // Deleted keys and lines.
  lineIndex.map((i): Mutation => (text) => onLine(text, i, () => [])),
  // Swapped types, huge numbers, hostile strings.
  fc.tuple(lineIndex, scalar).map(([i, value]): Mutation => (text) => onLine(text, i, (line) => [setValue(line, value)])),
  // Renamed keys.
  fc.tuple(lineIndex, fc.string({ maxLength: 12 })).map(([i, key]): Mutation => (text) => onLine(text, i, (line) => [line.replace(/^(\s*)[^:\s]+:/, `$1${key}:`)])),
  // Shifted indentation.
  fc.tuple(lineIndex, fc.integer({ min: -2, max: 2 })).map(([i, shift]): Mutation => (text) =>
    onLine(text, i, (line) => [shift >= 0 ? ' '.repeat(shift) + line : line.slice(-shift)]),
  ),
  // Duplicated lines (duplicate keys).
  lineIndex.map((i): Mutation => (text) => onLine(text, i, (line) => [line, line])),
  // Deep nesting in flow or block style.
  fc.tuple(lineIndex, nesting).map(([i, value]): Mutation => (text) => onLine(text, i, (line) => [setValue(line, value)])),
  fc.tuple(lineIndex, fc.integer({ min: 1, max: 200 })).map(([i, depth]): Mutation => (text) =>
    onLine(text, i, (line) => [line.replace(/:(\s.*)?$/, ':'), ...Array.from({ length: depth }, (_, d) => `${' '.repeat(2 * d + 2)}k:`), `${' '.repeat(2 * depth + 2)}v: 1`]),
  ),
  // Anchors and aliases, merge keys (YAML 1.1 and 1.2).
  fc.tuple(lineIndex, lineIndex).map(([a, b]): Mutation => (text) =>
    onLine(onLine(text, a, (line) => [line.replace(/:\s+(\S.*)$/, ': &anchor $1')]), b, (line) => [setValue(line, '*anchor')]),
  ),
  fc.tuple(lineIndex, fc.constantFrom('<<: *anchor', '<<: {replicas: 3}', '<<: [*anchor]', '"<<": x')).map(([i, merge]): Mutation => (text) =>
    onLine(text, i, (line) => [line, `${/^\s*/.exec(line)![0]}${merge}`]),
  ),
  fc.constant<Mutation>((text) => `%YAML 1.1\n---\n${text}`),
  // Raw bytes anywhere.
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 8 })).map(([n, bytes]): Mutation => (text) => {
    const at = n % (text.length + 1);
    return text.slice(0, at) + bytes + text.slice(at);
  }),
);

/** How the file reaches the loader: the text as saved on disk, then read back as UTF-8. */
export const encoding: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Mutation>((text) => text) },
  fc.nat().map((n): Mutation => (text) => text.slice(0, n % (text.length + 1))),
  fc.constant<Mutation>((text) => `\ufeff${text}`),
  fc.constant<Mutation>((text) => text.replace(/\n/g, '\r\n')),
  fc.constant<Mutation>((text) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]).toString('utf8')),
  fc.constant<Mutation>((text) => Buffer.from(text, 'utf16le').swap16().toString('utf8')),
  fc.nat().map((n): Mutation => (text) => {
    const bytes = Buffer.from(text, 'utf8');
    const at = n % (bytes.length + 1);
    return Buffer.concat([bytes.subarray(0, at), Buffer.from([0xc3, 0x28, 0xff]), bytes.subarray(at)]).toString('utf8');
  }),
);

/** Files with one of them mutated (1 to 3 mutations, then an encoding). */
export function mutatedSpecs(base: readonly SpecText[]): fc.Arbitrary<SpecText[]> {
  return fc
    .tuple(fc.nat({ max: base.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), encoding)
    .map(([target, mutations, encode]) =>
      base.map((f, i) => (i === target ? { ...f, text: encode(mutations.reduce((text, m) => m(text), f.text)) } : f)),
    );
}

/**
 * What must hold of any load result: every diagnostic is positioned inside its file and says
 * something, none leaks an internal (a symbol, a stack overflow), the order is stable, and a spec
 * comes back exactly when there is no error. Returns the violations, empty when all hold.
 */
export function loadViolations(files: readonly SpecText[], result: LoadResult): string[] {
  const lineCounts = new Map(files.map((f) => [f.file, f.text.split(/\r\n|\r|\n/).length]));
  const violations: string[] = [];
  for (const d of result.diagnostics) {
    const lines = lineCounts.get(d.file);
    const positioned = lines !== undefined && Number.isInteger(d.line) && d.line >= 1 && d.line <= lines && Number.isInteger(d.col) && d.col >= 1;
    if (!positioned) violations.push(`unpositioned: ${d.file}:${d.line}:${d.col}: ${d.message}`);
    if (d.message === '') violations.push(`empty message at ${d.file}:${d.line}:${d.col}`);
    if (/Symbol\(|call stack|RangeError|TypeError|undefined is not/i.test(d.message)) violations.push(`internal leak: ${d.message}`);
  }
  const sorted = sortDiagnostics(result.diagnostics);
  if (sorted.some((d, i) => d !== result.diagnostics[i])) violations.push('diagnostics not sorted');
  if ((result.spec !== undefined) === hasErrors(result.diagnostics)) violations.push('a spec together with errors, or neither');
  return violations;
}
