import type { ComputeMode, GpuProduct, MemoryMode, Precision, ProfileName } from './vocabulary.ts';

// ----------------------------------------------------------------------------------- GPU catalog

/** One valid (compute mode, memory mode) combination of a product. */
export interface PartitionProfile {
  readonly name: ProfileName;
  readonly compute: ComputeMode;
  readonly memory: MemoryMode;
  /** Logical GPUs (partitions) one physical GPU becomes. */
  readonly partitionsPerGpu: number;
  readonly memoryGiBPerPartition: number;
  readonly computeUnitsPerPartition: number;
  /** Validated by AMD (a pool may use it by default); otherwise only driver-valid (opt-in). */
  readonly validated: boolean;
  readonly source: string;
  /** The oldest driver that offers the mode, where it is newer than the product's first one. */
  readonly minimumDriver?: string;
}

/** How a product runs a precision: natively, accepted with a warning, or not at all. */
export type PrecisionSupport = 'native' | 'warning' | 'unsupported';

export interface GpuProductInfo {
  readonly name: GpuProduct;
  readonly architecture: string;
  readonly llvmTarget: string;
  readonly xcds: number;
  readonly computeUnits: number;
  /** HBM of one GPU (of one APU, CPU and GPU together, on MI300A). */
  readonly memoryGiB: number;
  /**
   * What the GPU can allocate by default, when less than `memoryGiB`: an MI300A's HIP allocations
   * are capped by the `amdttm` page limit. Partition sizes derive from it; a NodePool may override it.
   */
  readonly allocatableMemoryGiB?: number;
  readonly gpusPerNode: number;
  /** Default fraction of a partition's memory vLLM may be given. */
  readonly usableMemoryFraction: number;
  /** Pools may mix per-GPU modes only among NPS1 profiles (memory mode is node-wide). */
  readonly profiles: readonly PartitionProfile[];
  readonly precisions: Readonly<Record<Precision, { readonly support: PrecisionSupport; readonly note: string }>>;
  readonly source: string;
}
