import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../api/diagnostics.ts';
import { loadModelCatalog, modelFileName, serializeModelFile, suggestModelId } from '../../sizing/model-catalog.ts';
import { catalog } from './fixtures.ts';

const llama = catalog.get('meta-llama/Llama-3.1-8B-Instruct')!;
const dirs: string[] = [];

/** A catalog directory holding the given files. */
function catalogDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'model-catalog-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true });
});

describe('loadModelCatalog', () => {
  it('loads every committed model file cleanly, sorted by id', () => {
    const loaded = loadModelCatalog();
    expect(loaded.diagnostics).toEqual([]);
    expect(loaded.models.size).toBeGreaterThanOrEqual(38);
    const ids = [...loaded.models.keys()];
    expect(ids).toEqual([...ids].sort());
    expect(loaded.models.get('google/gemma-3-27b-it')?.slidingWindow).toEqual({ window: 1024, slidingLayers: 52, fullLayers: 10 });
  });

  it('adds a model from a new file', () => {
    const custom = { ...llama, id: 'acme/llama-clone' };
    const dir = catalogDir({ [modelFileName(custom.id)]: serializeModelFile(custom) });
    expect(loadModelCatalog(dir)).toEqual({ models: new Map([[custom.id, custom]]), diagnostics: [] });
  });

  it('fails when a field has the wrong type, at the value', () => {
    const text = serializeModelFile(llama).replace('"numKeyValueHeads": 8', '"numKeyValueHeads": "eight"');
    const dir = catalogDir({ 'broken.json': text });
    const { models, diagnostics } = loadModelCatalog(dir);
    expect(models.size).toBe(0);
    expect(diagnostics.map(formatDiagnostic)).toEqual([`${join(dir, 'broken.json')}:10:23: error: numKeyValueHeads: must be integer`]);
  });

  it('fails when a required field is missing or an unknown one is present', () => {
    const { kvLayers: _kvLayers, ...withoutKvLayers } = llama;
    const text = serializeModelFile({ ...withoutKvLayers, kvHeads: 8 } as unknown as typeof llama);
    const dir = catalogDir({ 'broken.json': text });
    const messages = loadModelCatalog(dir).diagnostics.map((d) => `${d.line}:${d.col} ${d.path}: ${d.message}`);
    expect(messages).toEqual(['1:1 kvLayers: must have required property \'kvLayers\'', '32:14 kvHeads: must NOT have additional properties']);
  });

  it('fails on invalid JSON at the offending character', () => {
    const dir = catalogDir({ 'broken.json': '{\n  "id": "a/b",\n  oops\n}\n' });
    const [d] = loadModelCatalog(dir).diagnostics;
    expect([d?.line, d?.col, d?.message.startsWith('invalid JSON')]).toEqual([3, 3, true]);
  });

  it('fails when sliding and full layers do not add up to the caching layers', () => {
    const gemma = catalog.get('google/gemma-3-27b-it')!;
    const text = serializeModelFile({ ...gemma, slidingWindow: { window: 1024, slidingLayers: 50, fullLayers: 10 } });
    const [d] = loadModelCatalog(catalogDir({ 'gemma.json': text })).diagnostics;
    expect(d?.path).toBe('slidingWindow');
    expect(d?.message).toBe('slidingLayers + fullLayers (60) must equal kvLayers (62)');
  });

  it('fails on a duplicate id, naming the first file', () => {
    const dir = catalogDir({ 'a.json': serializeModelFile(llama), 'b.json': serializeModelFile(llama) });
    const { models, diagnostics } = loadModelCatalog(dir);
    expect(models.size).toBe(1);
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      `${join(dir, 'b.json')}:3:9: error: id: duplicate model id "meta-llama/Llama-3.1-8B-Instruct", also defined in ${join(dir, 'a.json')}`,
    ]);
  });
});

describe('suggestModelId', () => {
  const ids = [...catalog.keys()];
  it.each([
    ['meta-llama/llama-3.1-8b-instruct', 'meta-llama/Llama-3.1-8B-Instruct'],
    ['Llama-3.3-70B-Instruct', 'meta-llama/Llama-3.3-70B-Instruct'],
    ['Qwen/Qwen3-8', 'Qwen/Qwen3-8B'],
    ['google/gemma-3-27b', 'google/gemma-3-27b-it'],
  ])('suggests %s → %s', (typed, expected) => {
    expect(suggestModelId(typed, ids)).toBe(expected);
  });

  it('suggests nothing for an unrelated id', () => {
    expect(suggestModelId('acme/widget-7b', ids)).toBeUndefined();
  });
});
