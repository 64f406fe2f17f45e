import type { Precision, Priority } from '../api/types.ts';

// --------------------------------------------------------------------------------- Model catalog

/** Architecture facts of one model (one JSON file under `sizing/models/`). */
export interface ModelInfo {
  readonly id: string;
  readonly family: string;
  readonly architecture: string;
  readonly numHiddenLayers: number;
  readonly hiddenSize: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
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
  /** Weights of the whole model, before the tensor-parallel split. */
  readonly weightsGiB: number;
  /** KV bytes per token per sequence, whole model (before the tensor-parallel split). */
  readonly kvBytesPerToken: number;
  /** KV cache one rank holds for `concurrency` sequences of `maxModelLen` tokens. */
  readonly kvCacheGiB: number;
  /** Activation peak and non-torch memory of one rank. */
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
