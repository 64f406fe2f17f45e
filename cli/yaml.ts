/**
 * A block-style YAML emitter for JSON data (what cdk8s's `chart.toJson()` returns), written for
 * speed: cdk8s's `Yaml.stringify` spends most of a large synth formatting scalars.
 *
 * Kubernetes tooling reads YAML with 1.1 semantics (go-yaml: `on`, `yes`, `y` are booleans, `0777` is
 * octal, `1:20` sexagesimal, `2001-12-14` a timestamp) and other tools with 1.2, so a string is written
 * plain only when it is a string under both; anything doubtful is quoted (double quotes with JSON's
 * escapes, which are valid YAML escapes). Multi-line strings become literal block scalars so scripts
 * stay readable. The layout follows cdk8s's output, so manifests read as they did.
 */

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const DASH = 0x2d;
const DOT = 0x2e;
const COLON = 0x3a;
const HASH = 0x23;
const PLUS = 0x2b;

/** Characters that start some other YAML construct when they begin a plain scalar. */
const INDICATORS = new Uint8Array(128);
for (const c of '-?:,[]{}#&*!|>\'"%@`') INDICATORS[c.charCodeAt(0)] = 1;

/**
 * Every character any YAML 1.1/1.2 or go-yaml int, float, sexagesimal or timestamp can contain. A
 * string starting like a number and made only of these is quoted; `8Gi` or `100m` are not numbers.
 */
const NUMERIC = new Uint8Array(128);
for (const c of '0123456789_.:+- abcdefABCDEFxXoObBtTzZ') NUMERIC[c.charCodeAt(0)] = 1;

/**
 * Most strings in a manifest (names, labels, images, flags) in one test: a first character that
 * starts no YAML construct and no number (`e`/`E` can: some YAML 1.1 parsers read `E+1` as a float),
 * then only characters that never matter to YAML. Such a string is plain unless it is a special word.
 */
const SIMPLE = /^[A-DF-Za-df-z_\/][\w.\/=@$()+-]*$/;

/** Lower-cased words that resolve to a bool, null, infinity, NaN, merge or value key in some schema. */
const SPECIAL_WORDS = new Set([
  ...['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null', '~'],
  ...['.inf', '+.inf', '-.inf', '.nan', '<<', '='],
]);

/** Characters YAML does not accept raw inside a quoted scalar, or reads as line breaks under 1.1. */
const UNPRINTABLE_FOR_YAML = /[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/;
const UNPRINTABLE_FOR_YAML_ALL = new RegExp(UNPRINTABLE_FOR_YAML.source, 'g');
const NEEDS_JSON_ESCAPE = /["\\]/;
const SINGLE_QUOTABLE = /^[\x20-\x7e]*$/;

/** An implicit key must end within 1,024 characters; a longer one is written as an explicit `? key`. */
const MAX_IMPLICIT_KEY = 1024;

const pads: string[] = [''];
function pad(depth: number): string {
  while (pads.length <= depth) pads.push(pads[pads.length - 1] + '  ');
  return pads[depth]!;
}

/** One YAML document for a JSON value, block style, ending with a newline. */
export function toYaml(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? '[]\n' : sequence(value, 0, '');
  if (isMapping(value)) return mapping(value, 0, '') || '{}\n';
  // A top-level block scalar's indentation indicator is read differently by libyaml and the YAML spec.
  if (typeof value === 'string' && !isPlainSafe(value) && isBlockScalar(value) && !needsIndentationIndicator(value)) {
    return blockScalar(value, 1);
  }
  return inlineScalar(value) + '\n';
}

/** A plain object; class instances (a Date, a Map) are not JSON and end in `inlineScalar`'s error. */
function isMapping(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * A mapping whose keys sit at `depth`, or '' when it has none; `first` replaces the first key's
 * indentation (after `- `).
 */
function mapping(object: Record<string, unknown>, depth: number, first: string): string {
  const indent = pad(depth);
  let out = '';
  let lead = first;
  for (const key in object) {
    const rendered = renderedKey(key);
    out += rendered.length <= MAX_IMPLICIT_KEY ? lead + rendered + ':' : lead + '? ' + rendered + '\n' + indent + ':';
    try {
      out += afterIndicator(object[key], depth, false);
    } catch (error) {
      throw error instanceof NotJsonError ? error.under(key) : error;
    }
    lead = indent;
  }
  return out;
}

/** Manifests repeat a few hundred keys tens of thousands of times; each is classified once. */
const renderedKeys = new Map<string, string>();
const RENDERED_KEYS_LIMIT = 10_000;

function renderedKey(key: string): string {
  let rendered = renderedKeys.get(key);
  if (rendered === undefined) {
    if (renderedKeys.size >= RENDERED_KEYS_LIMIT) renderedKeys.clear();
    rendered = scalarString(key);
    renderedKeys.set(key, rendered);
  }
  return rendered;
}

/** A sequence whose dashes sit at `depth`; `first` replaces the first dash's indentation. */
function sequence(items: readonly unknown[], depth: number, first: string): string {
  const indent = pad(depth);
  let out = '';
  let lead = first;
  for (let i = 0; i < items.length; i++) {
    try {
      out += lead + '-' + afterIndicator(items[i], depth, true);
    } catch (error) {
      throw error instanceof NotJsonError ? error.under(i) : error;
    }
    lead = indent;
  }
  return out;
}

/**
 * What follows a key's `:` or a sequence's `-` at `depth`, through the end of the value's last line:
 * a scalar on the same line, or a collection on the next lines (a mapping in a sequence starts on
 * the dash's line).
 */
function afterIndicator(value: unknown, depth: number, inSequence: boolean): string {
  if (typeof value === 'string') {
    if (isPlainSafe(value)) return ' ' + value + '\n';
    return isBlockScalar(value) ? ' ' + blockScalar(value, depth + 1) : ' ' + quoted(value) + '\n';
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return ' []\n';
    return inSequence ? ' ' + sequence(value, depth + 1, '') : '\n' + sequence(value, depth + 1, pad(depth + 1));
  }
  if (isMapping(value)) {
    const body = mapping(value, depth + 1, inSequence ? '' : pad(depth + 1));
    return body === '' ? ' {}\n' : (inSequence ? ' ' : '\n') + body;
  }
  return ' ' + inlineScalar(value) + '\n';
}

/** A number, boolean, null or string on one line. */
function inlineScalar(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return scalarString(value);
    case 'number':
      if (!Number.isFinite(value)) throw new NotJsonError(String(value));
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      throw new NotJsonError(`a ${value.constructor?.name ?? 'object'}`);
  }
  throw new NotJsonError(value === undefined ? 'undefined' : `a ${typeof value}`);
}

/** Thrown for a value JSON cannot hold; the path to it is filled in on the way up. */
class NotJsonError extends Error {
  private readonly path: (string | number)[] = [];
  constructor(private readonly what: string) {
    super(`toYaml: the value is ${what}, which JSON cannot hold`);
  }
  /** Records that the bad value sits under this key or index, and names the path in the message. */
  under(segment: string | number): NotJsonError {
    this.path.unshift(segment);
    const path = this.path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
    this.message = `toYaml: ${path} is ${this.what}, which JSON cannot hold`;
    return this;
  }
}

/** A string on one line: plain when that is certainly a string under YAML 1.1 and 1.2, else quoted. */
function scalarString(text: string): string {
  return isPlainSafe(text) ? text : quoted(text);
}

/**
 * Double quotes with JSON's escapes, except that printable ASCII holding `"` or `\` (JSON payloads,
 * regular expressions) goes in single quotes, where only `'` is escaped (doubled) and it reads as is.
 */
function quoted(text: string): string {
  if (NEEDS_JSON_ESCAPE.test(text) && SINGLE_QUOTABLE.test(text)) return "'" + text.replaceAll("'", "''") + "'";
  const json = JSON.stringify(text);
  return UNPRINTABLE_FOR_YAML.test(json) ? json.replace(UNPRINTABLE_FOR_YAML_ALL, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) : json;
}

function isPlainSafe(text: string): boolean {
  if (SIMPLE.test(text)) return text.length > 5 || !SPECIAL_WORDS.has(text.toLowerCase());
  const length = text.length;
  if (length === 0) return false;
  const first = text.charCodeAt(0);
  if (first < 128 && INDICATORS[first] === 1) {
    // `-x` is a plain scalar, `- x` a sequence entry and `---` a document marker.
    if (first !== DASH || length === 1 || text.charCodeAt(1) === SPACE || text.startsWith('---')) return false;
  }
  if (first === DOT && text.startsWith('...')) return false;
  let numeric = startsLikeNumber(text);
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c < SPACE || c > 0x7e) return false;
    if (c === COLON) {
      if (i === length - 1 || text.charCodeAt(i + 1) === SPACE) return false;
    } else if (c === HASH) {
      if (text.charCodeAt(i - 1) === SPACE) return false;
    }
    if (numeric && NUMERIC[c] !== 1) numeric = false;
  }
  if (numeric || first === SPACE || text.charCodeAt(length - 1) === SPACE) return false;
  return length > 5 || !SPECIAL_WORDS.has(text.toLowerCase());
}

/** A digit, a dot, or an exponent with no mantissa (`E+1`, `e5`), after an optional sign. */
function startsLikeNumber(text: string): boolean {
  let i = text.charCodeAt(0) === PLUS || text.charCodeAt(0) === DASH ? 1 : 0;
  let c = text.charCodeAt(i);
  if (c === 0x45 || c === 0x65) {
    c = text.charCodeAt(++i);
    return c === PLUS || c === DASH || isDigit(c);
  }
  return c === DOT || isDigit(c);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Whether a string is written as a literal block scalar: it has a line break and content other than
 * spaces, no control character but tab and newline, nothing a YAML 1.1 parser reads as a line break,
 * and no last line of only spaces or tabs (parsers disagree on whether that is content).
 */
function isBlockScalar(text: string): boolean {
  let hasNewline = false;
  let hasContent = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === NEWLINE) hasNewline = true;
    else if (c === SPACE || c === TAB) continue;
    else if (c < SPACE || (c > 0x7e && !isPrintableBeyondAscii(c))) return false;
    else hasContent = true;
  }
  if (!hasNewline || !hasContent) return false;
  const body = stripTrailingNewlines(text);
  return body.slice(body.lastIndexOf('\n') + 1).trim() !== '';
}

/** Printable outside ASCII and never a line break: NEL, LS, PS, BOM and surrogates are left to quoting. */
function isPrintableBeyondAscii(c: number): boolean {
  return c >= 0xa0 && c !== 0x2028 && c !== 0x2029 && c !== 0xfeff && (c < 0xd800 || (c > 0xdfff && c < 0xfffe));
}

function stripTrailingNewlines(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === NEWLINE) end--;
  return text.slice(0, end);
}

/**
 * Whether the first line with any character starts with a space or a tab: the parser would take
 * the space as indentation (or reject the tab), so the header must state the indentation.
 */
function needsIndentationIndicator(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== NEWLINE) return c === SPACE || c === TAB;
  }
  return false;
}

/**
 * `|` keeps one final line break, `|-` none and `|+` all of them. Content lines sit at `depth`;
 * the indentation indicator, when needed, is relative to the parent collection one level up.
 */
function blockScalar(text: string, depth: number): string {
  const body = stripTrailingNewlines(text);
  const trailing = text.length - body.length;
  const chomping = trailing === 0 ? '-' : trailing === 1 ? '' : '+';
  const indent = pad(depth);
  let out = '|' + (needsIndentationIndicator(text) ? '2' : '') + chomping + '\n';
  let start = 0;
  for (;;) {
    const end = body.indexOf('\n', start);
    const line = end === -1 ? body.slice(start) : body.slice(start, end);
    out += line === '' ? '\n' : indent + line + '\n';
    if (end === -1) break;
    start = end + 1;
  }
  for (let i = 1; i < trailing; i++) out += '\n';
  return out;
}
