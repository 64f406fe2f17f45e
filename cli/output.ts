import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { acquireLock } from './lock.ts';
import { checkOutDir, recoverWork, resolveOutDir } from './out-dir.ts';
import { ioErrorLine } from './fs-errors.ts';
import { testPause } from './test-pause.ts';
import { workPaths, writeTreeAtomically, type Tree } from './tree.ts';
import { EXIT_INVALID } from './usage.ts';

/**
 * The output directory of one `synth` run, from the check to the swap: `--out` is resolved (a
 * symlink is followed, and stays a symlink), checked (out-dir.ts), locked against other runs, and
 * cleared of what a killed run left; then the run computes its tree and `write`s it. Every
 * refusal and I/O failure is one line naming the path, exit code 1.
 */
export interface Output {
  /** The directory as the user named it, for messages and for reading the previous plan. */
  readonly out: string;
  write(tree: Tree): void;
}

function refuseWrite(): never {
  throw new Error('bug: a read-only output was written');
}

export async function withOutput(
  out: string,
  specDir: string,
  err: { write(text: string): unknown },
  run: (output: Output) => Promise<number>,
  options: { readOnly?: boolean } = {},
): Promise<number> {
  let release: (() => void) | undefined;
  try {
    // `synth --check` writes nothing, so it neither checks nor locks; it gets the one-line errors.
    if (options.readOnly) return await run({ out, write: refuseWrite });
    const target = resolveOutDir(out);
    checkOutDir(out, target, specDir);
    mkdirSync(dirname(target), { recursive: true });
    release = acquireLock(workPaths(target).lock, out);
    testPause('locked');
    recoverWork(out, target);
    // Checked again under the lock: another run or the recovery may have changed the directory.
    checkOutDir(out, target, specDir);
    return await run({ out, write: (tree) => writeTreeAtomically(target, tree) });
  } catch (error) {
    const line = ioErrorLine(error);
    if (line === undefined) throw error;
    err.write(`${line}\n${out}: left unchanged\n`);
    return EXIT_INVALID;
  } finally {
    release?.();
  }
}
