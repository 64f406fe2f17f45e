import type { Diagnostic, Severity, SourceLocation } from './types.ts';

export function diagnostic(at: SourceLocation, severity: Severity, path: string, message: string): Diagnostic {
  return { file: at.file, line: at.line, col: at.col, severity, path, message };
}

/** `specs/models.yaml:12:5: error: spec.replicas: must be >= 0`, the compiler-style line. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.path ? `${d.path}: ` : ''}${d.message}`;
}

/** File, then position, then path and message, so output is stable whatever order checks ran in. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      compare(a.file, b.file) || a.line - b.line || a.col - b.col || compare(a.path, b.path) || compare(a.message, b.message),
  );
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
