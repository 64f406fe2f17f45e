import { readdirSync } from 'node:fs';
import path from 'node:path';
import { hiddenCharacters } from './characters.ts';
import { crossCheck, type Declaration, type Kind, type Loaded } from './cross-checks.ts';
import { append, diagnostic, hasErrors, sortDiagnostics } from './diagnostics.ts';
import { resolveFleet, resolveModel, resolveNodePool, type WrittenDocument } from './resolve.ts';
import { schemaProblems } from './schema.ts';
import type { Diagnostic, Fleet, FleetSpec, Model, ModelSpec, NodePool, NodePoolSpec, Spec } from './types.ts';
import { ioErrorMessage, readBoundedFile } from './read-file.ts';
import { fileTooBig, MAX_FILE_BYTES, parseSpecFile, type ParsedFile, type SpecDocument } from './yaml-source.ts';

/**
 * The spec loader: YAML files → a resolved, checked `Spec`, or every problem found in them, each
 * with file, line and column. Reading the directory is the only I/O; `loadSpecTexts` is pure.
 */

export interface LoadResult {
  /** Present only when no error was found; warnings may come with it. */
  readonly spec?: Spec;
  /** Errors and warnings, sorted by file and position. */
  readonly diagnostics: readonly Diagnostic[];
}

export interface SpecText {
  /** The name used in messages, e.g. `specs/models.yaml`. */
  readonly file: string;
  readonly text: string;
}

const KINDS: ReadonlySet<string> = new Set<Kind>(['Fleet', 'NodePool', 'Model']);

/** Loads spec texts as if they were files of a directory, in the order given. */
export function loadSpecTexts(files: readonly SpecText[]): LoadResult {
  return loadParsed(files.map(({ file, text }) => ({ file, ...parseSpecFile(file, text) })));
}

/**
 * Loads every `*.yaml` / `*.yml` file under `dir` (subfolders included, dot-folders skipped), in
 * name order. Messages name files as `path.join(dir, name)`, e.g. `specs/models.yaml:12:5`.
 * A file over the size limit is refused before it is read, and no file is read past the limit.
 */
export function loadSpecDir(dir: string): LoadResult {
  const origin = { file: dir, line: 1, col: 1 };
  let names: string[];
  try {
    names = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((name) => /\.ya?ml$/.test(name) && !name.split(path.sep).some((part) => part.startsWith('.')))
      .sort(compareNames);
  } catch (error) {
    return { diagnostics: [diagnostic(origin, 'error', '', `cannot read the spec directory: ${(error as Error).message}`)] };
  }
  if (names.length === 0) return { diagnostics: [diagnostic(origin, 'error', '', 'no *.yaml or *.yml spec files in this directory')] };
  return loadParsed(names.map((name) => readSpecFile(path.join(dir, name))));
}

/**
 * One spec file, read with a bound (read-file.ts): a directory, FIFO or device named `*.yaml`, an
 * unreadable file, a dangling symlink or a symlink loop is one error at the file, never a crash
 * or a read that blocks.
 */
function readSpecFile(file: string): ParsedFile & { readonly file: string } {
  const failed = (message: string) => ({ file, documents: [], diagnostics: [diagnostic({ file, line: 1, col: 1 }, 'error', '', message)] });
  let read;
  try {
    read = readBoundedFile(file, MAX_FILE_BYTES);
  } catch (error) {
    const message = ioErrorMessage(error);
    if (message === undefined) throw error;
    return failed(`cannot read: ${message}`);
  }
  if ('notAFile' in read) return failed(`is ${read.notAFile}, not a spec file`);
  if ('tooBig' in read) return { file, documents: [], diagnostics: [fileTooBig(file, read.tooBig ?? MAX_FILE_BYTES + 1)!] };
  return { file, ...parseSpecFile(file, read.text) };
}

function loadParsed(files: readonly (ParsedFile & { readonly file: string })[]): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const declarations: Declaration[] = [];
  const valid: { kind: Kind; document: SpecDocument }[] = [];
  let complete = true;

  for (const parsed of files) {
    append(diagnostics, parsed.diagnostics);
    if (hasErrors(parsed.diagnostics)) complete = false;
    for (const document of parsed.documents) {
      const declared = declaration(document);
      if (declared) declarations.push(declared);
      else complete = false;
      const hidden = hiddenCharacters(document.value, document.source);
      append(diagnostics, hidden);
      // A hidden character explains a pattern mismatch at the same field; say it once.
      const hiddenAt = new Set(hidden.map((d) => d.path));
      const problems = schemaProblems(document.value).filter((p) => !hiddenAt.has(p.path));
      for (const problem of problems) {
        const at = problem.at === 'key' ? document.source.keyAt(problem.path) : document.source.at(problem.path);
        diagnostics.push(diagnostic(at, 'error', problem.path, problem.message));
      }
      if (problems.length === 0 && hidden.length === 0 && declared) valid.push({ kind: declared.kind, document });
    }
  }

  const poolNames = [...new Set(declarations.filter((d) => d.kind === 'NodePool').map((d) => d.name))].sort(compareNames);
  const fleets: Loaded<Fleet>[] = [];
  const pools: Loaded<NodePool>[] = [];
  const models: Loaded<Model>[] = [];
  for (const { kind, document } of valid) {
    const { value, source } = document;
    if (kind === 'Fleet') fleets.push(resolveFleet(value as WrittenDocument<FleetSpec>, source));
    else if (kind === 'NodePool') pools.push(resolveNodePool(value as WrittenDocument<NodePoolSpec>, source));
    else models.push(resolveModel(value as WrittenDocument<ModelSpec>, source, poolNames));
  }

  const origin = { file: files[0]?.file ?? '(no spec files)', line: 1, col: 1 };
  append(diagnostics, crossCheck({ declarations, fleets, pools, models, complete, origin }));
  const sorted = sortDiagnostics(diagnostics);
  const fleet = fleets[0];
  if (hasErrors(sorted) || !fleet) return { diagnostics: sorted };
  return { spec: { fleet, pools: byName(pools), models: byName(models) }, diagnostics: sorted };
}

function declaration(document: SpecDocument): Declaration | undefined {
  const value = document.value as { kind?: unknown; metadata?: { name?: unknown } };
  const kind = value.kind;
  const name = value.metadata?.name;
  if (typeof kind !== 'string' || !KINDS.has(kind) || typeof name !== 'string') return undefined;
  return { kind: kind as Kind, name, source: document.source, value: document.value };
}

function byName<R extends { readonly metadata: { readonly name: string } }>(resources: readonly R[]): R[] {
  return [...resources].sort((a, b) => compareNames(a.metadata.name, b.metadata.name));
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
