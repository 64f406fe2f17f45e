import { defaultProfiles, gpuInfo } from '../hardware/gpus.ts';
import { DEFAULT_HEADROOM_PERCENT, HOSTNAME_TOPOLOGY_KEY } from './types.ts';
import type {
  Fleet,
  FleetGitOps,
  FleetMonitoring,
  FleetPartitioning,
  FleetPlanning,
  FleetSpec,
  Metadata,
  Model,
  ModelArchitecture,
  ModelSpec,
  NodePool,
  NodePoolSpec,
  Precision,
  ResourceSource,
} from './types.ts';

/**
 * Defaults: a document the schema accepted → the resolved resource every later stage receives.
 * Each default here is the `@default` of `api/types.ts` and the `default` of the JSON Schema
 * (a test keeps the two in step). Catalog-dependent ones come from `hardware/gpus.ts`.
 */

/** What a user may leave out: every field optional, nested objects included. */
type Written<T> = { readonly [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? Written<T[K]> : T[K] };

export interface WrittenDocument<S> {
  readonly metadata: Written<Metadata> & { readonly name: string };
  readonly spec: Written<S>;
}

/** int4 is left out: it needs a pre-quantized checkpoint the user names (`spec.checkpoints.int4`). */
export const DEFAULT_ALLOWED_PRECISIONS: readonly Precision[] = ['bf16', 'fp8'];

export function resolveFleet<S extends ResourceSource>(doc: WrittenDocument<FleetSpec>, source: S): Fleet & { readonly source: S } {
  const spec = doc.spec;
  return {
    kind: 'Fleet',
    metadata: metadata(doc),
    spec: {
      namespace: spec.namespace ?? 'aim-models',
      systemNamespace: spec.systemNamespace ?? 'aim-system',
      images: {
        vllm: spec.images!.vllm!,
        partitioner: spec.images!.partitioner!,
        ...(spec.images!.vllmVersion !== undefined && { vllmVersion: spec.images!.vllmVersion }),
      },
      deviceResourceNaming: spec.deviceResourceNaming ?? 'single',
      isolation: spec.isolation ?? 'devicePlugin',
      monitoring: monitoring(spec.monitoring ?? {}),
      gitops: gitops(spec.gitops ?? {}),
      planning: planning(spec.planning ?? {}),
      partitioning: partitioning(spec.partitioning ?? {}),
      ...(spec.huggingFaceToken && { huggingFaceToken: { name: spec.huggingFaceToken.name!, key: spec.huggingFaceToken.key ?? 'HF_TOKEN' } }),
    },
    source,
  };
}

function monitoring(m: Written<FleetMonitoring>): FleetMonitoring {
  return {
    enabled: m.enabled ?? true,
    prometheusSelector: strings(m.prometheusSelector ?? { release: 'kube-prometheus-stack' }),
    grafana: m.grafana ?? 'sidecar',
    grafanaSidecarLabel: strings(m.grafanaSidecarLabel ?? { grafana_dashboard: '1' }),
    grafanaInstanceSelector: strings(m.grafanaInstanceSelector ?? { dashboards: 'grafana' }),
  };
}

function gitops(g: Written<FleetGitOps>): FleetGitOps {
  const { argocd, flux } = g;
  return {
    ...(argocd && {
      argocd: {
        repoURL: argocd.repoURL!,
        path: argocd.path ?? 'dist',
        revision: argocd.revision ?? 'main',
        namespace: argocd.namespace ?? 'argocd',
        project: argocd.project ?? 'default',
      },
    }),
    ...(flux && {
      flux: {
        repoURL: flux.repoURL!,
        path: flux.path ?? 'dist',
        revision: flux.revision ?? 'main',
        namespace: flux.namespace ?? 'flux-system',
        interval: flux.interval ?? '10m',
      },
    }),
  };
}

function planning(p: Written<FleetPlanning>): FleetPlanning {
  return {
    headroomPercent: p.headroomPercent ?? DEFAULT_HEADROOM_PERCENT,
    allowUnschedulable: p.allowUnschedulable ?? false,
    optimizer: p.optimizer ?? 'heuristic',
    timeLimitSeconds: p.timeLimitSeconds ?? 30,
  };
}

/** The GPU Operator's documented defaults (ROCm/gpu-operator docs/dcm: namespace, DeviceConfig, systemd units). */
export const DEFAULT_GPU_OPERATOR = {
  namespace: 'kube-amd-gpu',
  deviceConfig: 'gpu-operator',
  gpuClientSystemdServices: ['amd-metrics-exporter', 'gpuagent'],
} as const;

function partitioning(p: Written<FleetPartitioning>): FleetPartitioning {
  const operator = p.gpuOperator ?? {};
  return {
    backend: p.backend ?? 'builtin',
    maxUnavailableNodes: p.maxUnavailableNodes ?? 1,
    gpuOperator: {
      namespace: operator.namespace ?? DEFAULT_GPU_OPERATOR.namespace,
      deviceConfig: operator.deviceConfig ?? DEFAULT_GPU_OPERATOR.deviceConfig,
      gpuClientSystemdServices: [...(operator.gpuClientSystemdServices ?? DEFAULT_GPU_OPERATOR.gpuClientSystemdServices)],
    },
  };
}

export function resolveNodePool<S extends ResourceSource>(doc: WrittenDocument<NodePoolSpec>, source: S): NodePool & { readonly source: S } {
  const spec = doc.spec;
  const gpu = spec.gpu!;
  const catalog = gpuInfo(gpu);
  return {
    kind: 'NodePool',
    metadata: metadata(doc),
    spec: {
      gpu,
      nodes: [...spec.nodes!],
      gpusPerNode: spec.gpusPerNode ?? catalog.gpusPerNode,
      profiles: [...(spec.profiles ?? defaultProfiles(gpu))],
      allowMixedProfiles: spec.allowMixedProfiles ?? false,
      usableMemoryFraction: spec.usableMemoryFraction ?? catalog.usableMemoryFraction,
      ...(spec.allocatableMemoryGiB !== undefined && { allocatableMemoryGiB: spec.allocatableMemoryGiB }),
      labels: strings(spec.labels ?? {}),
      taints: (spec.taints ?? []).map((t) => ({ key: t.key!, ...(t.value !== undefined && { value: t.value }), effect: t.effect! })),
    },
    source,
  };
}

/** `allPools`: every NodePool name, sorted, which a model without `pools` may run in. */
export function resolveModel<S extends ResourceSource>(
  doc: WrittenDocument<ModelSpec>,
  source: S,
  allPools: readonly string[],
): Model & { readonly source: S } {
  const spec = doc.spec;
  return {
    kind: 'Model',
    metadata: metadata(doc),
    spec: {
      model: spec.model!,
      ...(spec.revision !== undefined && { revision: spec.revision }),
      ...(spec.precision !== undefined && { precision: spec.precision }),
      allowedPrecisions: [...(spec.allowedPrecisions ?? DEFAULT_ALLOWED_PRECISIONS)],
      checkpoints: strings(spec.checkpoints ?? {}),
      replicas: spec.replicas ?? 1,
      ...(spec.minAvailable !== undefined && { minAvailable: spec.minAvailable }),
      ...(spec.maxModelLen !== undefined && { maxModelLen: spec.maxModelLen }),
      concurrency: spec.concurrency ?? 1,
      tensorParallel: spec.tensorParallel ?? 'auto',
      priority: spec.priority ?? 'medium',
      pools: [...(spec.pools ?? allPools)],
      ...(spec.spread !== undefined && {
        spread: {
          topologyKey: spec.spread.topologyKey ?? HOSTNAME_TOPOLOGY_KEY,
          whenUnsatisfiable: spec.spread.whenUnsatisfiable ?? 'ScheduleAnyway',
        },
      }),
      runtime: spec.runtime ?? 'vllm',
      args: [...(spec.args ?? [])],
      env: strings(spec.env ?? {}),
      ...(spec.slo !== undefined && { slo: { ...spec.slo } }),
      ...(spec.architecture !== undefined && { architecture: { ...spec.architecture, dtype: spec.architecture.dtype ?? 'bf16' } as ModelArchitecture }),
      ...(spec.memoryGiB !== undefined && { memoryGiB: spec.memoryGiB }),
      fullSlidingWindowKv: spec.fullSlidingWindowKv ?? false,
      kvCacheDtype: spec.kvCacheDtype ?? 'auto',
    },
    source,
  };
}

function metadata(doc: WrittenDocument<unknown>): Metadata {
  return { name: doc.metadata.name, labels: strings(doc.metadata.labels ?? {}) };
}

/** A fresh copy of a string map, in the order written (env order matters for `$(VAR)` references). */
function strings(map: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
