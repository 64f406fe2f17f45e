import type { Diagnostic, Severity, SourceLocation } from './types.ts';

export function diagnostic(at: SourceLocation, severity: Severity, path: string, message: string): Diagnostic {
  return { file: at.file, line: at.line, col: at.col, severity, path, message };
}

/** `specs/fleet.yaml:7:3`: where another finding or field is, inside a message. */
export function where(at: SourceLocation): string {
  return `${at.file}:${at.line}:${at.col}`;
}

/** `specs/models.yaml:12:5: error: spec.replicas: must be >= 0`, the compiler-style line. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.path ? `${d.path}: ` : ''}${d.message}`;
}

/** Diagnostics of one kind printed before the rest are summed up in one line. */
export const MAX_SHOWN_PER_KIND = 20;

/**
 * The compiler-style lines of `diagnostics` (sorted), at most `perKind` of each kind: a kind is
 * the severity, the path with its list indices and the message with its numbers and quoted
 * names blanked, so a model asking for 100,000 replicas prints 20 lines and
 * `  … and 99,980 more like this`, not 100,000.
 */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], perKind = MAX_SHOWN_PER_KIND): string[] {
  const seen = new Map<string, number>();
  const lines: string[] = [];
  const hidden = new Map<string, number>();
  for (const d of diagnostics) {
    const kind = kindOf(d);
    const count = (seen.get(kind) ?? 0) + 1;
    seen.set(kind, count);
    if (count <= perKind) lines.push(formatDiagnostic(d));
    // The summary takes the place of the first diagnostic left out, so it stays near its kind.
    if (count === perKind + 1) {
      hidden.set(kind, lines.length);
      lines.push(kind);
    }
  }
  for (const [kind, index] of hidden) lines[index] = `  … and ${((seen.get(kind) ?? 0) - perKind).toLocaleString('en-US')} more like this`;
  return lines;
}

function kindOf(d: Diagnostic): string {
  const path = d.path.replace(/(^|\.)\d+(?=\.|$)/g, '$1*');
  const message = d.message.replace(/"[^"]*"/g, '"…"').replace(/\d+(\.\d+)?/g, '#');
  return `${d.severity}\u0000${path}\u0000${message}`;
}

/** File, then position, then path and message, so output is stable whatever order checks ran in. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      compare(a.file, b.file) || a.line - b.line || a.col - b.col || compare(a.path, b.path) || compare(a.message, b.message),
  );
}

/**
 * Appends `items` to `target` one by one: `target.push(...items)` passes every item as an argument
 * and overflows the stack on a few hundred thousand diagnostics.
 */
export function append<T>(target: T[], items: Iterable<T>): T[] {
  for (const item of items) target.push(item);
  return target;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
