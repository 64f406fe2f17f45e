import type { ComputeMode, GpuProduct, MemoryMode, Precision, ProfileName } from './vocabulary.ts';
import type { GpuProductInfo, PartitionProfile, PrecisionSupport } from './types.ts';

/**
 * The GPU catalog. Per-partition memory is the product's HBM divided evenly by the partition
 * count (AMD publishes it only for MI300X CPX, 24 GiB, and MI300A TPX/CPX); it is what the
 * planner packs against, scaled by the usable-memory fraction.
 *
 * Wrong figures seen in the original project documents, corrected here: MI325X has 256 GiB and
 * MI350X/MI355X have 288 GiB (not 192 GB); MI350P is 144 GiB / 128 CUs (not 128 GB) and is not a
 * supported product of this catalog.
 */

const GPU_SPECS = 'rocm.docs.amd.com/en/latest/reference/gpu-specs.html (ROCm/rocm-docs:docs/reference/gpu-specs.rst)';
const AMDSMI_MATRIX = 'amd-smi conceptual partition guide (ROCm/rocm-systems:projects/amdsmi/docs/conceptual/partition.md)';
const VALIDATED_MATRIX = 'AMD validated partition matrix (ROCm/amdgpu-docs:docs/gpu-partitioning/index.rst)';
const DRIVER_RULES = 'amdgpu driver aqua_vanjaram.c supported modes and __aqua_vanjaram_get_px_mode_info';

interface ProfileRow {
  readonly compute: ComputeMode;
  readonly memory: MemoryMode;
  readonly partitions: number;
  readonly validated: boolean;
  readonly source: string;
  /** Published per-partition memory where AMD gives one that is not an even split. */
  readonly memoryGiB?: number;
}

function profiles(totalGiB: number, totalCUs: number, rows: readonly ProfileRow[]): PartitionProfile[] {
  return rows.map((row) => ({
    name: `${row.compute}-${row.memory}` as ProfileName,
    compute: row.compute,
    memory: row.memory,
    partitionsPerGpu: row.partitions,
    memoryGiBPerPartition: row.memoryGiB ?? totalGiB / row.partitions,
    computeUnitsPerPartition: totalCUs / row.partitions,
    validated: row.validated,
    source: row.source,
  }));
}

const PRECISION_NOTES: Record<Precision, { support: PrecisionSupport; note: string }> = {
  bf16: { support: 'native', note: 'native 16-bit matrix cores' },
  fp16: { support: 'native', note: 'native 16-bit matrix cores' },
  fp8: {
    support: 'native',
    note: 'native FP8 (W8A8) matrix cores; vLLM quantization table "FP8 (W8A8) … AMD GPU ✅"',
  },
  int8: {
    support: 'unsupported',
    note: 'vLLM has no INT8 W8A8 kernel for AMD GPUs (quantization table marks it ❌); use fp8, which needs the same memory',
  },
  int4: {
    support: 'warning',
    note: 'AWQ/GPTQ run on ROCm through Triton kernels only (vLLM PR #7386): supported but slower than fp8',
  },
};

/** 8-XCD gfx942 parts (MI300X, MI325X) share the partition rules. */
function cdna3Profiles(totalGiB: number): PartitionProfile[] {
  return profiles(totalGiB, 304, [
    { compute: 'SPX', memory: 'NPS1', partitions: 1, validated: true, source: VALIDATED_MATRIX },
    { compute: 'DPX', memory: 'NPS1', partitions: 2, validated: false, source: AMDSMI_MATRIX },
    { compute: 'DPX', memory: 'NPS2', partitions: 2, validated: false, source: `${AMDSMI_MATRIX}; needs firmware NPS2 caps` },
    { compute: 'QPX', memory: 'NPS1', partitions: 4, validated: false, source: AMDSMI_MATRIX },
    { compute: 'QPX', memory: 'NPS4', partitions: 4, validated: false, source: AMDSMI_MATRIX },
    { compute: 'CPX', memory: 'NPS1', partitions: 8, validated: false, source: AMDSMI_MATRIX },
    { compute: 'CPX', memory: 'NPS4', partitions: 8, validated: true, source: `${VALIDATED_MATRIX} (ROCm 6.4)` },
  ]);
}

/** 8-XCD gfx950 parts (MI350X, MI355X): two IODs, so NPS1 or NPS2 only. */
function cdna4Profiles(): PartitionProfile[] {
  const caps = 'amd-smi partition --accelerator caps (rocm.blogs.amd.com multi-inf-engine-gpu-partition); GPU Operator DCM';
  return profiles(288, 256, [
    { compute: 'SPX', memory: 'NPS1', partitions: 1, validated: true, source: GPU_SPECS },
    { compute: 'DPX', memory: 'NPS1', partitions: 2, validated: false, source: caps },
    { compute: 'DPX', memory: 'NPS2', partitions: 2, validated: true, source: `AMD POR partition matrix for MI350X (DPX+NPS2); GPU Operator default DCM profile dpx_nps2_all` },
    { compute: 'QPX', memory: 'NPS1', partitions: 4, validated: false, source: caps },
    { compute: 'QPX', memory: 'NPS2', partitions: 4, validated: false, source: caps },
    { compute: 'CPX', memory: 'NPS1', partitions: 8, validated: false, source: caps },
    { compute: 'CPX', memory: 'NPS2', partitions: 8, validated: false, source: caps },
  ]);
}

export const GPU_CATALOG: Readonly<Record<GpuProduct, GpuProductInfo>> = {
  MI300X: {
    name: 'MI300X',
    architecture: 'CDNA3',
    llvmTarget: 'gfx942',
    xcds: 8,
    computeUnits: 304,
    memoryGiB: 192,
    gpusPerNode: 8,
    usableMemoryFraction: 0.95,
    profiles: cdna3Profiles(192),
    precisions: PRECISION_NOTES,
    source: `${GPU_SPECS}; ROCm/amdgpu-docs:docs/gpu-partitioning/mi300x/overview.rst (CPX = 8 × 38 CU, 24 GB)`,
  },
  MI325X: {
    name: 'MI325X',
    architecture: 'CDNA3',
    llvmTarget: 'gfx942',
    xcds: 8,
    computeUnits: 304,
    memoryGiB: 256,
    gpusPerNode: 8,
    usableMemoryFraction: 0.95,
    profiles: cdna3Profiles(256),
    precisions: PRECISION_NOTES,
    source: `${GPU_SPECS}; same 8-XCD gfx942 partition rules as MI300X (${AMDSMI_MATRIX})`,
  },
  MI300A: {
    name: 'MI300A',
    architecture: 'CDNA3',
    llvmTarget: 'gfx942',
    xcds: 6,
    computeUnits: 228,
    memoryGiB: 128,
    gpusPerNode: 4,
    // Unified HBM is shared with the APU's 24 Zen 4 cores, so less of it is the GPU's to give.
    usableMemoryFraction: 0.85,
    profiles: profiles(128, 228, [
      { compute: 'SPX', memory: 'NPS1', partitions: 1, validated: true, source: GPU_SPECS },
      { compute: 'TPX', memory: 'NPS1', partitions: 3, validated: true, memoryGiB: 32, source: `${VALIDATED_MATRIX} (ROCm 6.3); ROCm/amdgpu-docs:docs/gpu-partitioning/mi300a/overview.rst ("~32GB")` },
      { compute: 'CPX', memory: 'NPS1', partitions: 6, validated: true, memoryGiB: 16, source: `${VALIDATED_MATRIX} (ROCm 6.4); mi300a/overview.rst ("16GB")` },
    ]),
    precisions: PRECISION_NOTES,
    source: `${GPU_SPECS}; ${DRIVER_RULES} (6 XCC: SPX, TPX, CPX; NPS fixed at boot)`,
  },
  MI350X: {
    name: 'MI350X',
    architecture: 'CDNA4',
    llvmTarget: 'gfx950',
    xcds: 8,
    computeUnits: 256,
    memoryGiB: 288,
    gpusPerNode: 8,
    usableMemoryFraction: 0.95,
    profiles: cdna4Profiles(),
    precisions: PRECISION_NOTES,
    source: GPU_SPECS,
  },
  MI355X: {
    name: 'MI355X',
    architecture: 'CDNA4',
    llvmTarget: 'gfx950',
    xcds: 8,
    computeUnits: 256,
    memoryGiB: 288,
    gpusPerNode: 8,
    usableMemoryFraction: 0.95,
    profiles: cdna4Profiles(),
    precisions: PRECISION_NOTES,
    source: GPU_SPECS,
  },
};

export function gpuInfo(product: GpuProduct): GpuProductInfo {
  return GPU_CATALOG[product];
}

/** The product's profile of that name, or undefined when the combination is not valid on it. */
export function findProfile(product: GpuProduct, name: string): PartitionProfile | undefined {
  return GPU_CATALOG[product].profiles.find((p) => p.name === name);
}

/** Profiles a pool gets when it names none: the AMD-validated ones. */
export function defaultProfiles(product: GpuProduct): ProfileName[] {
  return GPU_CATALOG[product].profiles.filter((p) => p.validated).map((p) => p.name);
}
