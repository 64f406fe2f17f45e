import type { ComputeMode, GpuProduct, MemoryMode, Precision, ProfileName } from './vocabulary.ts';
import type { GpuProductInfo, PartitionProfile, PrecisionSupport } from './types.ts';

/**
 * The GPU catalog. Per-partition memory is the product's allocatable memory divided evenly by the
 * partition count (AMD publishes it only for MI300X CPX, 24 GiB, and MI300A TPX/CPX); it is what
 * the planner packs against and what vLLM sees as its device.
 *
 * Wrong figures seen in the original project documents, corrected here: MI325X has 256 GiB and
 * MI350X/MI355X have 288 GiB (not 192 GB); MI350P is 144 GiB / 128 CUs (not 128 GB) and is not a
 * supported product of this catalog.
 */

const GPU_SPECS = 'rocm.docs.amd.com/en/latest/reference/gpu-specs.html (ROCm/rocm-docs:docs/reference/gpu-specs.rst)';
const AMDSMI_MATRIX = 'amd-smi conceptual partition guide (ROCm/rocm-systems:projects/amdsmi/docs/conceptual/partition.md)';
const VALIDATED_MATRIX = 'AMD validated partition matrix (ROCm/amdgpu-docs:docs/gpu-partitioning/index.rst, newest revision)';
const DRIVER_RULES = 'amdgpu driver aqua_vanjaram.c supported modes and __aqua_vanjaram_get_px_mode_info';

interface ProfileRow {
  readonly compute: ComputeMode;
  readonly memory: MemoryMode;
  readonly partitions: number;
  readonly validated: boolean;
  readonly source: string;
  readonly minimumDriver?: string;
}

/** Partitions split the GPU's memory evenly (KFD reports memory-partition size ÷ XCPs in it). */
function profiles(totalGiB: number, totalCUs: number, rows: readonly ProfileRow[]): PartitionProfile[] {
  return rows.map((row) => ({
    name: `${row.compute}-${row.memory}` as ProfileName,
    compute: row.compute,
    memory: row.memory,
    partitionsPerGpu: row.partitions,
    memoryGiBPerPartition: totalGiB / row.partitions,
    computeUnitsPerPartition: totalCUs / row.partitions,
    validated: row.validated,
    source: row.source,
    ...(row.minimumDriver !== undefined && { minimumDriver: row.minimumDriver }),
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

/**
 * 8-XCD gfx942 parts (MI300X, MI325X) share the driver's partition rules; AMD validates different
 * subsets: on MI300X SPX+NPS1, CPX+NPS4 and DPX+NPS2; on MI325X SPX+NPS1 only (CPX+NPS4 and
 * DPX+NPS2 are "NA" on bare metal).
 */
function cdna3Profiles(totalGiB: number, validated: readonly ProfileName[]): PartitionProfile[] {
  const row = (compute: ComputeMode, memory: MemoryMode, partitions: number, source: string): ProfileRow => {
    const ok = validated.includes(`${compute}-${memory}`);
    return { compute, memory, partitions, validated: ok, source: ok ? VALIDATED_MATRIX : source };
  };
  return profiles(totalGiB, 304, [
    row('SPX', 'NPS1', 1, AMDSMI_MATRIX),
    row('DPX', 'NPS1', 2, AMDSMI_MATRIX),
    row('DPX', 'NPS2', 2, `${AMDSMI_MATRIX}; needs firmware NPS2 caps`),
    row('QPX', 'NPS1', 4, AMDSMI_MATRIX),
    row('QPX', 'NPS4', 4, AMDSMI_MATRIX),
    row('CPX', 'NPS1', 8, AMDSMI_MATRIX),
    row('CPX', 'NPS4', 8, AMDSMI_MATRIX),
  ]);
}

/**
 * 8-XCD gfx950 parts (MI350X, MI355X): two IODs, so NPS1 or NPS2 only. AMD validates SPX+NPS1 and
 * DPX+NPS2; the driver accepts QPX and CPX with NPS2 from the amdgpu patch "Update supported modes
 * for GC v9.5.0" (July 2025), shipped in ROCm 7.0.
 */
function cdna4Profiles(): PartitionProfile[] {
  const caps = 'amd-smi partition --accelerator caps (rocm.blogs.amd.com multi-inf-engine-gpu-partition); GPU Operator DCM';
  const nps2Driver = 'ROCm 7.0 (amdgpu "Update supported modes for GC v9.5.0", July 2025)';
  return profiles(288, 256, [
    { compute: 'SPX', memory: 'NPS1', partitions: 1, validated: true, source: `${VALIDATED_MATRIX}; ${GPU_SPECS}` },
    { compute: 'DPX', memory: 'NPS1', partitions: 2, validated: false, source: caps },
    { compute: 'DPX', memory: 'NPS2', partitions: 2, validated: true, source: `${VALIDATED_MATRIX}; GPU Operator default DCM profile dpx_nps2_all` },
    { compute: 'QPX', memory: 'NPS1', partitions: 4, validated: false, source: caps },
    { compute: 'QPX', memory: 'NPS2', partitions: 4, validated: false, source: caps, minimumDriver: nps2Driver },
    { compute: 'CPX', memory: 'NPS1', partitions: 8, validated: false, source: caps },
    { compute: 'CPX', memory: 'NPS2', partitions: 8, validated: false, source: caps, minimumDriver: nps2Driver },
  ]);
}

/**
 * MI300A: HIP allocates at most the `amdttm` page limit, 96 GiB of the 128 GiB by default
 * (ROCm/rocm-docs system-optimization/mi300a.rst), and the driver gives each partition that limit
 * ÷ XCPs (`amdgpu_amdkfd_xcp_memory_size`): 96 / 32 / 16 GiB in SPX / TPX / CPX. AMD's matrix
 * now validates SPX+NPS1 only; the MI300A overview still documents TPX and CPX.
 */
export const MI300A_ALLOCATABLE_GIB = 96;

function apuProfiles(allocatableGiB: number): PartitionProfile[] {
  const contested = `${VALIDATED_MATRIX} lists "SPX + NPS1 only"; ROCm/amdgpu-docs:docs/gpu-partitioning/mi300a/overview.rst still documents it`;
  return profiles(allocatableGiB, 228, [
    { compute: 'SPX', memory: 'NPS1', partitions: 1, validated: true, source: `${VALIDATED_MATRIX}; ${GPU_SPECS}` },
    { compute: 'TPX', memory: 'NPS1', partitions: 3, validated: false, source: contested },
    { compute: 'CPX', memory: 'NPS1', partitions: 6, validated: false, source: contested },
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
    profiles: cdna3Profiles(192, ['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS4']),
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
    profiles: cdna3Profiles(256, ['SPX-NPS1']),
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
    allocatableMemoryGiB: MI300A_ALLOCATABLE_GIB,
    gpusPerNode: 4,
    // Kept below the discrete parts' 0.95: the page limit caps the GPU's allocations but reserves
    // nothing, and the 24 Zen 4 cores allocate from the same HBM.
    usableMemoryFraction: 0.85,
    profiles: apuProfiles(MI300A_ALLOCATABLE_GIB),
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

/**
 * The profile as a pool's GPUs offer it: with `allocatableMemoryGiB` (an MI300A pool whose
 * `amdttm` page limit was raised) the partitions split that instead of the catalog default.
 */
export function poolProfile(product: GpuProduct, name: string, allocatableMemoryGiB?: number): PartitionProfile | undefined {
  const profile = findProfile(product, name);
  if (!profile || allocatableMemoryGiB === undefined) return profile;
  return { ...profile, memoryGiBPerPartition: allocatableMemoryGiB / profile.partitionsPerGpu };
}

/** Profiles a pool gets when it names none: the AMD-validated ones. */
export function defaultProfiles(product: GpuProduct): ProfileName[] {
  return GPU_CATALOG[product].profiles.filter((p) => p.validated).map((p) => p.name);
}
