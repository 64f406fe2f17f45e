import fc from 'fast-check';
import { PRIORITIES, type GpuProduct, type Precision, type ProfileName } from '../../api/types.ts';
import type { PoolCapacity } from '../../planner/capacity.ts';
import type { PlanInput } from '../../planner/heuristic.ts';
import { GPU_CATALOG } from '../../hardware/gpus.ts';
import type { ModelDemand } from '../../sizing/types.ts';
import { options } from './fixtures.ts';

const PRODUCTS: readonly GpuProduct[] = ['MI300X', 'MI325X', 'MI355X'];

const poolArb = (index: number): fc.Arbitrary<PoolCapacity> =>
  fc
    .record({
      gpu: fc.constantFrom(...PRODUCTS),
      nodes: fc.integer({ min: 1, max: 3 }),
      gpusPerNode: fc.constantFrom(4, 8),
      mixed: fc.boolean(),
      pick: fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
    })
    .map(({ gpu, nodes, gpusPerNode, mixed, pick }) => {
      const all = GPU_CATALOG[gpu].profiles.map((p) => p.name);
      const chosen = all.filter((_, i) => pick[i]);
      return {
        name: `pool${index}`,
        gpu,
        nodes: Array.from({ length: nodes }, (_, n) => `p${index}-node-${n}`),
        gpusPerNode,
        profiles: (chosen.length > 0 ? chosen : [all[0]!]) as ProfileName[],
        allowMixedProfiles: mixed,
        usableMemoryFraction: 0.95,
      };
    });

const modelArb = (index: number, poolNames: readonly string[]): fc.Arbitrary<ModelDemand> =>
  fc
    .record({
      priority: fc.constantFrom(...PRIORITIES),
      replicas: fc.integer({ min: 0, max: 4 }),
      weights: fc.constantFrom(1, 3, 8, 15, 30, 60, 90, 140, 180, 260, 500),
      auto: fc.boolean(),
      precision: fc.constantFrom<Precision>('bf16', 'fp8', 'int4'),
      restrict: fc.option(fc.constantFrom(...poolNames), { nil: undefined }),
    })
    .map(({ priority, replicas, weights, auto, precision, restrict }) => ({
      model: `m${index}`,
      priority,
      replicas,
      pools: restrict ? [restrict] : [...poolNames],
      precisionAuto: auto,
      options: auto
        ? [...options('bf16', weights), ...options('fp8', weights / 2), ...options('int4', weights / 4)]
        : options(precision, precision === 'bf16' ? weights : precision === 'fp8' ? weights / 2 : weights / 4),
    }));

/** Fleets of one or two pools of 1–3 nodes and up to seven models of 1–500 GiB of weights. */
export const inputArb: fc.Arbitrary<PlanInput> = fc
  .integer({ min: 1, max: 2 })
  .chain((poolCount) => fc.tuple(...Array.from({ length: poolCount }, (_, i) => poolArb(i))))
  .chain((pools) =>
    fc
      .integer({ min: 1, max: 7 })
      .chain((models) => fc.tuple(fc.constant(pools), fc.tuple(...Array.from({ length: models }, (_, i) => modelArb(i, pools.map((p) => p.name)))), fc.constantFrom(0, 5, 10))),
  )
  .map(([pools, demands, headroomPercent]) => ({ pools, demands, headroomPercent }));
