import type { Fleet, GpuProduct, Model, ModelSpec, NodePool, ProfileName, ResourceSource, Spec } from '../../api/types.ts';
import { defaultProfiles, gpuInfo } from '../../sizing/gpus.ts';
import { loadModelCatalog } from '../../sizing/model-catalog.ts';

/** Resolved resources built by hand, for sizing tests that do not go through the spec loader. */

export const catalog = loadModelCatalog().models;

export function source(file: string): ResourceSource {
  return { file, line: 1, col: 1, at: () => ({ file, line: 1, col: 1 }) };
}

export function fleet(): Fleet {
  return {
    kind: 'Fleet',
    metadata: { name: 'fleet', labels: {} },
    spec: {
      namespace: 'aim-models',
      systemNamespace: 'aim-system',
      images: { vllm: 'rocm/vllm@sha256:0', partitioner: 'partitioner@sha256:0' },
      deviceResourceNaming: 'single',
      isolation: 'devicePlugin',
      monitoring: {
        enabled: true,
        prometheusSelector: {},
        grafana: 'none',
        grafanaSidecarLabel: {},
        grafanaInstanceSelector: {},
      },
      gitops: {},
      planning: { headroomPercent: 5, allowUnschedulable: false, optimizer: 'heuristic', timeLimitSeconds: 30 },
    },
    source: source('fleet.yaml'),
  };
}

export function pool(name: string, gpu: GpuProduct, profiles: readonly ProfileName[] = defaultProfiles(gpu), gpusPerNode = gpuInfo(gpu).gpusPerNode): NodePool {
  return {
    kind: 'NodePool',
    metadata: { name, labels: {} },
    spec: {
      gpu,
      nodes: [`${name}-node-0`],
      gpusPerNode,
      profiles,
      allowMixedProfiles: false,
      usableMemoryFraction: gpuInfo(gpu).usableMemoryFraction,
      labels: {},
      taints: [],
    },
    source: source('pools.yaml'),
  };
}

export function model(name: string, spec: Partial<ModelSpec> & { model: string }): Model {
  return {
    kind: 'Model',
    metadata: { name, labels: {} },
    spec: {
      allowedPrecisions: ['bf16', 'fp8', 'int4'],
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
      ...spec,
    },
    source: source('models.yaml'),
  };
}

export function specOf(models: readonly Model[], pools: readonly NodePool[] = [pool('mi300x', 'MI300X')]): Spec {
  return { fleet: fleet(), pools, models };
}
