import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSpecDir, loadSpecTexts } from '../../api/load.ts';
import { FLEET, MODEL, POOL, lines, specTexts } from './helpers.ts';

const load = (overrides: Parameters<typeof specTexts>[0]) => loadSpecTexts(specTexts(overrides));

describe('YAML handling', () => {
  it('fails on a duplicate key, at the second, naming the first', () => {
    expect(lines(load({ models: `${MODEL}  replicas: 3\n` }))).toEqual([
      'specs/models.yaml:8:3: error: spec.replicas: duplicate key "replicas" (first at line 7:3)',
    ]);
  });

  it('fails on a document that is not a mapping', () => {
    expect(lines(load({ models: '- llama-8b\n- qwen-7b\n' }))).toEqual([
      'specs/models.yaml:1:1: error: a document must be a mapping with apiVersion, kind, metadata and spec, got a list',
    ]);
  });

  it('skips empty documents', () => {
    const result = load({ models: `---\n# nothing here yet\n---\n${MODEL}---\n` });
    expect(result.diagnostics).toEqual([]);
    expect(result.spec?.models.map((m) => m.source.at('spec.replicas'))).toEqual([{ file: 'specs/models.yaml', line: 10, col: 13 }]);
  });

  it('expands aliases within a document', () => {
    const pools = POOL.replace('  name: mi300x', '  name: mi300x\n  labels: &team {team: research}').replace('spec:', 'spec:\n  labels: *team');
    const result = load({ pools });
    expect(result.diagnostics).toEqual([]);
    expect(result.spec?.pools[0]?.spec.labels).toEqual({ team: 'research' });
    expect(result.spec?.pools[0]?.source.at('spec.labels')).toEqual({ file: 'specs/pools.yaml', line: 7, col: 11 });
  });

  it('fails on an alias whose anchor is in another document', () => {
    const pools = `${POOL.replace('spec:', 'spec:\n  labels: &team {team: research}')}---\n${POOL.replace(/mi300x/, 'mi300x-b')
      .replace('gpu-node-01, gpu-node-02', 'gpu-node-03')
      .replace('spec:', 'spec:\n  labels: *team')}`;
    expect(lines(load({ pools }))).toEqual(['specs/pools.yaml:15:11: error: spec.labels: unknown alias "*team" (no anchor "&team" before it)']);
  });

  it('fails on nesting deeper than the limit, without overflowing the stack', () => {
    const result = load({ models: `${MODEL}  args: ${'['.repeat(70)}${']'.repeat(70)}\n` });
    expect(result.diagnostics.map((d) => [d.line, d.col, d.message])).toEqual([[8, 72, 'nested deeper than 64 levels']]);
  });

  it('reports at most 20 YAML errors per file, then how many more there are', () => {
    const models = Array.from({ length: 30 }, (_, i) => `key${i}: nested: mapping`).join('\n');
    const result = load({ models });
    expect(result.diagnostics).toHaveLength(21);
    expect(lines(result).slice(0, 2)).toEqual([
      'specs/models.yaml:1:1: error: 10 more YAML errors not shown',
      'specs/models.yaml:1:7: error: nested mappings are not allowed in compact mappings',
    ]);
  });

  it('reports an unresolved tag as a warning', () => {
    const result = load({ models: `${MODEL}  revision: !commit 5ede1c97\n` });
    expect(result.spec).toBeDefined();
    expect(lines(result)).toEqual(['specs/models.yaml:8:13: warning: unresolved tag: !commit']);
  });
});

describe('schema messages', () => {
  it('fails on an unknown apiVersion', () => {
    expect(lines(load({ models: MODEL.replace('gpusharing.aim/v1alpha1', 'gpusharing.aim/v1') }))).toEqual([
      'specs/models.yaml:1:13: error: apiVersion: unknown apiVersion "gpusharing.aim/v1"; must be gpusharing.aim/v1alpha1',
    ]);
  });

  it('fails on an unknown kind, without guessing at missing resources', () => {
    expect(lines(load({ models: MODEL.replace('kind: Model', 'kind: Modle') }))).toEqual([
      'specs/models.yaml:2:7: error: kind: unknown kind "Modle"; must be one of: Fleet, NodePool, Model (did you mean "Model"?)',
    ]);
  });

  it('fails on a missing required field, at the mapping that lacks it', () => {
    expect(lines(load({ models: MODEL.replace('  model: meta-llama/Llama-3.1-8B-Instruct\n', '') }))).toEqual([
      'specs/models.yaml:6:3: error: spec: missing required field "model"',
    ]);
  });

  it('names every missing field of a mapping in one message', () => {
    expect(lines(load({ models: `${MODEL}  architecture: {numHiddenLayers: 32}\n` }))).toEqual([
      'specs/models.yaml:8:17: error: spec.architecture: missing required fields "hiddenSize", "numAttentionHeads", "numKeyValueHeads", "vocabSize", "paramsTotal", "maxPositionEmbeddings"',
    ]);
  });

  it('reports a section of the wrong type once, though two schema rules catch it', () => {
    const models = 'apiVersion: gpusharing.aim/v1alpha1\nkind: Model\nmetadata: llama-8b\nspec: 5\n';
    expect(lines(load({ models }))).toEqual([
      'specs/models.yaml:3:11: error: metadata: must be a mapping',
      'specs/models.yaml:4:7: error: spec: must be a mapping',
    ]);
  });

  it('fails on a Model name longer than 53 characters', () => {
    expect(lines(load({ models: MODEL.replace('llama-8b', `llama-${'x'.repeat(48)}`) }))).toEqual([
      'specs/models.yaml:4:9: error: metadata.name: must be at most 53 characters long',
    ]);
  });

  it('fails on an invalid label key, at the key', () => {
    const models = MODEL.replace('  name: llama-8b', '  name: llama-8b\n  labels:\n    -team: research\n    tier: 1');
    expect(lines(load({ models }))).toEqual([
      'specs/models.yaml:6:5: error: metadata.labels.-team: invalid key: must be a Kubernetes label key ([prefix/]name, the name of at most 63 letters, digits, "-", "_" and ".")',
      'specs/models.yaml:7:11: error: metadata.labels.tier: must be string (quote it: "1")',
    ]);
  });

  it('fails on a duplicate node within a pool, at the repeat', () => {
    expect(lines(load({ pools: POOL.replace('gpu-node-01, gpu-node-02', 'gpu-node-01, gpu-node-02, gpu-node-01') }))).toEqual([
      'specs/pools.yaml:7:37: error: spec.nodes.2: duplicate "gpu-node-01" (same as item 0)',
    ]);
  });

  it('reports every field problem of a document', () => {
    const models = MODEL.replace('replicas: 2', 'replicas: 1.5\n  concurrency: 0\n  tensorParallel: 3\n  pools: mi300x\n  slo: fast');
    expect(lines(load({ models }))).toEqual([
      'specs/models.yaml:7:13: error: spec.replicas: must be integer',
      'specs/models.yaml:8:16: error: spec.concurrency: must be >= 1',
      'specs/models.yaml:9:19: error: spec.tensorParallel: must be one of: auto, 1, 2, 4, 8',
      'specs/models.yaml:10:10: error: spec.pools: must be a list',
      'specs/models.yaml:11:8: error: spec.slo: must be a mapping',
    ]);
  });
});

describe('cross-document rules', () => {
  it('warns on a precision that runs slowly, and still loads', () => {
    const result = load({ models: `${MODEL}  precision: int4\n  checkpoints: {int4: hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4}\n` });
    expect(result.spec).toBeDefined();
    expect(lines(result)).toEqual([
      'specs/models.yaml:8:14: warning: spec.precision: int4 on MI300X: AWQ/GPTQ run on ROCm through Triton kernels only (vLLM PR #7386): supported but slower than fp8',
    ]);
  });

  it('checks each allowed precision of precision: auto', () => {
    const result = load({ models: `${MODEL}  precision: auto\n  allowedPrecisions: [fp8, int8, int4]\n  checkpoints: {int4: hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4}\n` });
    expect(lines(result)).toEqual([
      'specs/models.yaml:9:28: error: spec.allowedPrecisions.1: int8 cannot run on MI300X: vLLM has no INT8 W8A8 kernel for AMD GPUs (quantization table marks it ❌); use fp8, which needs the same memory',
      'specs/models.yaml:9:34: warning: spec.allowedPrecisions.2: int4 on MI300X: AWQ/GPTQ run on ROCm through Triton kernels only (vLLM PR #7386): supported but slower than fp8',
    ]);
  });

  it('fails on precision: int4 without a pre-quantized checkpoint, at the precision', () => {
    expect(lines(load({ models: `${MODEL}  precision: int4\n` }))).toEqual([
      'specs/models.yaml:8:14: error: spec.precision: int4 needs a pre-quantized AWQ/GPTQ checkpoint: set spec.checkpoints.int4',
      'specs/models.yaml:8:14: warning: spec.precision: int4 on MI300X: AWQ/GPTQ run on ROCm through Triton kernels only (vLLM PR #7386): supported but slower than fp8',
    ]);
  });

  it('fails on int4 among the allowed precisions without a pre-quantized checkpoint, at the item', () => {
    const result = load({ models: `${MODEL}  precision: auto\n  allowedPrecisions: [bf16, int4]\n  checkpoints: {fp8: amd/Llama-3.1-8B-Instruct-FP8-KV}\n` });
    expect(lines(result).filter((line) => line.includes(': error: '))).toEqual([
      'specs/models.yaml:9:29: error: spec.allowedPrecisions.1: int4 needs a pre-quantized AWQ/GPTQ checkpoint: set spec.checkpoints.int4',
    ]);
  });

  it('keeps each checkpoint as written, its revision included', () => {
    const checkpoints = '  checkpoints:\n    int4: hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4:0d4ba32\n    fp8: amd/Llama-3.1-8B-Instruct-FP8-KV\n';
    const result = load({ models: `${MODEL}  precision: int4\n${checkpoints}` });
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(result.spec?.models[0]?.spec.checkpoints).toEqual({
      int4: 'hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4:0d4ba32',
      fp8: 'amd/Llama-3.1-8B-Instruct-FP8-KV',
    });
  });

  it('fails on a checkpoint that is not org/name[:revision], and on a precision that takes none', () => {
    const result = load({ models: `${MODEL}  checkpoints:\n    int4: hf://org/name\n    bf16: org/name\n` });
    expect(lines(result)).toEqual([
      'specs/models.yaml:9:11: error: spec.checkpoints.int4: must be a Hugging Face model id, org/name, optionally with :revision (e.g. hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4)',
      'specs/models.yaml:10:5: error: spec.checkpoints.bf16: unknown field "bf16"',
    ]);
  });

  it('fails on a revision that would break the hf:// URI', () => {
    const result = load({ models: `${MODEL}  revision: refs/pr/12\n` });
    expect(lines(result)).toEqual([
      'specs/models.yaml:8:13: error: spec.revision: must be a branch, tag or commit without "/" or ":" (it becomes hf://model:revision)',
    ]);
  });

  it('fails on a runtime the fleet has no image for, at the runtime', () => {
    expect(lines(load({ models: `${MODEL}  runtime: sglang\n` }))).toEqual([
      'specs/models.yaml:8:12: error: spec.runtime: runtime "sglang" is not supported yet: the fleet has no image for it, only images.vllm',
    ]);
  });

  it('does not warn about the default allowed precisions', () => {
    expect(load({ models: `${MODEL}  precision: auto\n` }).diagnostics).toEqual([]);
  });

  it('names every product of the model pools that cannot run its precision in one finding', () => {
    const pools = `${POOL}---\n${POOL.replace(/mi300x/, 'mi355x').replace('MI300X', 'MI355X').replace('gpu-node-01, gpu-node-02', 'gpu-node-21')}`;
    expect(lines(load({ pools, models: `${MODEL}  precision: int8\n` }))).toEqual([
      'specs/models.yaml:8:14: error: spec.precision: int8 cannot run on MI300X, MI355X: vLLM has no INT8 W8A8 kernel for AMD GPUs (quantization table marks it ❌); use fp8, which needs the same memory',
    ]);
  });

  it('accepts mixed profiles with mixed device resource naming', () => {
    const result = load({
      fleet: `${FLEET}  deviceResourceNaming: mixed\n`,
      pools: `${POOL}  profiles: [SPX-NPS1, CPX-NPS1]\n  allowMixedProfiles: true\n`,
    });
    expect(result.diagnostics).toEqual([]);
    expect(result.spec?.pools[0]?.spec.allowMixedProfiles).toBe(true);
  });

  it('fails on a vLLM image not pinned by digest, which KServe would rewrite', () => {
    const fleet = FLEET.replace(/(vllm: \S+)@sha256:[0-9a-f]+/, '$1');
    const result = load({ fleet });
    expect(lines(result)).toEqual([
      'specs/fleet.yaml:7:11: error: spec.images.vllm: must be pinned by digest (name[:tag]@sha256:<64 hex>): KServe rewrites unpinned vLLM images, to a CPU image on AMD GPUs',
    ]);
    expect(result.spec).toBeUndefined();
  });

  it('warns on a partitioner image not pinned by digest', () => {
    const fleet = FLEET.replace(/(partitioner: \S+)@sha256:[0-9a-f]+/, '$1');
    expect(lines(load({ fleet }))).toEqual([
      'specs/fleet.yaml:8:18: warning: spec.images.partitioner: image is not pinned by digest (name:tag@sha256:…); the manifests change meaning when the tag moves',
    ]);
  });

  it('fails without a NodePool', () => {
    expect(lines(load({ pools: MODEL.replace('llama-8b', 'llama-70b') }))).toEqual([
      'specs/fleet.yaml:1:1: error: no NodePool found; at least one is required',
    ]);
  });

  it('checks a pool reference even when the Model has other errors', () => {
    expect(lines(load({ models: `${MODEL.replace('replicas: 2', 'replicas: -2')}  pools: [mi300]\n` }))).toEqual([
      'specs/models.yaml:7:13: error: spec.replicas: must be >= 0',
      'specs/models.yaml:8:11: error: spec.pools.0: unknown NodePool "mi300" (did you mean "mi300x"?)',
    ]);
  });
});

describe('loadSpecDir', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'aim-api-dir-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('reads *.yaml and *.yml files in subfolders, skipping dot-folders and other files', () => {
    const dir = path.join(root, 'specs');
    mkdirSync(path.join(dir, 'models'), { recursive: true });
    mkdirSync(path.join(dir, '.drafts'));
    writeFileSync(path.join(dir, 'fleet.yml'), FLEET);
    writeFileSync(path.join(dir, 'pools.yaml'), POOL);
    writeFileSync(path.join(dir, 'models', 'llama.yaml'), MODEL);
    writeFileSync(path.join(dir, '.drafts', 'broken.yaml'), 'kind: [');
    writeFileSync(path.join(dir, 'README.md'), '# specs');
    const result = loadSpecDir(dir);
    expect(result.diagnostics).toEqual([]);
    expect(result.spec?.models[0]?.source.file).toBe(path.join(dir, 'models', 'llama.yaml'));
    expect(result.spec?.fleet.source.file).toBe(path.join(dir, 'fleet.yml'));
  });

  it('fails on a directory without spec files', () => {
    const dir = path.join(root, 'empty');
    mkdirSync(dir);
    expect(lines(loadSpecDir(dir))).toEqual([`${dir}:1:1: error: no *.yaml or *.yml spec files in this directory`]);
  });

  it('fails on a directory that does not exist', () => {
    const dir = path.join(root, 'missing');
    expect(lines(loadSpecDir(dir))).toEqual([
      `${dir}:1:1: error: cannot read the spec directory: ENOENT: no such file or directory, scandir '${dir}'`,
    ]);
  });
});
