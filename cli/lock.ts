import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { OutputError } from './fs-errors.ts';

/**
 * One writer per output directory: a lock file created with O_EXCL holding `<pid> <host>`. A
 * second run fails at once with a message naming the holder (it does not wait: a synth takes
 * seconds, and a clear refusal beats a silent queue). A lock whose process is gone (a killed run)
 * is taken over; one from another host cannot be checked and is reported with its path.
 */

/** A lock file with no owner written yet is a run killed between create and write after this long. */
const EMPTY_LOCK_STALE_MS = 10_000;

/** Takes the lock or throws an OutputError; returns the release function. */
export function acquireLock(lockFile: string, out: string): () => void {
  const owner = `${process.pid} ${hostname()}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      try {
        writeSync(fd, `${owner}\n`);
      } finally {
        closeSync(fd);
      }
      return () => releaseLock(lockFile, owner);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(lockFile);
    if (holder !== 'stale') {
      throw new OutputError(
        `${out}: error: another aim-gpu synth ${holder} is writing it; run again when it has finished ` +
          `(or delete ${lockFile} if no such process runs)`,
      );
    }
    try {
      unlinkSync(lockFile);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
  }
  throw new OutputError(`${out}: error: another aim-gpu synth took the lock ${lockFile} at the same moment; run again`);
}

/** `(pid 123 on host)` for a live or unknown holder, `stale` for a dead one. */
function readHolder(lockFile: string): string {
  let text: string;
  try {
    text = readFileSync(lockFile, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return 'stale'; // released meanwhile: retry
    throw error;
  }
  const match = /^(\d+) (\S+)\n?$/.exec(text);
  if (!match) return Date.now() - statSync(lockFile).mtimeMs > EMPTY_LOCK_STALE_MS ? 'stale' : '(starting)';
  const [, pid, host] = match;
  if (host !== hostname()) return `(pid ${pid} on ${host})`;
  return isAlive(Number(pid)) ? `(pid ${pid})` : 'stale';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** Deletes the lock if it is still ours (a stale-lock takeover by another run never loses its lock). */
function releaseLock(lockFile: string, owner: string): void {
  try {
    if (readFileSync(lockFile, 'utf8') === `${owner}\n`) unlinkSync(lockFile);
  } catch {
    // Already gone: nothing to release.
  }
}
