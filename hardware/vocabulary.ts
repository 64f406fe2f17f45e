/**
 * The hardware vocabulary: the words every layer uses for GPUs, their partition modes and the
 * precisions a model's weights can take. The bottom layer: it imports nothing from the project.
 */

/** Weight precisions a model can be served at. */
export const PRECISIONS = ['bf16', 'fp16', 'fp8', 'int8', 'int4'] as const;
export type Precision = (typeof PRECISIONS)[number];

export const GPU_PRODUCTS = ['MI300X', 'MI325X', 'MI300A', 'MI350X', 'MI355X'] as const;
export type GpuProduct = (typeof GPU_PRODUCTS)[number];

export const COMPUTE_MODES = ['SPX', 'DPX', 'TPX', 'QPX', 'CPX'] as const;
export type ComputeMode = (typeof COMPUTE_MODES)[number];
export const MEMORY_MODES = ['NPS1', 'NPS2', 'NPS4'] as const;
export type MemoryMode = (typeof MEMORY_MODES)[number];

/** A partition profile name as users write it: `<compute>-<memory>`, e.g. `CPX-NPS4`. */
export type ProfileName = `${ComputeMode}-${MemoryMode}`;
