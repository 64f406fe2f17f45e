import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';

/**
 * Reading an input file with a bound on what is read, whatever the path names: a regular file is
 * refused by its size before it is read, and no more than `maxBytes + 1` bytes are ever read, so a
 * file that grows meanwhile, a pipe or `/dev/zero` cannot exhaust memory. By default only regular
 * files are read: a FIFO, socket or device is refused without blocking on it (opened non-blocking,
 * checked with fstat). `streams` allows FIFOs and character devices (`--from <(amd-smi …)`).
 */
export type BoundedRead =
  | { readonly text: string }
  | { readonly tooBig: number | undefined }
  | { readonly notAFile: string };

const CHUNK = 64 * 1024;

export function readBoundedFile(file: string, maxBytes: number, options: { streams?: boolean } = {}): BoundedRead {
  const fd = openSync(file, options.streams ? constants.O_RDONLY : constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = fstatSync(fd);
    const readable = stats.isFile() || (options.streams && (stats.isFIFO() || stats.isCharacterDevice()));
    if (!readable) return { notAFile: fileKind(stats) };
    if (stats.isFile() && stats.size > maxBytes) return { tooBig: stats.size };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(CHUNK, maxBytes + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > maxBytes) return { tooBig: stats.isFile() ? Math.max(total, stats.size) : undefined };
    }
    return { text: Buffer.concat(chunks, total).toString('utf8') };
  } finally {
    closeSync(fd);
  }
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * A Node file-system error in words, `permission denied (EACCES, open)`, or undefined when the
 * error is not one (a bug, left to surface). A missing file that is a symlink is named a dangling
 * symlink, with its target.
 */
export function ioErrorMessage(error: unknown): string | undefined {
  const e = error as { code?: unknown; syscall?: unknown; path?: unknown; message?: unknown } | null;
  if (!(error instanceof Error) || typeof e?.code !== 'string' || !/^E[A-Z0-9]+$/.test(e.code) || typeof e.syscall !== 'string') return undefined;
  if (e.code === 'ENOENT' && typeof e.path === 'string') {
    const target = danglingTarget(e.path);
    if (target !== undefined) return `is a symlink to ${target}, which does not exist (ENOENT, ${e.syscall})`;
  }
  // Node words the message `CODE: description, syscall 'path'`; keep the description.
  const description = /^[A-Z0-9]+: ([^,]+)/.exec(error.message)?.[1] ?? error.message.split('\n')[0];
  return `${description} (${e.code}, ${e.syscall})`;
}

function danglingTarget(path: string): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    return undefined;
  }
}
