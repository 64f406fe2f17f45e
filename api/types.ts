/**
 * The spec language, gpusharing.aim/v1alpha1: the resolved (defaults applied) shape every later
 * stage receives. The YAML a user writes is described by the JSON Schema `api/v1alpha1.schema.json`;
 * the loader turns it into these values and keeps a source map so every later check can still
 * point at a file, line and column.
 */

import type { GpuProduct, Precision, ProfileName } from '../hardware/vocabulary.ts';

/** The hardware vocabulary lives in the bottom layer; the spec language re-exports it. */
export { COMPUTE_MODES, GPU_PRODUCTS, MEMORY_MODES, PRECISIONS } from '../hardware/vocabulary.ts';
export type { ComputeMode, GpuProduct, MemoryMode, Precision, ProfileName } from '../hardware/vocabulary.ts';

export const API_VERSION = 'gpusharing.aim/v1alpha1';

/** Precisions a model may name a pre-quantized checkpoint for (`spec.checkpoints`). */
export const CHECKPOINT_PRECISIONS = ['fp8', 'int8', 'int4'] as const satisfies readonly Precision[];
export type PrecisionChoice = Precision | 'auto';

/** Planning order, highest first. */
export const PRIORITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const TENSOR_PARALLEL_DEGREES = [1, 2, 4, 8] as const;
export type TensorParallelDegree = (typeof TENSOR_PARALLEL_DEGREES)[number];

/** A position in a spec file (1-based line and column). */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/**
 * Where a resource came from. `at(path)` returns the position of the value at a dotted field path
 * inside the document (e.g. `spec.tensorParallel`, `spec.pools.1`), falling back to the closest
 * ancestor that exists, so checks made after loading still report an exact position.
 */
export interface ResourceSource extends SourceLocation {
  at(path: string): SourceLocation;
}

export interface Metadata {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------------------- Fleet

export type DeviceResourceNaming = 'single' | 'mixed';
export type Isolation = 'devicePlugin' | 'env';
export type Optimizer = 'heuristic' | 'exact';
export type GrafanaProvisioning = 'sidecar' | 'operator' | 'none';

export interface FleetImages {
  /** ROCm vLLM image, pinned by digest (`repo:tag@sha256:…`). */
  readonly vllm: string;
  /** Image carrying `amd-smi`, `kubectl`, `bash`, `python3` and `modprobe` (kmod), run by the partition DaemonSet. */
  readonly partitioner: string;
  /**
   * The vLLM release of the `vllm` image (`0.19.0`); sizing uses the engine constants of that
   * release, and releases older than the minimum supported one are rejected.
   * @default - the release the image tag names, else the release the constants are calibrated against
   */
  readonly vllmVersion?: string;
}

export interface FleetMonitoring {
  /** @default true */
  readonly enabled: boolean;
  /** Labels the Prometheus Operator selects PodMonitors/PrometheusRules by. @default { release: kube-prometheus-stack } */
  readonly prometheusSelector: Readonly<Record<string, string>>;
  /** @default sidecar */
  readonly grafana: GrafanaProvisioning;
  /** Label the Grafana sidecar watches for dashboard ConfigMaps. @default { grafana_dashboard: "1" } */
  readonly grafanaSidecarLabel: Readonly<Record<string, string>>;
  /** Labels a GrafanaDashboard CR's instanceSelector matches (operator mode). @default { dashboards: grafana } */
  readonly grafanaInstanceSelector: Readonly<Record<string, string>>;
}

export interface GitSource {
  readonly repoURL: string;
  /** Path of the rendered tree in the repository. @default dist */
  readonly path: string;
  /** @default main */
  readonly revision: string;
}

export interface FleetGitOps {
  /** Emit an Argo CD Application for the rendered tree. @default - none */
  readonly argocd?: GitSource & {
    /** @default argocd */
    readonly namespace: string;
    /** @default default */
    readonly project: string;
  };
  /** Emit a Flux GitRepository and chained Kustomizations. @default - none */
  readonly flux?: GitSource & {
    /** @default flux-system */
    readonly namespace: string;
    /** @default 10m */
    readonly interval: string;
  };
}

export interface FleetPlanning {
  /** Extra memory reserved on top of every replica's sized need, in percent. @default 5 */
  readonly headroomPercent: number;
  /** Let synth succeed when some replicas cannot be placed. @default false */
  readonly allowUnschedulable: boolean;
  /** @default heuristic */
  readonly optimizer: Optimizer;
  /** Time limit for the exact optimizer, after which the heuristic's plan is kept. @default 30 */
  readonly timeLimitSeconds: number;
}

/** Who changes a node's partitions: our amd-smi DaemonSet, or the GPU Operator's Device Config Manager. */
export const PARTITIONING_BACKENDS = ['builtin', 'gpu-operator'] as const;
export type PartitioningBackend = (typeof PARTITIONING_BACKENDS)[number];

/** The AMD GPU Operator installation the `gpu-operator` backend drives (its operands are restarted by both backends). */
export interface FleetGpuOperator {
  /** Namespace of the DeviceConfig, its DCM and operand pods; the DCM profiles ConfigMap goes here. @default kube-amd-gpu */
  readonly namespace: string;
  /** metadata.name of the DeviceConfig: its operand pods carry `daemonset-name=<name>`. @default gpu-operator */
  readonly deviceConfig: string;
  /** systemd units (without `.service`) DCM stops on the host before partitioning. @default [amd-metrics-exporter, gpuagent] */
  readonly gpuClientSystemdServices: readonly string[];
}

export interface FleetPartitioning {
  /** @default builtin */
  readonly backend: PartitioningBackend;
  readonly gpuOperator: FleetGpuOperator;
  /**
   * Nodes drained and repartitioned at the same time, fleet-wide: the partitioners (either backend)
   * share this many Leases. @default 1
   */
  readonly maxUnavailableNodes: number;
}

export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
}

export interface FleetSpec {
  /** Namespace of model serving. @default aim-models */
  readonly namespace: string;
  /** Namespace of node partition setup. @default aim-system */
  readonly systemNamespace: string;
  readonly images: FleetImages;
  /** @default single */
  readonly deviceResourceNaming: DeviceResourceNaming;
  /** @default devicePlugin */
  readonly isolation: Isolation;
  readonly monitoring: FleetMonitoring;
  readonly gitops: FleetGitOps;
  readonly planning: FleetPlanning;
  readonly partitioning: FleetPartitioning;
  /** Secret holding the Hugging Face token for gated models. @default - no token */
  readonly huggingFaceToken?: SecretKeyRef;
}

export interface Fleet {
  readonly kind: 'Fleet';
  readonly metadata: Metadata;
  readonly spec: FleetSpec;
  readonly source: ResourceSource;
}

// ------------------------------------------------------------------------------------- NodePool

export interface Taint {
  readonly key: string;
  /** @default - empty */
  readonly value?: string;
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface NodePoolSpec {
  readonly gpu: GpuProduct;
  /** `kubernetes.io/hostname` of every node in the pool. */
  readonly nodes: readonly string[];
  /** @default - the product's catalog value (8) */
  readonly gpusPerNode: number;
  /** Profiles the planner may choose from. @default - the product's AMD-validated profiles */
  readonly profiles: readonly ProfileName[];
  /** Allow different NPS1 profiles on the GPUs of one node. @default false */
  readonly allowMixedProfiles: boolean;
  /** Fraction of a partition's memory vLLM may be given. @default - the product's catalog value */
  readonly usableMemoryFraction: number;
  /**
   * Memory one GPU can allocate, which its partitions split (APUs only: an MI300A whose `amdttm`
   * page limit was raised). @default - the catalog's (96 GiB on MI300A)
   */
  readonly allocatableMemoryGiB?: number;
  /** @default {} */
  readonly labels: Readonly<Record<string, string>>;
  /** @default [] */
  readonly taints: readonly Taint[];
}

export interface NodePool {
  readonly kind: 'NodePool';
  readonly metadata: Metadata;
  readonly spec: NodePoolSpec;
  readonly source: ResourceSource;
}

// ---------------------------------------------------------------------------------------- Model

/** Architecture facts for a model that is not in the catalog (same fields as a catalog file). */
export interface ModelArchitecture {
  readonly numHiddenLayers: number;
  readonly hiddenSize: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  /** @default hiddenSize / numAttentionHeads */
  readonly headDim?: number;
  readonly vocabSize: number;
  /** Total parameters (all experts included). */
  readonly paramsTotal: number;
  /** Parameters kept 16-bit when quantized (embeddings, lm_head, vision tower). @default vocabSize * hiddenSize */
  readonly paramsKept16bit?: number;
  readonly maxPositionEmbeddings: number;
  /** @default bf16 */
  readonly dtype?: 'bf16' | 'fp16';
}

export interface ModelSlo {
  readonly ttftSeconds?: number;
  readonly itlSeconds?: number;
  readonly e2eSeconds?: number;
}

export type ServingRuntimeName = 'vllm' | 'sglang';

/** Memory reserved on top of each replica's sized need, unless the Fleet's planning says otherwise. */
export const DEFAULT_HEADROOM_PERCENT = 5;

/** The topology key of one domain per node. */
export const HOSTNAME_TOPOLOGY_KEY = 'kubernetes.io/hostname';

export type WhenUnsatisfiable = 'ScheduleAnyway' | 'DoNotSchedule';

/** Where a model's replicas should spread, in the style of Kubernetes topology spread constraints. */
export interface ModelSpread {
  /** `kubernetes.io/hostname` or a label the model's pools carry. @default kubernetes.io/hostname */
  readonly topologyKey: string;
  /** @default ScheduleAnyway */
  readonly whenUnsatisfiable: WhenUnsatisfiable;
}

export interface ModelSpec {
  /** Hugging Face id, e.g. `meta-llama/Llama-3.1-8B-Instruct`. */
  readonly model: string;
  /** Commit of `model` to pin; checkpoints pin their own. @default - the default branch */
  readonly revision?: string;
  /** Resolved by sizing. @default - the model's native dtype */
  readonly precision?: PrecisionChoice;
  /**
   * Candidates for `precision: auto`, highest first. `int4` may be listed only with
   * `checkpoints.int4`. @default [bf16, fp8]
   */
  readonly allowedPrecisions: readonly Precision[];
  /**
   * Pre-quantized checkpoints of the same model by precision (keys: `CHECKPOINT_PRECISIONS`),
   * each `org/name` or `org/name:revision` as in KServe's `hf://` URIs. A replica planned at one of
   * these precisions loads that checkpoint instead of `model`, and vLLM reads its quantization
   * from the checkpoint. `int4` (AWQ/GPTQ) needs one: vLLM cannot quantize to it on load; `fp8`
   * without one is quantized on load. @default {}
   */
  readonly checkpoints: Readonly<Partial<Record<Precision, string>>>;
  /** @default 1 */
  readonly replicas: number;
  /**
   * Replicas that must stay Ready while nodes drain (the model's PodDisruptionBudget): a number,
   * or a percentage of the placed replicas (`50%`, rounded up as Kubernetes does); 0 emits none.
   * @default - the placed replicas less the most the plan puts on one node (none when that is 0)
   */
  readonly minAvailable?: MinAvailable;
  /** Resolved by sizing. @default - min(model context, 8192) */
  readonly maxModelLen?: number;
  /** Full-length sequences the KV cache must hold at once. @default 1 */
  readonly concurrency: number;
  /** @default auto */
  readonly tensorParallel: TensorParallelDegree | 'auto';
  /** @default medium */
  readonly priority: Priority;
  /** Pools the model may run in. @default - every pool */
  readonly pools: readonly string[];
  /**
   * Spread as far as the fleet allows. Without it, replicas still span two nodes where the pools
   * allow (one node's reboot never takes the model down). @default - two nodes, best effort
   */
  readonly spread?: ModelSpread;
  /** `sglang` is rejected until the Fleet has an image for it. @default vllm */
  readonly runtime: ServingRuntimeName;
  /** Extra engine arguments, appended after the derived ones. @default [] */
  readonly args: readonly string[];
  /** @default {} */
  readonly env: Readonly<Record<string, string>>;
  /** @default - no SLO alerts */
  readonly slo?: ModelSlo;
  /** @default - from the model catalog */
  readonly architecture?: ModelArchitecture;
  /** Per-replica memory override (all tensor-parallel ranks together), in GiB. @default - sized */
  readonly memoryGiB?: number;
  /**
   * Size sliding-window layers for the full context, for engines without vLLM's hybrid KV cache
   * manager. @default false
   */
  readonly fullSlidingWindowKv: boolean;
  /**
   * KV cache element type: `auto` keeps the model's 16-bit dtype; `fp8` halves the cache (scale 1.0
   * unless the checkpoint carries calibrated KV scales, an accuracy risk). A served checkpoint with
   * calibrated scales (`amd/*-FP8-KV`) gets fp8 either way. @default auto
   */
  readonly kvCacheDtype: KvCacheDtypeChoice;
}

/** Kubernetes' IntOrString as a PodDisruptionBudget reads it: a count, or `<0–100>%`. */
export type MinAvailable = number | `${number}%`;

export const KV_CACHE_DTYPES = ['auto', 'fp8'] as const;
export type KvCacheDtypeChoice = (typeof KV_CACHE_DTYPES)[number];

export interface Model {
  readonly kind: 'Model';
  readonly metadata: Metadata;
  readonly spec: ModelSpec;
  readonly source: ResourceSource;
}

// ----------------------------------------------------------------------------------- Documents

/** Every resource of a spec directory, each kind sorted by name. */
export interface Spec {
  readonly fleet: Fleet;
  readonly pools: readonly NodePool[];
  readonly models: readonly Model[];
}

export type Severity = 'error' | 'warning';

/** One problem, printed `file:line:col: severity: path: message`. */
export interface Diagnostic extends SourceLocation {
  readonly severity: Severity;
  /** Dotted field path inside the document, e.g. `spec.replicas`; empty for the whole document. */
  readonly path: string;
  readonly message: string;
}
