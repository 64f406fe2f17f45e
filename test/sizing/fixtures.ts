import type { GpuProduct, Model, NodePool, ProfileName, Spec } from '../../api/types.ts';
import { defaultProfiles, gpuInfo } from '../../hardware/gpus.ts';
import { loadModelCatalog } from '../../sizing/model-catalog.ts';
import { fleet, pool as basePool } from '../support/resources.ts';

/** Resolved resources built by hand, for sizing tests that do not go through the spec loader. */

export const catalog = loadModelCatalog().models;

export { fleet, model } from '../support/resources.ts';

/** A one-node pool of a product, with the catalog's defaults. */
export function pool(name: string, gpu: GpuProduct, profiles: readonly ProfileName[] = defaultProfiles(gpu), gpusPerNode = gpuInfo(gpu).gpusPerNode): NodePool {
  return basePool(name, { gpu, nodes: [`${name}-node-0`], gpusPerNode, profiles, usableMemoryFraction: gpuInfo(gpu).usableMemoryFraction, taints: [] });
}

export function specOf(models: readonly Model[], pools: readonly NodePool[] = [pool('mi300x', 'MI300X')]): Spec {
  return { fleet: fleet(), pools, models };
}
