import type { Fleet, FleetSpec, Model, ModelSpec, NodePool, NodePoolSpec, ResourceSource } from '../../api/types.ts';

/**
 * Resolved spec resources built by hand, with the loader's defaults, for tests of the stages after
 * loading (sizing, constructs). The loader's own tests check that these defaults are the loader's.
 */

export function fixtureSource(file = 'specs/fixture.yaml'): ResourceSource {
  return { file, line: 1, col: 1, at: () => ({ file, line: 1, col: 1 }) };
}

const source = fixtureSource();

export const VLLM_IMAGE = `docker.io/vllm/vllm-openai-rocm:v0.19.0@sha256:${'a'.repeat(64)}`;
export const PARTITIONER_IMAGE = `ghcr.io/example/aim-partitioner:1.0.0@sha256:${'b'.repeat(64)}`;

export function fleet(spec: Partial<FleetSpec> = {}): Fleet {
  return {
    kind: 'Fleet',
    metadata: { name: 'prod', labels: {} },
    source,
    spec: {
      namespace: 'aim-models',
      systemNamespace: 'aim-system',
      images: { vllm: VLLM_IMAGE, partitioner: PARTITIONER_IMAGE },
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
        argocd: { repoURL: 'https://git.example.com/platform/gpu-fleet.git', path: 'dist', revision: 'main', namespace: 'argocd', project: 'default' },
        flux: { repoURL: 'https://git.example.com/platform/gpu-fleet.git', path: 'dist', revision: 'main', namespace: 'flux-system', interval: '10m' },
      },
      planning: { headroomPercent: 5, allowUnschedulable: false, optimizer: 'heuristic', timeLimitSeconds: 30 },
      partitioning: {
        backend: 'builtin',
        maxUnavailableNodes: 1,
        gpuOperator: { namespace: 'kube-amd-gpu', deviceConfig: 'gpu-operator', gpuClientSystemdServices: ['amd-metrics-exporter', 'gpuagent'] },
      },
      huggingFaceToken: { name: 'hf-token', key: 'HF_TOKEN' },
      ...spec,
    },
  };
}

export function pool(name: string, spec: Partial<NodePoolSpec> = {}): NodePool {
  return {
    kind: 'NodePool',
    metadata: { name, labels: {} },
    source,
    spec: {
      gpu: 'MI300X',
      nodes: [],
      gpusPerNode: 8,
      profiles: ['SPX-NPS1', 'CPX-NPS4'],
      allowMixedProfiles: false,
      usableMemoryFraction: 0.95,
      labels: {},
      taints: [{ key: 'amd.com/gpu', effect: 'NoSchedule' }],
      ...spec,
    },
  };
}

export function model(name: string, spec: Partial<ModelSpec> & Pick<ModelSpec, 'model'>): Model {
  return {
    kind: 'Model',
    metadata: { name, labels: {} },
    source,
    spec: {
      allowedPrecisions: ['bf16', 'fp8'],
      checkpoints: {},
      replicas: 1,
      concurrency: 1,
      tensorParallel: 'auto',
      priority: 'medium',
      pools: [],
      runtime: 'vllm',
      args: [],
      env: {},
      fullSlidingWindowKv: false,
      kvCacheDtype: 'auto',
      ...spec,
    },
  };
}
