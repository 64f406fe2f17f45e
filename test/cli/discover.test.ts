import { chmodSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecTexts } from '../../api/load.ts';
import { DiscoverError, discoverNode, nodePoolFragment } from '../../cli/discover.ts';
import { FLEET } from '../api/helpers.ts';
import { aimGpu, ROOT, tempDir } from './run.ts';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'amd-smi');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

type Entry = { gpu: number; asic: Record<string, unknown>; bus: Record<string, unknown>; partition: Record<string, unknown> };
/** The CPX fixture (older bare-list layout, 8 GPUs × 8 partitions), changed by `edit`. */
function cpxWith(edit: (entry: Entry) => void): string {
  const entries = JSON.parse(fixture('mi300x-cpx-list.json')) as Entry[];
  entries.forEach(edit);
  return JSON.stringify(entries);
}

/** A minimal amd-smi document: one GPU per market name, in SPX. */
function gpusNamed(...marketNames: string[]): string {
  return JSON.stringify({
    gpu_data: marketNames.map((market_name, gpu) => ({ gpu, asic: { market_name }, partition: { accelerator_partition: 'SPX', memory_partition: 'NPS1', partition_id: 0 } })),
  });
}

describe('discoverNode', () => {
  it('reads the {"gpu_data": [...]} layout with {value, unit} numbers: 8 MI300X in SPX-NPS1', () => {
    expect(discoverNode(fixture('mi300x-spx-gpu-data.json'))).toEqual({
      gpu: 'MI300X',
      marketNames: ['AMD Instinct MI300X'],
      gpus: 8,
      logicalGpus: 8,
      modes: [['SPX-NPS1', 8]],
    });
  });

  it('reads the bare-list layout and counts a CPX node’s 64 partitions as 8 GPUs, by partition id', () => {
    expect(discoverNode(fixture('mi300x-cpx-list.json'))).toEqual({
      gpu: 'MI300X',
      marketNames: ['AMD Instinct MI300X'],
      gpus: 8,
      logicalGpus: 64,
      modes: [['CPX-NPS4', 8]],
    });
  });

  it('counts GPUs by PCI device when partition ids are missing or N/A', () => {
    const withoutIds = cpxWith((entry) => delete entry.partition.partition_id);
    expect(discoverNode(withoutIds).gpus).toBe(8);
    const naOnSecondaries = cpxWith((entry) => {
      if (entry.partition.partition_id !== 0) entry.partition.partition_id = 'N/A';
    });
    expect(discoverNode(naOnSecondaries).gpus).toBe(8);
  });

  it('counts GPUs by the compute mode’s partitions when neither partition ids nor bus addresses are there', () => {
    const bare = cpxWith((entry) => {
      delete entry.partition.partition_id;
      entry.bus = {};
    });
    expect(discoverNode(bare)).toMatchObject({ gpus: 8, logicalGpus: 64, modes: [['CPX-NPS4', 8]] });
  });

  it('fails when nothing tells GPUs from partitions', () => {
    const bare = cpxWith((entry) => {
      delete entry.partition.partition_id;
      entry.bus = {};
      entry.partition.compute_partition = 'N/A';
    });
    expect(() => discoverNode(bare)).toThrowError(/cannot tell GPUs from partitions among the 64 devices/);
  });

  it('takes values that are N/A as unknown, and names an unknown partition mode so', () => {
    const json = cpxWith((entry) => {
      if (entry.partition.partition_id !== 0) entry.asic.market_name = 'N/A';
      if (entry.gpu === 8) entry.partition.memory_partition = 'N/A';
    });
    expect(discoverNode(json)).toMatchObject({ marketNames: ['AMD Instinct MI300X'], gpus: 8, modes: [['CPX-NPS4', 7], ['unknown', 1]] });
  });

  it('maps every market name form to its catalog product', () => {
    const products = [
      'AMD Instinct MI300X',
      'MI300X-O',
      'AMD Instinct MI300X VF',
      'AMD Instinct MI325X',
      'AMD Instinct MI300A',
      'AMD Instinct MI350X',
      'AMD Instinct MI355X',
    ].map((name) => discoverNode(gpusNamed(name)).gpu);
    expect(products).toEqual(['MI300X', 'MI300X', 'MI300X', 'MI325X', 'MI300A', 'MI350X', 'MI355X']);
  });

  it('fails on a product the catalog does not have, saying what it found', () => {
    expect(() => discoverNode(fixture('mi308x-gpu-data.json'))).toThrowError(
      new DiscoverError('unknown GPU product "AMD Instinct MI308X"; the catalog has MI300X, MI325X, MI300A, MI350X, MI355X'),
    );
  });

  it('fails on a node with two products, which no one NodePool describes', () => {
    expect(() => discoverNode(gpusNamed('AMD Instinct MI300X', 'AMD Instinct MI325X'))).toThrowError(
      'a NodePool holds one GPU product, this node has several: "AMD Instinct MI300X", "AMD Instinct MI325X"',
    );
  });

  it('skips warnings printed before the document and reads a single GPU given as an object', () => {
    const one = JSON.stringify(JSON.parse(gpusNamed('AMD Instinct MI300A')).gpu_data[0]);
    expect(discoverNode(`WARNING: User is missing the following required groups: render, video.\n${one}`)).toMatchObject({ gpu: 'MI300A', gpus: 1 });
  });

  it('fails on output that is not amd-smi JSON', () => {
    expect(() => discoverNode('amd-smi: command failed')).toThrowError('no JSON document in the amd-smi output');
    expect(() => discoverNode('{"error": "no GPUs"}')).toThrowError(/unexpected amd-smi JSON layout/);
    expect(() => discoverNode('{"gpu_data": []}')).toThrowError('amd-smi lists no GPUs');
    expect(() => discoverNode('[{"gpu": 0, "asic": {"market_name": "N/A"}}]')).toThrowError(/no market name/);
  });
});

describe('nodePoolFragment', () => {
  it('prints the NodePool with the current mode and the default profiles as comments', () => {
    expect(nodePoolFragment(discoverNode(fixture('mi300x-cpx-list.json')), { node: 'gpu-node-07' })).toBe(
      [
        '# Discovered by `aim-gpu discover` on gpu-node-07: 8 × AMD Instinct MI300X (64 partitions).',
        '# Partition mode now: CPX-NPS4 on every GPU; the partitioner sets the planned one.',
        'apiVersion: gpusharing.aim/v1alpha1',
        'kind: NodePool',
        'metadata:',
        '  name: mi300x',
        'spec:',
        '  gpu: MI300X',
        '  nodes: [gpu-node-07]',
        '  gpusPerNode: 8',
        '  # profiles: [SPX-NPS1, DPX-NPS2, CPX-NPS4]  # default: the AMD-validated ones; MI300X also has DPX-NPS1, QPX-NPS1, QPX-NPS4, CPX-NPS1',
        '',
      ].join('\n'),
    );
  });

  it('says when the current mode is not a default profile', () => {
    const cpxNps1 = cpxWith((entry) => {
      if (entry.partition.partition_id === 0) entry.partition.memory_partition = 'NPS1';
    });
    expect(nodePoolFragment(discoverNode(cpxNps1), { node: 'n1' })).toContain(
      '# CPX-NPS1 is not a default profile: list it in profiles to let the planner keep it.\n',
    );
  });

  it('is a NodePool the spec loader accepts as written', () => {
    const pools = nodePoolFragment(discoverNode(fixture('mi300x-spx-gpu-data.json')), { node: 'gpu-node-07.dc1.example.com', name: 'inference' });
    const result = loadSpecTexts([
      { file: 'specs/fleet.yaml', text: FLEET },
      { file: 'specs/pools.yaml', text: pools },
    ]);
    expect(result.diagnostics).toEqual([]);
    expect(result.spec?.pools[0]?.metadata.name).toBe('inference');
    expect(result.spec?.pools[0]?.spec).toMatchObject({ gpu: 'MI300X', nodes: ['gpu-node-07.dc1.example.com'], gpusPerNode: 8, profiles: ['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS4'] });
  });
});

// Each test starts the CLI (Node and tsx); on a loaded machine a start alone takes over a second.
describe('aim-gpu discover', { timeout: 60_000 }, () => {
  it('prints the NodePool of saved amd-smi output, exit code 0', async () => {
    const result = await aimGpu(['discover', '--from', join(FIXTURES, 'mi300x-cpx-list.json'), '--node', 'gpu-node-07', '--name', 'mi300x-a']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('metadata:\n  name: mi300x-a\nspec:\n  gpu: MI300X\n  nodes: [gpu-node-07]\n  gpusPerNode: 8\n');
  });

  it('fails with exit code 1 on an unknown product and 2 on a pool name the spec would refuse', async () => {
    const unknown = await aimGpu(['discover', '--from', join(FIXTURES, 'mi308x-gpu-data.json'), '--node', 'n1']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('aim-gpu discover: error: unknown GPU product "AMD Instinct MI308X"');
    const badName = await aimGpu(['discover', '--from', join(FIXTURES, 'mi308x-gpu-data.json'), '--name', 'MI300X_pool']);
    expect(badName.exitCode).toBe(2);
    expect(badName.stderr).toContain('--name must be a DNS-1123 label');
  });

  it('runs `amd-smi static --json` from PATH, and says to use --from when there is none', async () => {
    const bin = tempDir('path');
    symlinkSync(process.execPath, join(bin, 'node'));
    const missing = await aimGpu(['discover', '--node', 'n1'], { PATH: bin });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe('aim-gpu discover: error: amd-smi not found; use --from FILE');

    // A stand-in amd-smi that answers only the exact command discover must run.
    const fake = join(bin, 'amd-smi');
    const answer = JSON.stringify(join(FIXTURES, 'mi300x-spx-gpu-data.json'));
    writeFileSync(
      fake,
      `#!/usr/bin/env node\nconst args = process.argv.slice(2).join(' ');\nif (args !== 'static --json') { console.error('unexpected: ' + args); process.exit(2); }\nprocess.stdout.write(require('node:fs').readFileSync(${answer}));\n`,
    );
    chmodSync(fake, 0o755);
    const found = await aimGpu(['discover', '--node', 'n1'], { PATH: bin });
    expect(found.stderr).toBe('');
    expect(found.exitCode).toBe(0);
    expect(found.stdout).toContain('# Partition mode now: SPX-NPS1 on every GPU');
  });
});
