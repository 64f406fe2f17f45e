import type { Precision, Priority } from '../api/types.ts';
import type { BatchLimits } from './engine.ts';
import type { KvCacheDtype } from './precision.ts';

// --------------------------------------------------------------------------------- Model catalog

/** Architecture facts of one model (one JSON file under `sizing/models/`). */
export interface ModelInfo {
  readonly id: string;
  readonly family: string;
  readonly architecture: string;
  /** `config.model_type`: the key of vLLM's per-family rules. */
  readonly modelType: string;
  readonly numHiddenLayers: number;
  readonly hiddenSize: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  /** MLP intermediate sizes, dense and expert: inputs of the row-parallel down projections. */
  readonly intermediateSizes: readonly number[];
  readonly vocabSize: number;
  readonly maxPositionEmbeddings: number;
  readonly dtype: 'bf16' | 'fp16';
  /**
   * Precision the published checkpoint stores its weights in, when it is quantized (DeepSeek-V3
   * ships FP8). A model served without an explicit precision runs at this one. @default - dtype
   */
  readonly checkpointPrecision?: 'fp8' | 'int8' | 'int4';
  readonly paramsTotal: number;
  readonly paramsActive: number;
  readonly paramsKept16bit: number;
  readonly multimodal: boolean;
  readonly moe: { readonly experts: number; readonly expertsPerToken: number } | null;
  readonly mla: { readonly kvLoraRank: number; readonly qkRopeHeadDim: number } | null;
  /** Sliding-window (Gemma 3) or chunked-local (Llama 4) attention layers and their window. */
  readonly slidingWindow: { readonly window: number; readonly slidingLayers: number; readonly fullLayers: number } | null;
  /** Layers that cache K/V per text token (cross-attention layers excluded). */
  readonly kvLayers: number;
  /** Set when no supported vLLM release serves the model. */
  readonly unsupported?: { readonly reason: string; readonly source: string };
  readonly source: {
    readonly config: string;
    readonly notes?: string;
    /** Copies of the config actually read, when the canonical one was not. */
    readonly verifiedVia?: readonly string[];
    readonly confidence?: 'high' | 'medium' | 'low';
  };
}

// ------------------------------------------------------------------------------------ Estimates

/** Memory of one replica at one (precision, tensor parallelism), per tensor-parallel rank. */
export interface MemoryEstimate {
  readonly precision: Precision;
  readonly tensorParallel: number;
  readonly maxModelLen: number;
  readonly concurrency: number;
  readonly batch: BatchLimits;
  readonly kvCacheDtype: KvCacheDtype;
  /** Weights of the whole model, before the tensor-parallel split. */
  readonly weightsGiB: number;
  /** KV bytes per token per sequence, every layer, whole model (before the tensor-parallel split). */
  readonly kvBytesPerToken: number;
  /** KV pool one rank needs for `concurrency` requests of `maxModelLen` tokens, as vLLM allocates them. */
  readonly kvCacheGiB: number;
  /** Activation peak of the profiling run at `batch`. */
  readonly activationGiB: number;
  /** Runtime and communication buffers outside torch's allocator. */
  readonly nonTorchGiB: number;
  /** activationGiB + nonTorchGiB. */
  readonly overheadGiB: number;
  /** What one rank needs: weights/TP + KV per rank + overhead. */
  readonly totalGiB: number;
}

// -------------------------------------------------------------------------------------- Demands

/** One way to serve a model: a precision, a tensor-parallel degree, and the memory each rank needs. */
export interface DemandOption {
  readonly precision: Precision;
  readonly tensorParallel: number;
  /** Memory one rank needs, headroom not included. */
  readonly memoryGiBPerPartition: number;
  /**
   * How a replica at this option is started in a partition it holds alone (`sizing/serving.ts`).
   * @default - `opaqueServing`: the whole partition, vLLM's batch defaults, KV unknown
   */
  readonly serve?: (partition: PartitionBudget) => ReplicaServing;
}

/** The partition a replica holds, and the fleet's headroom on the sized need. */
export interface PartitionBudget {
  readonly memoryGiB: number;
  readonly usableMemoryFraction: number;
  readonly headroomPercent: number;
}

/** The engine flags and KV capacity of one replica in its partition (per rank unless said). */
export interface ReplicaServing {
  readonly gpuMemoryUtilization: number;
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  /** Memory one rank needs at these batch limits, headroom not included. */
  readonly memoryGiBPerPartition: number;
  /** The KV pool vLLM allocates, all ranks together; absent for a model known only by its memory. */
  readonly kv?: {
    readonly cacheGiB: number;
    /** vLLM's "GPU KV cache size: N tokens". */
    readonly tokens: number;
    /** Requests of `--max-model-len` tokens the pool holds at once. */
    readonly sequences: number;
  };
}

/**
 * What the planner must place for one Model: `replicas` copies of one option. Options are in
 * preference order (highest precision first, then smallest tensor parallelism); the planner uses
 * the first that fits, choosing precision jointly when `precisionAuto` is set.
 */
export interface ModelDemand {
  /** Model resource name (`metadata.name`). */
  readonly model: string;
  readonly priority: Priority;
  readonly replicas: number;
  /** Pools the model may be placed in (already resolved from `spec.pools`). */
  readonly pools: readonly string[];
  readonly precisionAuto: boolean;
  readonly options: readonly DemandOption[];
  /** Spread the replicas over topology domains (absent: no spread asked). */
  readonly spread?: DemandSpread;
}

export interface DemandSpread {
  /** `kubernetes.io/hostname` or a label of the pools. */
  readonly topologyKey: string;
  /** DoNotSchedule: a replica never shares a domain while one it may use is free. */
  readonly hard: boolean;
  /** Domains worth spanning at most (the default availability spread: 2); absent: as many as there are. */
  readonly maxDomains?: number;
}
