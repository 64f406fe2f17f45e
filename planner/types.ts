import type { ComputeMode, GpuProduct, MemoryMode, Precision } from '../api/types.ts';

/**
 * The plan: `dist/plan.json`, a public contract (CI diffs it; the next run starts from it). Key
 * order and array order are deterministic: nodes by name, GPUs and partitions by index, replicas by
 * id, unschedulable by id.
 */
export interface Plan {
  readonly apiVersion: 'gpusharing.aim/v1alpha1';
  readonly kind: 'Plan';
  readonly nodes: readonly PlanNode[];
  readonly replicas: readonly PlanReplica[];
  readonly unschedulable: readonly UnschedulableReplica[];
  /** Per model that can run anywhere, by name: what the planner chose for it and why. */
  readonly models: readonly PlanModel[];
  readonly summary: PlanSummary;
}

/** The planner's decisions for one model, shared by all its replicas. */
export interface PlanModel {
  readonly name: string;
  readonly precision: Precision;
  readonly tensorParallel: number;
  /** Why this degree, e.g. "auto: 2 ranks on 24 GiB partitions, 0.25 GPU a replica (1: 1 GPU)". */
  readonly tensorParallelReason: string;
  readonly replicas: number;
  readonly placed: number;
  /** Distinct nodes its placed replicas run on. */
  readonly nodes: number;
  /** How the replicas spread over topology domains; absent when no spread is asked. */
  readonly spread?: PlanSpread;
}

export interface PlanSpread {
  readonly topologyKey: string;
  readonly whenUnsatisfiable: 'ScheduleAnyway' | 'DoNotSchedule';
  /** Domains its placed replicas span. */
  readonly domains: number;
  /** Domains they should span: min(placed replicas, domains its pools offer, 2 without spec.spread). */
  readonly wanted: number;
}

export interface PlanProfile {
  readonly compute: ComputeMode;
  readonly memory: MemoryMode;
}

export interface PlanNode {
  readonly name: string;
  readonly pool: string;
  readonly gpu: GpuProduct;
  /** The node's profile; on a mixed node, the profile of GPU 0 (each GPU carries its own). */
  readonly profile: PlanProfile;
  /** True when the pool allows mixed profiles and this node's GPUs differ. */
  readonly mixed: boolean;
  readonly gpus: readonly PlanGpu[];
}

export interface PlanGpu {
  readonly index: number;
  readonly profile: PlanProfile;
  readonly partitions: readonly PlanPartition[];
}

export interface PlanPartition {
  readonly index: number;
  readonly memoryGiB: number;
  readonly computeUnits: number;
  /** Replica id (`<model>#<n>`) holding this partition; absent when free. */
  readonly replica?: string;
}

export interface PartitionRef {
  readonly gpu: number;
  readonly partition: number;
}

export interface PlanReplica {
  /** `<model>#<ordinal>`, ordinal from 0. */
  readonly id: string;
  readonly model: string;
  readonly node: string;
  readonly precision: Precision;
  readonly tensorParallel: number;
  /** Sized memory of the whole replica (all ranks) at its batch limits, headroom not included. */
  readonly memoryGiB: number;
  /** `--gpu-memory-utilization`: everything vLLM may use of its partition (`sizing/budget.ts`). */
  readonly gpuMemoryUtilization: number;
  /** `--max-num-batched-tokens` and `--max-num-seqs`, chosen for the partition. */
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  /** The KV pool vLLM will allocate, all ranks together (absent for a model known only by its memory). */
  readonly kvCacheGiB?: number;
  /** vLLM's "GPU KV cache size" in tokens. */
  readonly kvCacheTokens?: number;
  /** Requests of the full `--max-model-len` the pool holds at once (at least the model's `concurrency`). */
  readonly maxSequences?: number;
  /** `tensorParallel` partitions of one size on `node`. */
  readonly partitions: readonly PartitionRef[];
  /** How its pod is replaced when it changes (`rollout.ts`); absent in plans older than 0.3. */
  readonly rollout?: PlanRollout;
}

/**
 * `surge`: the new pod starts first and the old one stops once the new one is Ready (a move to
 * another node or partitions, or onto a repartitioned node, where the new pod cannot take the old
 * one's partitions anyway). `recreate`: the old pod stops first (a change in place, which has no
 * spare partition to start in, or a move in a cycle of moves that no order can make first).
 */
export type RolloutStrategy = 'surge' | 'recreate';

export interface PlanRollout {
  readonly strategy: RolloutStrategy;
  /**
   * Fingerprint of everything the replica's pod is made from (its model's serving fields, the
   * fleet's images, its node, profile, partitions and sizing). The strategy is decided when it
   * changes and kept while it does not, so that running the compiler twice changes nothing.
   */
  readonly inputs: string;
  /** Why a moved replica stops before its replacement starts. */
  readonly note?: string;
}

export interface UnschedulableReplica {
  readonly id: string;
  readonly model: string;
  /** Names the binding constraint, e.g. "needs 2 partitions of ≥ 96 GiB on one node; …". */
  readonly reason: string;
}

export interface PlanSummary {
  /** GPUs in the fleet. */
  readonly gpus: number;
  readonly gpusUsed: number;
  /** A lower bound on gpusUsed for the placed demand (pooled bin packing, node boundaries ignored). */
  readonly lowerBound: number;
  readonly nodesUsed: number;
  readonly replicas: number;
  readonly placed: number;
  /** KV pools of the placed replicas, summed (replicas of known architecture). */
  readonly kvCacheGiB: number;
  /**
   * Memory vLLM gets beyond the sized need of every placed replica, summed: KV cache over the
   * minimum the models ask for (what used to be stranded in a partition).
   */
  readonly kvHeadroomGiB: number;
  /** Against the previous plan: replicas now on another node or partitions. */
  readonly replicaMoves: number;
  /** Against the previous plan: nodes whose profile changed (each one evicts its pods). */
  readonly profileChanges: number;
  /** GPUs spread costs: gpusUsed minus the GPUs of the same plan made without spread (0 when none). */
  readonly spreadGpus: number;
  /** heuristic, or exact when HiGHS proved the optimum. */
  readonly optimizer: 'heuristic' | 'exact';
}
