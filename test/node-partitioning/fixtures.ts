import type { ComputeMode, GpuProduct, MemoryMode, NodePool, ProfileName, Taint } from '../../api/types.ts';
import type { PlanNode } from '../../planner/types.ts';
import { findProfile } from '../../hardware/gpus.ts';

const source = {
  file: 'specs/pools.yaml',
  line: 1,
  col: 1,
  at: () => ({ file: 'specs/pools.yaml', line: 1, col: 1 }),
};

export function nodePool(name: string, nodes: string[], options: { gpu?: GpuProduct; taints?: Taint[] } = {}): NodePool {
  return {
    kind: 'NodePool',
    metadata: { name, labels: {} },
    spec: {
      gpu: options.gpu ?? 'MI300X',
      nodes,
      gpusPerNode: 8,
      profiles: ['SPX-NPS1', 'CPX-NPS4'],
      allowMixedProfiles: false,
      usableMemoryFraction: 0.95,
      labels: {},
      taints: options.taints ?? [],
    },
    source,
  };
}

/** A plan node whose GPUs have the given profiles, in index order, every partition free. */
export function planNode(name: string, pool: string, profiles: ProfileName[], gpu: GpuProduct = 'MI300X'): PlanNode {
  const gpus = profiles.map((profileName, index) => {
    const [compute, memory] = profileName.split('-') as [ComputeMode, MemoryMode];
    const profile = findProfile(gpu, profileName);
    const partitions = Array.from({ length: profile?.partitionsPerGpu ?? 1 }, (_, partition) => ({
      index: partition,
      memoryGiB: profile?.memoryGiBPerPartition ?? 0,
      computeUnits: profile?.computeUnitsPerPartition ?? 0,
    }));
    return { index, profile: { compute, memory }, partitions };
  });
  return {
    name,
    pool,
    gpu,
    profile: gpus[0]?.profile ?? { compute: 'SPX', memory: 'NPS1' },
    mixed: new Set(profiles).size > 1,
    gpus,
  };
}

export function uniformNode(
  name: string,
  pool: string,
  profile: ProfileName,
  count = 8,
  gpu: GpuProduct = 'MI300X',
): PlanNode {
  return planNode(name, pool, Array.from({ length: count }, () => profile), gpu);
}
