import { readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { diagnostic } from '../api/diagnostics.ts';
import { editDistance } from '../api/suggest.ts';
import type { Diagnostic, SourceLocation } from '../api/types.ts';
import type { ModelInfo } from './types.ts';

/**
 * The model catalog: one JSON file per model under `sizing/models/`, checked against
 * `sizing/model.schema.json`. A user adds a model by adding a file.
 */

export type ModelCatalog = ReadonlyMap<string, ModelInfo>;

// Paths go through the project root (`../sizing/…`) so the bundled CLI in `.build/`, one level deep
// like this folder, finds the same files.
export const MODELS_DIR = fileURLToPath(new URL('../sizing/models/', import.meta.url));
const SCHEMA_FILE = fileURLToPath(new URL('../sizing/model.schema.json', import.meta.url));
const SCHEMA_REF = '../model.schema.json';

/** `meta-llama/Llama-3.1-8B-Instruct` → `meta-llama__Llama-3.1-8B-Instruct.json`. */
export function modelFileName(id: string): string {
  return `${id.replace('/', '__')}.json`;
}

/** A catalog file's text: the schema reference, then the fields in ModelInfo order. */
export function serializeModelFile(model: ModelInfo): string {
  return `${JSON.stringify({ $schema: SCHEMA_REF, ...model }, null, 2)}\n`;
}

export function loadModelCatalog(dir: string = MODELS_DIR): { models: ModelCatalog; diagnostics: Diagnostic[] } {
  const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile<ModelInfo>(
    JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')),
  );
  const diagnostics: Diagnostic[] = [];
  const byId = new Map<string, { model: ModelInfo; file: string }>();
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const file = displayPath(join(dir, name));
    const text = readFileSync(join(dir, name), 'utf8');
    const parsed = parseModelFile(text, file);
    if ('error' in parsed) {
      diagnostics.push(parsed.error);
      continue;
    }
    if (!validate(parsed.value)) {
      diagnostics.push(...(validate.errors ?? []).map((e) => schemaDiagnostic(e, parsed.locate)));
      continue;
    }
    const { $schema: _schemaRef, ...model } = parsed.value as ModelInfo & { $schema?: string };
    const problems = consistencyProblems(model);
    diagnostics.push(...problems.map(([path, message]) => diagnostic(parsed.locate(path), 'error', path, message)));
    if (problems.length > 0) continue;
    const previous = byId.get(model.id);
    if (previous) {
      diagnostics.push(diagnostic(parsed.locate('id'), 'error', 'id', `duplicate model id "${model.id}", also defined in ${previous.file}`));
      continue;
    }
    byId.set(model.id, { model, file });
  }
  const ids = [...byId.keys()].sort();
  return { models: new Map(ids.map((id) => [id, byId.get(id)!.model])), diagnostics };
}

/** Cross-field rules a JSON Schema cannot state. Each problem is [field path, message]. */
function consistencyProblems(m: ModelInfo): [string, string][] {
  const problems: [string, string][] = [];
  if (m.kvLayers > m.numHiddenLayers) problems.push(['kvLayers', `${m.kvLayers} exceeds the ${m.numHiddenLayers} layers`]);
  if (!m.mla && m.numAttentionHeads % m.numKeyValueHeads !== 0) {
    problems.push(['numKeyValueHeads', `${m.numKeyValueHeads} key-value heads do not divide the ${m.numAttentionHeads} attention heads`]);
  }
  if (m.paramsActive > m.paramsTotal) problems.push(['paramsActive', `exceeds paramsTotal (${m.paramsTotal})`]);
  if (m.paramsKept16bit > m.paramsTotal) problems.push(['paramsKept16bit', `exceeds paramsTotal (${m.paramsTotal})`]);
  const sw = m.slidingWindow;
  if (sw && sw.slidingLayers + sw.fullLayers !== m.kvLayers) {
    problems.push(['slidingWindow', `slidingLayers + fullLayers (${sw.slidingLayers + sw.fullLayers}) must equal kvLayers (${m.kvLayers})`]);
  }
  return problems;
}

interface ParsedFile {
  readonly value: unknown;
  /** Position of the value at a dotted path, or of its closest existing ancestor. */
  readonly locate: (path: string) => SourceLocation;
}

function parseModelFile(text: string, file: string): ParsedFile | { error: Diagnostic } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const offset = /position (\d+)/.exec(message)?.[1];
    return { error: diagnostic(offsetLocation(text, file, offset ? Number(offset) : 0), 'error', '', `invalid JSON: ${message}`) };
  }
  // JSON is YAML: the yaml parser gives every node its source range.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const locate = (path: string): SourceLocation => {
    const keys = path === '' ? [] : path.split('.').map((k) => (/^\d+$/.test(k) ? Number(k) : k));
    for (let n = keys.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(keys.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { file, line: pos.line, col: pos.col };
      }
    }
    return { file, line: 1, col: 1 };
  };
  return { value, locate };
}

function offsetLocation(text: string, file: string, offset: number): SourceLocation {
  const before = text.slice(0, offset).split('\n');
  return { file, line: before.length, col: (before.at(-1)?.length ?? 0) + 1 };
}

function schemaDiagnostic(e: ErrorObject, locate: ParsedFile['locate']): Diagnostic {
  const parent = e.instancePath.split('/').slice(1).join('.');
  const child =
    e.keyword === 'required' ? String(e.params.missingProperty) : e.keyword === 'additionalProperties' ? String(e.params.additionalProperty) : undefined;
  const path = child === undefined ? parent : parent ? `${parent}.${child}` : child;
  const allowed = e.keyword === 'enum' ? `: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` : '';
  return diagnostic(locate(path), 'error', path, `${e.message ?? 'invalid'}${allowed}`);
}

function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}

/** The catalog id closest to a mistyped one (case, a dropped org, a typo), if any is close. */
export function suggestModelId(id: string, ids: Iterable<string>): string | undefined {
  const wanted = id.toLowerCase();
  const wantedName = wanted.slice(wanted.indexOf('/') + 1);
  let best: { id: string; distance: number } | undefined;
  for (const candidate of [...ids].sort()) {
    const lower = candidate.toLowerCase();
    const name = lower.slice(lower.indexOf('/') + 1);
    const distance = Math.min(editDistance(wanted, lower), editDistance(wantedName, name), wantedName.length >= 3 && name.startsWith(wantedName) ? 1 : Infinity);
    if (!best || distance < best.distance) best = { id: candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(wantedName.length / 4)) ? best.id : undefined;
}

/**
 * The closest catalog id, said plainly when it is a model of another size: a typo of
 * "Llama-3.1-8B" must not silently become "Llama-3.1-70B".
 */
export function didYouMean(id: string, suggestion: string | undefined): string {
  if (!suggestion) return '';
  const wanted = sizesIn(id);
  const found = sizesIn(suggestion);
  if (wanted === found) return ` (did you mean "${suggestion}"?)`;
  const sizes = wanted && found ? `: ${found} parameters, not ${wanted}` : '';
  return ` (the closest catalog model, "${suggestion}", is a different model${sizes})`;
}

/** Parameter-count tokens of a model id (`8B`, `1.5B`, `70B`), not active-expert ones like `A3B`. */
function sizesIn(id: string): string {
  return [...id.matchAll(/(?<![A-Za-z.\d])(\d+(?:\.\d+)?)[bB](?![A-Za-z\d])/g)].map((m) => `${m[1]}B`).join('+');
}
