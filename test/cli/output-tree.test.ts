import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOutputTree } from '../../cli/outputs.ts';

describe('readOutputTree', () => {
  it('reads regular files sorted by path and never follows symlinks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aim-tree-'));
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'b', 'x.yaml'), 'x');
    writeFileSync(join(dir, 'a.yaml'), 'a');
    symlinkSync('/', join(dir, 'root'));
    expect([...readOutputTree(dir).keys()]).toEqual(['a.yaml', 'b/x.yaml']);
  });

  it('stops with one error at a tree too big to be an output (e.g. --out /), instead of reading it all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aim-tree-'));
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}.yaml`), 'x'.repeat(10));
    expect(() => readOutputTree(dir, { files: 3, bytes: 1024 })).toThrow(/more than 3 files .* not an aim-gpu output tree/);
    expect(() => readOutputTree(dir, { files: 100, bytes: 20 })).toThrow(/not an aim-gpu output tree/);
    expect(readOutputTree(dir, { files: 5, bytes: 50 }).size).toBe(5);
  });
});
