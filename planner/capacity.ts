import type { GpuProduct, NodePool, ProfileName } from '../api/types.ts';
import { poolProfile } from '../hardware/gpus.ts';
import type { PartitionProfile } from '../hardware/types.ts';

/** What the planner needs to know about one NodePool. */
export interface PoolCapacity {
  readonly name: string;
  readonly gpu: GpuProduct;
  readonly nodes: readonly string[];
  readonly gpusPerNode: number;
  readonly profiles: readonly ProfileName[];
  readonly allowMixedProfiles: boolean;
  readonly usableMemoryFraction: number;
  /** Labels the pool's nodes carry (topology spread domains). @default {} */
  readonly labels?: Readonly<Record<string, string>>;
  /** The pool's allocatable memory per GPU, when it overrides the catalog's (MI300A). */
  readonly allocatableMemoryGiB?: number;
}

export function poolCapacity(pool: NodePool): PoolCapacity {
  const { spec } = pool;
  return {
    name: pool.metadata.name,
    gpu: spec.gpu,
    nodes: spec.nodes,
    gpusPerNode: spec.gpusPerNode,
    profiles: spec.profiles,
    allowMixedProfiles: spec.allowMixedProfiles,
    usableMemoryFraction: spec.usableMemoryFraction,
    labels: spec.labels,
    ...(spec.allocatableMemoryGiB !== undefined && { allocatableMemoryGiB: spec.allocatableMemoryGiB }),
  };
}

/**
 * Profiles with the same partition count and size are interchangeable for packing (DPX-NPS1 and
 * DPX-NPS2 hold the same replicas), so the planner packs against shapes and only names a profile
 * when it writes one down.
 */
export interface Shape {
  readonly partitionsPerGpu: number;
  readonly memoryGiB: number;
  readonly computeUnits: number;
  /** What a rank may reserve in one partition: memory × the pool's usable fraction. */
  readonly usableGiB: number;
  /** Index (in the pool's profiles) of the profile a whole node of this shape gets. */
  readonly profile: number;
  /** Index of the shape's NPS1 profile, which a mixed node may give single GPUs; -1 if none. */
  readonly mixableProfile: number;
}

/** A pool resolved against the GPU catalog: its allowed profiles and their shapes, coarsest first. */
export interface PoolLayout {
  readonly index: number;
  readonly capacity: PoolCapacity;
  readonly profiles: readonly PartitionProfile[];
  readonly shapes: readonly Shape[];
  /** Shape index of each profile. */
  readonly profileShape: readonly number[];
  /** Per profile: may share a node with other NPS1 profiles (mixed pools only). */
  readonly profileMixable: readonly boolean[];
  readonly gpusPerNode: number;
}

/** The pool's valid profiles in the pool's order; unknown names are the spec validator's to report. */
export function poolLayout(capacity: PoolCapacity, index: number): PoolLayout {
  const profiles: PartitionProfile[] = [];
  for (const name of capacity.profiles) {
    const profile = poolProfile(capacity.gpu, name, capacity.allocatableMemoryGiB);
    if (profile && !profiles.some((p) => p.name === profile.name)) profiles.push(profile);
  }
  const keys = [...new Set(profiles.map(shapeKey))];
  const sortedKeys = keys
    .map((key) => profiles.find((p) => shapeKey(p) === key)!)
    .sort((a, b) => b.memoryGiBPerPartition - a.memoryGiBPerPartition || a.partitionsPerGpu - b.partitionsPerGpu)
    .map(shapeKey);
  const profileMixable = profiles.map((p) => capacity.allowMixedProfiles && p.memory === 'NPS1');
  const shapes = sortedKeys.map((key): Shape => {
    const members = profiles.map((p, i) => ({ p, i })).filter(({ p }) => shapeKey(p) === key);
    const first = members[0]!;
    const mixable = members.find(({ i }) => profileMixable[i]);
    return {
      partitionsPerGpu: first.p.partitionsPerGpu,
      memoryGiB: first.p.memoryGiBPerPartition,
      computeUnits: first.p.computeUnitsPerPartition,
      usableGiB: first.p.memoryGiBPerPartition * capacity.usableMemoryFraction,
      profile: first.i,
      mixableProfile: mixable ? mixable.i : -1,
    };
  });
  return {
    index,
    capacity,
    profiles,
    shapes,
    profileShape: profiles.map((p) => sortedKeys.indexOf(shapeKey(p))),
    profileMixable,
    gpusPerNode: capacity.gpusPerNode,
  };
}

function shapeKey(profile: PartitionProfile): string {
  return `${profile.partitionsPerGpu}/${profile.memoryGiBPerPartition}/${profile.computeUnitsPerPartition}`;
}
