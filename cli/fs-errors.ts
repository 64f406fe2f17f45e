import { ioErrorMessage } from '../api/read-file.ts';

/**
 * File-system failures as one line a user can act on: the path, what went wrong, the errno code.
 * Node's own messages carry the same facts (`EACCES: permission denied, open 'dist/x'`), but they
 * reach the terminal wrapped in a stack trace; the CLI prints this line and exits 1 instead.
 */

/** A refusal or failure of the output side, its message one line naming the path. */
export class OutputError extends Error {}

/** The one line for an error of the file system, or undefined when it is a bug (left to surface). */
export function ioErrorLine(error: unknown): string | undefined {
  if (error instanceof OutputError) return error.message;
  const message = ioErrorMessage(error);
  if (message === undefined) return undefined;
  const { path, dest } = error as { path?: string; dest?: string };
  return `${dest !== undefined ? `${path} -> ${dest}` : (path ?? '(no path)')}: error: ${message}`;
}
