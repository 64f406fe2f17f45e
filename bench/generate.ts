import type { GpuProduct, Precision, Priority, ProfileName } from '../api/types.ts';
import type { PoolCapacity } from '../planner/capacity.ts';
import { type PlanInput, planHeuristic } from '../planner/heuristic.ts';
import type { DemandOption, ModelDemand } from '../sizing/types.ts';

/**
 * Seeded generator of realistic planning instances: catalog-like models (0.5B to 671B, dense and
 * MoE) with per-rank memory from weights, KV cache and runtime overhead at bf16/fp8/int4 and
 * tensor parallelism 1–8, on fleets of 8-GPU nodes (mostly MI300X, some MI325X/MI355X pools),
 * sized easy, tight or over-subscribed against the demand: the GPUs the heuristic needs on an
 * unbounded fleet, times a load factor, in whole nodes.
 */

export type Load = 'easy' | 'tight' | 'over';
export type FleetKind = 'mi300x' | 'products' | 'mixed';

export interface InstanceSpec {
  readonly seed: number;
  readonly models: number;
  readonly load: Load;
  readonly fleet: FleetKind;
  /** Fix the node count instead of sizing it from the demand. */
  readonly nodes?: number;
  /** Scale the replica counts (the 5,000-replica instance). */
  readonly replicasPerModel?: number;
}

export interface Instance extends PlanInput {
  readonly name: string;
  readonly spec: InstanceSpec;
}

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Family {
  readonly name: string;
  /** Parameters, billions. */
  readonly params: number;
  /** KV cache per token, KiB (whole model). */
  readonly kvKiB: number;
  readonly maxContext: number;
  /** Precision the checkpoint ships in when it is not bf16. */
  readonly native?: Precision;
  readonly weight: number;
}

const FAMILIES: readonly Family[] = [
  { name: 'qwen2-5-0-5b', params: 0.49, kvKiB: 12, maxContext: 32768, weight: 4 },
  { name: 'qwen2-5-1-5b', params: 1.54, kvKiB: 28, maxContext: 32768, weight: 5 },
  { name: 'llama-3-2-3b', params: 3.21, kvKiB: 112, maxContext: 131072, weight: 6 },
  { name: 'mistral-7b', params: 7.25, kvKiB: 128, maxContext: 32768, weight: 7 },
  { name: 'llama-3-1-8b', params: 8.03, kvKiB: 128, maxContext: 131072, weight: 10 },
  { name: 'gemma-2-9b', params: 9.24, kvKiB: 336, maxContext: 8192, weight: 4 },
  { name: 'qwen2-5-14b', params: 14.8, kvKiB: 192, maxContext: 32768, weight: 5 },
  { name: 'mistral-small-24b', params: 23.6, kvKiB: 160, maxContext: 32768, weight: 3 },
  { name: 'qwen2-5-32b', params: 32.8, kvKiB: 256, maxContext: 32768, weight: 4 },
  { name: 'mixtral-8x7b', params: 46.7, kvKiB: 128, maxContext: 32768, weight: 2 },
  { name: 'llama-3-3-70b', params: 70.6, kvKiB: 320, maxContext: 131072, weight: 5 },
  { name: 'qwen2-5-72b', params: 72.7, kvKiB: 320, maxContext: 32768, weight: 3 },
  { name: 'mistral-large-123b', params: 123, kvKiB: 352, maxContext: 131072, weight: 1 },
  { name: 'qwen3-235b-a22b', params: 235, kvKiB: 188, maxContext: 40960, weight: 1 },
  { name: 'llama-3-1-405b', params: 405, kvKiB: 504, maxContext: 131072, weight: 0.5 },
  { name: 'deepseek-v3', params: 671, kvKiB: 69, maxContext: 131072, native: 'fp8', weight: 0.3 },
];

const BYTES: Record<Precision, number> = { bf16: 2, fp16: 2, fp8: 1, int8: 1, int4: 0.55 };
const GIB = 1024 ** 3;

/** Memory one rank needs: its share of weights and KV cache plus activation/runtime overhead. */
function rankMemoryGiB(family: Family, precision: Precision, tensorParallel: number, contextTokens: number): number {
  const weights = (family.params * 1e9 * BYTES[precision]) / GIB;
  const kv = (family.kvKiB * 1024 * contextTokens) / GIB;
  const overhead = 1.5 + Math.min(4, family.params / 40);
  return Math.round(((weights + kv) / tensorParallel + overhead) * 100) / 100;
}

function pick<T>(random: () => number, items: readonly T[], weight: (t: T) => number = () => 1): T {
  const total = items.reduce((s, t) => s + weight(t), 0);
  let x = random() * total;
  for (const item of items) {
    x -= weight(item);
    if (x < 0) return item;
  }
  return items[items.length - 1]!;
}

function pools(kind: FleetKind, random: () => number): { product: GpuProduct; profiles: ProfileName[]; mixed: boolean; share: number }[] {
  const mi300x = pick(random, [
    ['SPX-NPS1', 'CPX-NPS4'],
    ['SPX-NPS1', 'CPX-NPS4'],
    ['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS4'],
    ['SPX-NPS1', 'DPX-NPS2', 'QPX-NPS4', 'CPX-NPS4'],
  ] as ProfileName[][]);
  if (kind === 'mi300x') return [{ product: 'MI300X', profiles: mi300x, mixed: false, share: 1 }];
  if (kind === 'mixed') {
    return [{ product: 'MI300X', profiles: ['SPX-NPS1', 'DPX-NPS1', 'QPX-NPS1', 'CPX-NPS1', 'CPX-NPS4'], mixed: true, share: 1 }];
  }
  const second = pick(random, [
    { product: 'MI325X' as const, profiles: ['SPX-NPS1', 'CPX-NPS4'] as ProfileName[] },
    { product: 'MI355X' as const, profiles: ['SPX-NPS1', 'DPX-NPS2', 'CPX-NPS2'] as ProfileName[] },
  ]);
  return [
    { product: 'MI300X', profiles: mi300x, mixed: false, share: 0.65 },
    { product: second.product, profiles: second.profiles, mixed: false, share: 0.35 },
  ];
}

const LOAD_FACTOR: Record<Load, number> = { easy: 1.5, tight: 1.0, over: 0.75 };

export function generateInstance(spec: InstanceSpec): Instance {
  const random = rng(spec.seed);
  const poolSpecs = pools(spec.fleet, random);
  const poolNames = poolSpecs.map((p) => p.product.toLowerCase());
  const demands: ModelDemand[] = [];
  for (let i = 0; i < spec.models; i++) {
    const family = pick(random, FAMILIES, (f) => f.weight);
    const auto = random() < 0.1;
    const precisions: Precision[] = auto
      ? family.native === 'fp8'
        ? ['fp8', 'int4']
        : ['bf16', 'fp8', 'int4']
      : [family.native ?? pick(random, ['bf16', 'bf16', 'bf16', 'fp8', 'fp8', 'int4'] as Precision[])];
    const fixedTp = random() < 0.15 && family.params > 20 ? pick(random, [2, 4, 8]) : undefined;
    const degrees = fixedTp ? [fixedTp] : [1, 2, 4, 8];
    const context = Math.min(family.maxContext, pick(random, [4096, 8192, 8192, 16384, 32768])) * pick(random, [1, 1, 2, 4, 8]);
    const options: DemandOption[] = precisions.flatMap((precision) =>
      degrees.map((tensorParallel) => ({ precision, tensorParallel, memoryGiBPerPartition: rankMemoryGiB(family, precision, tensorParallel, context) })),
    );
    const replicas = Math.max(1, Math.round((spec.replicasPerModel ?? 1) * pick(random, [1, 1, 1, 2, 2, 3, 4, 6, 8])));
    const restricted = poolNames.length > 1 && random() < 0.3;
    const priority = pick(random, ['critical', 'high', 'high', 'medium', 'medium', 'medium', 'medium', 'low', 'low'] as Priority[]);
    demands.push({
      model: `${family.name}-${String(i).padStart(4, '0')}`,
      priority,
      replicas,
      pools: restricted ? [pick(random, poolNames)] : poolNames,
      precisionAuto: auto,
      options,
    });
  }
  const fleet = (totalNodes: number): PoolCapacity[] => {
    let assigned = 0;
    return poolSpecs.map((p, i) => {
      const count = i === poolSpecs.length - 1 ? totalNodes - assigned : Math.max(1, Math.round(totalNodes * p.share));
      assigned += count;
      const name = poolNames[i]!;
      return {
        name,
        gpu: p.product,
        nodes: Array.from({ length: count }, (_, n) => `${name}-node-${String(n + 1).padStart(3, '0')}`),
        gpusPerNode: 8,
        profiles: p.profiles,
        allowMixedProfiles: p.mixed,
        usableMemoryFraction: 0.95,
      };
    });
  };
  const ranks = demands.reduce((sum, d) => sum + d.replicas * (d.options[0]?.tensorParallel ?? 1), 0);
  const smallestShare = Math.min(...poolSpecs.map((p) => p.share));
  const unbounded = planHeuristic({ pools: fleet(Math.ceil(ranks / 8 / smallestShare) + 4), demands, headroomPercent: 5 });
  const needed = unbounded.summary.gpusUsed;
  const totalNodes = spec.nodes ?? Math.min(512, Math.max(4, Math.ceil((needed * LOAD_FACTOR[spec.load]) / 8)));
  const name = `s${spec.seed}-${spec.fleet}-${spec.load}-${spec.models}m`;
  return { name, spec, pools: fleet(totalNodes), demands, headroomPercent: 5 };
}
