import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecDir } from '../../api/load.ts';
import { FIXTURES } from './helpers.ts';

const dir = path.join(FIXTURES, 'good');
const result = loadSpecDir(dir);
const spec = result.spec!;
const file = (name: string) => path.join(dir, name);

describe('loadSpecDir on a valid fleet', () => {
  it('loads without diagnostics', () => {
    expect(result.diagnostics).toEqual([]);
    expect(spec.fleet.metadata.name).toBe('lab');
  });

  it('sorts pools and models by name', () => {
    expect(spec.pools.map((p) => p.metadata.name)).toEqual(['mi300x', 'mi325x']);
    expect(spec.models.map((m) => m.metadata.name)).toEqual(['llama-8b', 'qwen-32b']);
  });

  it('fills Fleet defaults and keeps what was written', () => {
    const { images: _images, ...fleet } = spec.fleet.spec;
    expect(fleet).toEqual({
      namespace: 'aim-models',
      systemNamespace: 'aim-system',
      deviceResourceNaming: 'single',
      isolation: 'devicePlugin',
      monitoring: {
        enabled: true,
        prometheusSelector: { release: 'kube-prometheus-stack' },
        grafana: 'sidecar',
        grafanaSidecarLabel: { grafana_dashboard: '1' },
        grafanaInstanceSelector: { dashboards: 'grafana' },
      },
      gitops: {
        argocd: { repoURL: 'https://github.com/example/gpu-fleet.git', path: 'dist', revision: 'main', namespace: 'argocd', project: 'default' },
      },
      planning: { headroomPercent: 10, allowUnschedulable: false, optimizer: 'heuristic', timeLimitSeconds: 30 },
      partitioning: {
        backend: 'builtin',
        maxUnavailableNodes: 1,
        gpuOperator: { namespace: 'kube-amd-gpu', deviceConfig: 'gpu-operator', gpuClientSystemdServices: ['amd-metrics-exporter', 'gpuagent'] },
      },
    });
  });

  it('fills NodePool defaults from the GPU catalog', () => {
    const [mi300x, mi325x] = spec.pools;
    expect(mi300x!.spec).toEqual({
      gpu: 'MI300X',
      nodes: ['gpu-node-01', 'gpu-node-02'],
      gpusPerNode: 8,
      profiles: ['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS4'],
      allowMixedProfiles: false,
      usableMemoryFraction: 0.95,
      labels: {},
      taints: [],
    });
    expect(mi325x!.metadata.labels).toEqual({ team: 'research' });
    expect(mi325x!.spec.profiles).toEqual(['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS4']);
    expect(mi325x!.spec.usableMemoryFraction).toBe(0.9);
    expect(mi325x!.spec.taints).toEqual([{ key: 'amd.com/gpu', effect: 'NoSchedule' }]);
  });

  it('fills Model defaults, leaving precision and maxModelLen to sizing', () => {
    const llama = spec.models[0]!;
    expect(llama.spec).toEqual({
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      allowedPrecisions: ['bf16', 'fp8'],
      checkpoints: {},
      replicas: 3,
      concurrency: 1,
      tensorParallel: 'auto',
      priority: 'medium',
      pools: ['mi300x', 'mi325x'],
      runtime: 'vllm',
      args: [],
      env: {},
      fullSlidingWindowKv: false,
      kvCacheDtype: 'auto',
    });
    expect('precision' in llama.spec).toBe(false);
    expect('maxModelLen' in llama.spec).toBe(false);
  });

  it('keeps every Model field that was written', () => {
    expect(spec.models[1]!.spec).toEqual({
      model: 'Qwen/Qwen2.5-32B-Instruct',
      revision: '5ede1c97bbab6ce5cda5812749b4c0bdf79b18dd',
      precision: 'auto',
      allowedPrecisions: ['bf16', 'fp8'],
      checkpoints: { int4: 'Qwen/Qwen2.5-32B-Instruct-AWQ' },
      replicas: 1,
      maxModelLen: 16384,
      concurrency: 4,
      tensorParallel: 2,
      priority: 'high',
      pools: ['mi325x'],
      runtime: 'vllm',
      args: ['--enable-prefix-caching'],
      env: { VLLM_USE_TRITON_FLASH_ATTN: '0' },
      slo: { ttftSeconds: 2, itlSeconds: 0.05 },
      fullSlidingWindowKv: false,
      kvCacheDtype: 'auto',
    });
  });
});

describe('ResourceSource', () => {
  it('points at the document start', () => {
    const source = spec.pools[1]!.source;
    expect({ file: source.file, line: source.line, col: source.col }).toEqual({ file: file('pools.yaml'), line: 12, col: 1 });
  });

  it('gives the position of a value by path, list items included', () => {
    const qwen = spec.models[1]!.source;
    expect(qwen.at('spec.tensorParallel')).toEqual({ file: file('models.yaml'), line: 21, col: 19 });
    expect(qwen.at('spec.pools.0')).toEqual({ file: file('models.yaml'), line: 23, col: 11 });
    expect(qwen.at('spec.slo.itlSeconds')).toEqual({ file: file('models.yaml'), line: 29, col: 17 });
    expect(spec.pools[0]!.source.at('spec.nodes.1')).toEqual({ file: file('pools.yaml'), line: 10, col: 7 });
  });

  it('falls back to the nearest ancestor that is written', () => {
    const llama = spec.models[0]!.source;
    expect(llama.at('spec.tensorParallel')).toEqual(llama.at('spec'));
    expect(llama.at('spec')).toEqual({ file: file('models.yaml'), line: 7, col: 3 });
    expect(llama.at('no.such.path')).toEqual({ file: file('models.yaml'), line: 2, col: 1 });
  });

  it('serializes as its position only', () => {
    expect(JSON.parse(JSON.stringify(spec.fleet.source))).toEqual({ file: file('fleet.yaml'), line: 2, col: 1 });
  });
});
