import type { GpuProduct, Precision, Priority, ProfileName } from '../../api/types.ts';
import type { PoolCapacity } from '../../planner/capacity.ts';
import type { PlanInput } from '../../planner/heuristic.ts';
import type { Plan } from '../../planner/types.ts';
import type { DemandOption, ModelDemand } from '../../sizing/types.ts';

/** Small, explicit planning inputs for the planner's tests. */

export function pool(name: string, nodes: readonly string[], profiles: readonly ProfileName[], extra: Partial<PoolCapacity> = {}): PoolCapacity {
  return {
    name,
    gpu: 'MI300X' as GpuProduct,
    nodes,
    gpusPerNode: 8,
    profiles,
    allowMixedProfiles: false,
    usableMemoryFraction: 0.95,
    ...extra,
  };
}

/** One option per tensor-parallel degree: the rank holds weights/tp plus a fixed overhead. */
export function options(precision: Precision, weightsGiB: number, degrees: readonly number[] = [1, 2, 4, 8], overheadGiB = 2): DemandOption[] {
  return degrees.map((tensorParallel) => ({
    precision,
    tensorParallel,
    memoryGiBPerPartition: Math.round((weightsGiB / tensorParallel + overheadGiB) * 100) / 100,
  }));
}

export function demand(model: string, replicas: number, opts: readonly DemandOption[], extra: Partial<ModelDemand> = {}): ModelDemand {
  return { model, priority: 'medium' as Priority, replicas, pools: ['mi300x'], precisionAuto: false, options: opts, ...extra };
}

export function input(pools: readonly PoolCapacity[], demands: readonly ModelDemand[], extra: Partial<PlanInput> = {}): PlanInput {
  return { pools, demands, headroomPercent: 5, ...extra };
}

/** `node:gpu.partition,…` per replica id: placements at a glance. */
export function placements(plan: Plan): Record<string, string> {
  return Object.fromEntries(plan.replicas.map((r) => [r.id, `${r.node}:${r.partitions.map((p) => `${p.gpu}.${p.partition}`).join(',')}`]));
}

/** Profile per node (per GPU when mixed). */
export function profiles(plan: Plan): Record<string, string> {
  return Object.fromEntries(
    plan.nodes.map((n) => [
      n.name,
      n.mixed ? n.gpus.map((g) => `${g.profile.compute}-${g.profile.memory}`).join(',') : `${n.profile.compute}-${n.profile.memory}`,
    ]),
  );
}
