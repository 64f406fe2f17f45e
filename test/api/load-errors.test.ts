import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSpecDir, loadSpecTexts } from '../../api/load.ts';
import { MAX_FILE_BYTES } from '../../api/yaml-source.ts';
import { FIXTURES, lines, specTexts } from './helpers.ts';

/** Each bad fixture directory and the complete list of diagnostics it must produce. */
function load(name: string) {
  const dir = path.join(FIXTURES, 'bad', name);
  const result = loadSpecDir(dir);
  return { result, at: (file: string) => path.join(dir, file) };
}

describe('loadSpecDir on invalid specs', () => {
  it('fails on a YAML syntax error, at the position the parser stopped', () => {
    const { result, at } = load('yaml-syntax');
    expect(result.spec).toBeUndefined();
    expect(lines(result)).toEqual([
      `${at('models.yaml')}:8:3: error: flow sequence in block collection must be sufficiently indented and end with a ]`,
    ]);
  });

  it('fails on an unknown field, at its key, suggesting the near one', () => {
    const { result, at } = load('unknown-field');
    expect(lines(result)).toEqual([
      `${at('models.yaml')}:7:3: error: spec.replicsa: unknown field "replicsa" (did you mean "replicas"?)`,
    ]);
  });

  it('fails on a value of the wrong type', () => {
    const { result, at } = load('wrong-type');
    expect(lines(result)).toEqual([`${at('models.yaml')}:7:13: error: spec.replicas: must be integer`]);
  });

  it('fails on negative replicas', () => {
    const { result, at } = load('negative-replicas');
    expect(lines(result)).toEqual([`${at('models.yaml')}:8:13: error: spec.replicas: must be >= 0`]);
  });

  it('fails on an unknown GPU product, listing the known ones', () => {
    const { result, at } = load('unknown-gpu');
    expect(lines(result)).toEqual([
      `${at('pools.yaml')}:6:8: error: spec.gpu: must be one of: MI300X, MI325X, MI300A, MI350X, MI355X (did you mean "MI300X"?)`,
    ]);
  });

  it('fails on two Models of one name, at the second, naming the first', () => {
    const { result, at } = load('duplicate-model');
    expect(lines(result)).toEqual([
      `${at('models.yaml')}:12:9: error: metadata.name: duplicate Model name "llama-8b" (first defined at ${at('models.yaml')}:4:9)`,
    ]);
  });

  it('fails on a second Fleet', () => {
    const { result, at } = load('two-fleets');
    expect(lines(result)).toEqual([
      `${at('staging.yaml')}:2:7: error: kind: a second Fleet "staging"; exactly one is allowed (the first is at ${at('fleet.yaml')}:2:7)`,
    ]);
  });

  it('fails without a Fleet, at the start of the first file', () => {
    const { result, at } = load('no-fleet');
    expect(lines(result)).toEqual([`${at('models.yaml')}:1:1: error: no Fleet found; exactly one Fleet resource is required`]);
  });

  it('fails on a Model name that is not a DNS-1035 label', () => {
    const { result, at } = load('invalid-dns-name');
    expect(lines(result)).toEqual([
      `${at('models.yaml')}:4:9: error: metadata.name: must be a DNS-1035 label: lowercase letters, digits and "-", starting with a letter and ending with a letter or digit`,
    ]);
  });

  it('fails fast on an alias bomb, at the alias whose expansion crossed the bound', () => {
    const { result, at } = load('alias-bomb');
    // 9^9 values if expanded; the walk stops after 10,000 and reports one error.
    expect(lines(result)).toEqual([
      `${at('models.yaml')}:10:12: error: metadata.labels.e.0: aliases expand to more than 10000 values in this document (an alias bomb?); write the values out instead`,
    ]);
  });

  it('fails on an empty file', () => {
    const { result, at } = load('empty-file');
    expect(lines(result)).toEqual([`${at('models.yaml')}:1:1: error: file has no documents`]);
  });

  it('fails on a precision the product cannot run, quoting the catalog note', () => {
    const { result, at } = load('precision-unsupported');
    expect(lines(result)).toEqual([
      `${at('models.yaml')}:7:14: error: spec.precision: int8 cannot run on MI300X: vLLM has no INT8 W8A8 kernel for AMD GPUs (quantization table marks it ❌); use fp8, which needs the same memory`,
    ]);
  });

  it('fails on int4 without a pre-quantized checkpoint, at the precision and at the allowed precision', () => {
    const { result, at } = load('int4-without-checkpoint');
    expect(result.spec).toBeUndefined();
    const slow = 'int4 on MI300X: AWQ/GPTQ run on ROCm through Triton kernels only (vLLM PR #7386): supported but slower than fp8';
    expect(lines(result)).toEqual([
      `${at('models.yaml')}:7:14: error: spec.precision: int4 needs a pre-quantized AWQ/GPTQ checkpoint: set spec.checkpoints.int4`,
      `${at('models.yaml')}:7:14: warning: spec.precision: ${slow}`,
      `${at('models.yaml')}:17:34: error: spec.allowedPrecisions.2: int4 needs a pre-quantized AWQ/GPTQ checkpoint: set spec.checkpoints.int4`,
      `${at('models.yaml')}:17:34: warning: spec.allowedPrecisions.2: ${slow}`,
    ]);
  });

  it('fails on a profile the product does not have, listing the valid ones', () => {
    const { result, at } = load('profile-invalid');
    expect(lines(result)).toEqual([
      `${at('pools.yaml')}:8:24: error: spec.profiles.1: CPX-NPS2 is not a partition profile of MI300X; must be one of: SPX-NPS1, DPX-NPS1, DPX-NPS2, QPX-NPS1, QPX-NPS4, CPX-NPS1, CPX-NPS4`,
    ]);
  });

  it('fails on mixed profiles without mixed device resource naming', () => {
    const { result, at } = load('mixed-profiles-single-naming');
    expect(lines(result)).toEqual([
      `${at('pools.yaml')}:9:23: error: spec.allowMixedProfiles: requires the Fleet's deviceResourceNaming: mixed (${at('fleet.yaml')}:9:25); with single naming the AMD device plugin refuses nodes whose GPUs have different profiles`,
    ]);
  });

  it('fails on a Model pool that does not exist', () => {
    const { result, at } = load('unknown-pool');
    expect(lines(result)).toEqual([`${at('models.yaml')}:8:19: error: spec.pools.1: unknown NodePool "mi325x" (NodePools: mi300x)`]);
  });

  it('fails on a node in two pools, at the second', () => {
    const { result, at } = load('duplicate-node');
    expect(lines(result)).toEqual([
      `${at('pools.yaml')}:17:7: error: spec.nodes.1: node "gpu-node-02" is already in NodePool "mi300x" (${at('pools.yaml')}:7:24)`,
    ]);
  });

  it('reports every problem of every file in one run, sorted by file and position', () => {
    const { result, at } = load('several-problems');
    expect(lines(result)).toEqual([
      `${at('fleet.yaml')}:10:22: error: spec.planning.headroomPercent: must be <= 100`,
      `${at('models.yaml')}:7:19: error: spec.tensorParallel: must be one of: auto, 1, 2, 4, 8`,
      `${at('models.yaml')}:9:11: error: spec.pools.0: unknown NodePool "mi300" (did you mean "mi300x"?)`,
      `${at('models.yaml')}:17:14: error: spec.precision: int8 cannot run on MI300X: vLLM has no INT8 W8A8 kernel for AMD GPUs (quantization table marks it ❌); use fp8, which needs the same memory`,
      `${at('pools.yaml')}:16:16: error: spec.gpusPerNode: must be >= 1`,
    ]);
  });
});

describe('file size limit', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'aim-api-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // Valid YAML (two comment lines) just over the limit: the size alone must refuse it.
  const comment = '#'.repeat(MAX_FILE_BYTES - MAX_FILE_BYTES / 2);
  const big = `${comment}\n${comment}\n`;

  it('fails on a file over 1 MiB before reading it, at 1:1', () => {
    cpSync(path.join(FIXTURES, 'good'), dir, { recursive: true });
    writeFileSync(path.join(dir, 'big.yaml'), big);
    expect(Buffer.byteLength(big)).toBe(MAX_FILE_BYTES + 2);
    expect(lines(loadSpecDir(dir))).toEqual([
      `${path.join(dir, 'big.yaml')}:1:1: error: file is 1048578 bytes, over the limit of 1048576 bytes (1 MiB) for a spec file`,
    ]);
  });

  it('fails on a text over 1 MiB given to loadSpecTexts', () => {
    const result = loadSpecTexts([...specTexts(), { file: 'specs/big.yaml', text: big }]);
    expect(lines(result)).toEqual(['specs/big.yaml:1:1: error: file is 1048578 bytes, over the limit of 1048576 bytes (1 MiB) for a spec file']);
  });
});
