import { Composer, Lexer, LineCounter, Parser, isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Alias, CST, Document, Node, YAMLMap, YAMLSeq } from 'yaml';
import { append, diagnostic, hasErrors } from './diagnostics.ts';
import type { Diagnostic, ResourceSource, SourceLocation } from './types.ts';

/**
 * YAML text → plain values plus a map from every dotted field path to its line and column.
 *
 * The walk over the YAML syntax tree is ours rather than `Document.toJS()` so that duplicate keys
 * and alias expansion are checked with a path and a position, and so that the positions are
 * collected in the same pass that builds the value.
 */

/** Spec files are small; a bigger one is a mistake or an attack, refused before parsing. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Values that aliases may expand to in one document (a billion-laughs file needs far more). */
export const MAX_ALIAS_VALUES = 10_000;
/** Nesting deeper than any spec needs; keeps the recursive walk far from the stack limit. */
export const MAX_DEPTH = 64;
/** YAML parse errors (and warnings) reported per file; later ones are nearly always echoes. */
const MAX_YAML_PROBLEMS = 20;

/** One non-empty YAML document of a spec file, with the value it holds. */
export interface SpecDocument {
  readonly value: unknown;
  readonly source: DocumentSource;
}

export interface ParsedFile {
  readonly documents: readonly SpecDocument[];
  readonly diagnostics: readonly Diagnostic[];
}

/** Positions of a document's values (and of its mapping keys) by dotted path. */
export class DocumentSource implements ResourceSource {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly #values: Map<string, SourceLocation>;
  readonly #keys: Map<string, SourceLocation>;

  constructor(root: SourceLocation, values: Map<string, SourceLocation>, keys: Map<string, SourceLocation>) {
    this.file = root.file;
    this.line = root.line;
    this.col = root.col;
    this.#values = values;
    this.#keys = keys;
  }

  at(path: string): SourceLocation {
    for (let p = path; ; p = parentPath(p)) {
      const found = this.#values.get(p);
      if (found) return found;
      if (p === '') return this;
    }
  }

  /** Where the key of a mapping entry is written (an unknown field is reported there). */
  keyAt(path: string): SourceLocation {
    return this.#keys.get(path) ?? this.at(path);
  }

  /** True when the document itself writes a value at `path` (not a default). */
  has(path: string): boolean {
    return this.#values.has(path);
  }
}

export function childPath(parent: string, key: string | number): string {
  return parent === '' ? String(key) : `${parent}.${key}`;
}

function parentPath(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

export function parseSpecFile(file: string, text: string): ParsedFile {
  const start: SourceLocation = { file, line: 1, col: 1 };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_FILE_BYTES) return { documents: [], diagnostics: [tooBig(start, bytes)] };
  // UTF-16 (what some Windows editors save) read as UTF-8 has a NUL after every ASCII character;
  // YAML would read it as one odd string. NUL is not allowed in YAML text anyway.
  if (text.includes('\u0000')) {
    return { documents: [], diagnostics: [diagnostic(start, 'error', '', 'the file is not UTF-8 text (it has NUL bytes: UTF-16?); save it as UTF-8')] };
  }

  const lineCounter = new LineCounter();
  const locate = (offset: number): SourceLocation => ({ file, ...lineCounter.linePos(offset) });
  const { tokens, cutAt } = syntaxTokens(text, lineCounter);
  const deep = firstTooDeep(tokens) ?? cutAt;
  if (deep !== undefined) return { documents: [], diagnostics: [diagnostic(locate(deep), 'error', '', `nested deeper than ${MAX_DEPTH} levels`)] };
  const yamlDocuments: Document.Parsed[] = Array.from(new Composer({ uniqueKeys: false }).compose(tokens));

  const documents: SpecDocument[] = [];
  const diagnostics: Diagnostic[] = yamlProblems(yamlDocuments, locate, start);
  for (const doc of yamlDocuments) {
    const contents = doc.contents;
    if (doc.errors.length > 0 || contents === null || (isScalar(contents) && contents.value === null)) continue;
    const root = locate(contents.range?.[0] ?? 0);
    if (!isMap(contents)) {
      diagnostics.push(diagnostic(root, 'error', '', `a document must be a mapping with apiVersion, kind, metadata and spec, got ${describe(contents)}`));
      continue;
    }
    const walker = new Walker(locate, root);
    const value = walker.walk(contents);
    append(diagnostics, walker.diagnostics);
    if (walker.diagnostics.length === 0) documents.push({ value, source: new DocumentSource(root, walker.values, walker.keys) });
  }
  if (documents.length === 0 && !hasErrors(diagnostics)) diagnostics.push(diagnostic(start, 'error', '', 'file has no documents'));
  return { documents, diagnostics };
}

/**
 * The syntax tokens of `text`. Lexing and parsing to tokens are iterative, but composing tokens
 * into nodes recurses once per level: a deeply nested file would exhaust the stack there (V8 can
 * even abort the process inside a regular expression), so depth is checked on the tokens first
 * (`firstTooDeep`). Flow collections (`[`, `{`) are also counted on the lexemes as they come: once
 * they alone nest deeper than MAX_DEPTH the rest of the text is not parsed (a megabyte of `[`
 * would take the parser seconds), and the tokens so far already hold the collection to report.
 */
function syntaxTokens(text: string, lineCounter: LineCounter): { tokens: CST.Token[]; cutAt?: number } {
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0); // as `Parser.parse` does before the first lexeme
  const tokens: CST.Token[] = [];
  let flowDepth = 0;
  let cutAt: number | undefined;
  for (const lexeme of new Lexer().lex(text)) {
    // A lexeme of exactly `[` or `{` opens a flow collection (a scalar containing one is one lexeme).
    if (lexeme === '[' || lexeme === '{') flowDepth++;
    else if (lexeme === ']' || lexeme === '}') flowDepth = Math.max(0, flowDepth - 1);
    if (flowDepth > MAX_DEPTH) {
      cutAt = parser.offset;
      break;
    }
    for (const token of parser.next(lexeme)) tokens.push(token);
  }
  for (const token of parser.end()) tokens.push(token);
  return { tokens, ...(cutAt !== undefined && { cutAt }) };
}

/**
 * The offset of the first collection nested more than MAX_DEPTH levels deep in any document, the
 * root collection being level 0 as in `Walker`. An explicit stack, so any depth is safe.
 */
function firstTooDeep(tokens: readonly CST.Token[]): number | undefined {
  for (const token of tokens) {
    if (token.type !== 'document' || !token.value) continue;
    const stack: [CST.Token, number][] = [[token.value, 0]];
    for (let next = stack.pop(); next; next = stack.pop()) {
      const [node, depth] = next;
      if (node.type !== 'block-map' && node.type !== 'block-seq' && node.type !== 'flow-collection') continue;
      if (depth > MAX_DEPTH) return node.offset;
      for (const item of node.items) {
        if ('key' in item && item.key) stack.push([item.key, depth + 1]);
        if (item.value) stack.push([item.value, depth + 1]);
      }
    }
  }
  return undefined;
}

/** The parser's errors and warnings, at most MAX_YAML_PROBLEMS of each (then a count of the rest). */
function yamlProblems(documents: readonly Document.Parsed[], locate: (offset: number) => SourceLocation, start: SourceLocation): Diagnostic[] {
  const found: Diagnostic[] = [];
  for (const severity of ['error', 'warning'] as const) {
    const problems = documents.flatMap((doc) => (severity === 'error' ? doc.errors : doc.warnings));
    for (const problem of problems.slice(0, MAX_YAML_PROBLEMS)) found.push(diagnostic(locate(problem.pos[0]), severity, '', yamlMessage(problem.message)));
    const rest = problems.length - MAX_YAML_PROBLEMS;
    if (rest > 0) found.push(diagnostic(start, severity, '', `${rest} more YAML ${severity}s not shown`));
  }
  return found;
}

function tooBig(at: SourceLocation, bytes: number): Diagnostic {
  return diagnostic(at, 'error', '', `file is ${bytes} bytes, over the limit of ${MAX_FILE_BYTES} bytes (1 MiB) for a spec file`);
}

/** The size check for callers that can stat a file before reading it. */
export function fileTooBig(file: string, bytes: number): Diagnostic | undefined {
  return bytes > MAX_FILE_BYTES ? tooBig({ file, line: 1, col: 1 }, bytes) : undefined;
}

/** The yaml package's messages start upper-case and may end with a period; ours do neither. */
function yamlMessage(message: string): string {
  const line = message.split('\n')[0]!.trim().replace(/\.$/, '');
  return line.charAt(0).toLowerCase() + line.slice(1);
}

function describe(node: Node): string {
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return 'an alias';
  if (isScalar(node)) return `the ${typeof node.value} ${JSON.stringify(String(node.value)).slice(0, 40)}`;
  return 'a mapping';
}

/** Thrown inside a walk to stop it at once, after the diagnostic that explains why was recorded. */
class WalkAborted extends Error {}

class Walker {
  readonly values = new Map<string, SourceLocation>();
  readonly keys = new Map<string, SourceLocation>();
  readonly diagnostics: Diagnostic[] = [];
  readonly #anchors = new Map<string, Node>();
  readonly #locate: (offset: number) => SourceLocation;
  readonly #root: SourceLocation;
  #aliasValues = 0;
  /** The outermost alias being expanded, where an expansion that grows too big is reported. */
  #expanding: { readonly alias: Alias; readonly path: string } | undefined;

  constructor(locate: (offset: number) => SourceLocation, root: SourceLocation) {
    this.#locate = locate;
    this.#root = root;
  }

  /** The document's value, or undefined when the walk was stopped (see `diagnostics`). */
  walk(root: YAMLMap): unknown {
    try {
      return this.#value(root, '', 0);
    } catch (error) {
      if (error instanceof WalkAborted) return undefined;
      throw error;
    }
  }

  #at(node: Node): SourceLocation {
    const offset = node.range?.[0];
    return offset === undefined ? this.#root : this.#locate(offset);
  }

  #abort(at: SourceLocation, path: string, message: string): never {
    this.diagnostics.push(diagnostic(at, 'error', path, message));
    throw new WalkAborted(message);
  }

  #value(node: Node, path: string, depth: number): unknown {
    const at = this.#at(node);
    if (depth > MAX_DEPTH) this.#abort(at, path, `nested deeper than ${MAX_DEPTH} levels`);
    if (this.#expanding && ++this.#aliasValues > MAX_ALIAS_VALUES) {
      const { alias, path: aliasPath } = this.#expanding;
      this.#abort(
        this.#at(alias),
        aliasPath,
        `aliases expand to more than ${MAX_ALIAS_VALUES} values in this document (an alias bomb?); write the values out instead`,
      );
    }
    this.values.set(path, at);
    const value = isAlias(node) ? this.#alias(node, path, depth) : isMap(node) ? this.#map(node, path, depth) : isSeq(node) ? this.#seq(node, path, depth) : scalarValue(node);
    // Anchors met again while expanding an alias are not new definitions.
    if (node.anchor && !this.#expanding) this.#anchors.set(node.anchor, node);
    return value;
  }

  #alias(alias: Alias, path: string, depth: number): unknown {
    const target = this.#anchors.get(alias.source);
    if (!target) this.#abort(this.values.get(path)!, path, `unknown alias "*${alias.source}" (no anchor "&${alias.source}" before it)`);
    const outermost = this.#expanding === undefined;
    if (outermost) this.#expanding = { alias, path };
    const value = this.#value(target, path, depth);
    if (outermost) this.#expanding = undefined;
    this.values.set(path, this.#at(alias));
    return value;
  }

  #map(map: YAMLMap, path: string, depth: number): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    const seen = new Map<string, SourceLocation>();
    const mapAt = this.values.get(path)!;
    for (const pair of map.items) {
      const keyNode = pair.key;
      const keyAt = isNode(keyNode) ? this.#at(keyNode) : mapAt;
      if (!isScalar(keyNode)) this.#abort(keyAt, path, 'mapping keys must be plain scalars');
      if (isMergeKey(keyNode)) {
        this.diagnostics.push(diagnostic(keyAt, 'error', childPath(path, '<<'), MERGE_KEY_MESSAGE));
        continue;
      }
      const key = keyNode.value === null ? '' : String(keyNode.value);
      const child = childPath(path, key);
      const first = seen.get(key);
      if (first) {
        this.diagnostics.push(diagnostic(keyAt, 'error', child, `duplicate key "${key}" (first at line ${first.line}:${first.col})`));
        continue;
      }
      seen.set(key, keyAt);
      this.keys.set(child, keyAt);
      const valueNode = pair.value;
      let value: unknown = null;
      if (isNode(valueNode)) value = this.#value(valueNode, child, depth + 1);
      else this.values.set(child, keyAt);
      // A plain assignment to "__proto__" would set the prototype instead of adding a field.
      if (key === '__proto__') Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
      else result[key] = value;
    }
    return result;
  }

  #seq(seq: YAMLSeq, path: string, depth: number): unknown[] {
    const seqAt = this.values.get(path)!;
    return seq.items.map((item, index) => {
      const child = childPath(path, index);
      if (isNode(item)) return this.#value(item, child, depth + 1);
      this.values.set(child, seqAt);
      return null;
    });
  }
}

/**
 * `<<` merges a mapping into another only in YAML 1.1 (the `yaml` package turns it into a
 * symbol key under `%YAML 1.1`); YAML 1.2 has no merge keys and reads a plain string key, and
 * Kubernetes tools disagree on which they do. Either way the spec is not what it appears to say.
 */
const MERGE_KEY_MESSAGE = 'YAML merge keys ("<<") are not supported: YAML 1.2 has none and tools disagree on them; write the fields out (an alias "*name" may stand for a whole value)';

function isMergeKey(key: Node): boolean {
  if (!isScalar(key)) return false;
  return typeof key.value === 'symbol' || (key.value === '<<' && key.type === 'PLAIN');
}

function isNode(value: unknown): value is Node {
  return isScalar(value) || isAlias(value) || isMap(value) || isSeq(value);
}

function scalarValue(node: Node): unknown {
  const value = isScalar(node) ? node.value : null;
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return String(value);
}
