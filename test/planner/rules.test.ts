import { describe, expect, it } from 'vitest';
import { planHeuristic } from '../../planner/heuristic.ts';
import type { Plan } from '../../planner/types.ts';
import { demand, input, options, placements, pool, profiles } from './fixtures.ts';

const MI300X = pool('mi300x', ['n1'], ['SPX-NPS1', 'CPX-NPS4']);

describe('planHeuristic: profiles and packing', () => {
  it('puts four 8B models on one GPU in CPX-NPS4 (eight 24 GiB partitions)', () => {
    const plan = planHeuristic(input([MI300X], ['a', 'b', 'c', 'd'].map((m) => demand(m, 1, options('bf16', 15)))));
    expect(plan).toEqual({
      apiVersion: 'gpusharing.aim/v1alpha1',
      kind: 'Plan',
      nodes: [
        {
          name: 'n1',
          pool: 'mi300x',
          gpu: 'MI300X',
          profile: { compute: 'CPX', memory: 'NPS4' },
          mixed: false,
          gpus: Array.from({ length: 8 }, (_, g) => ({
            index: g,
            profile: { compute: 'CPX', memory: 'NPS4' },
            partitions: Array.from({ length: 8 }, (_, p) => ({
              index: p,
              memoryGiB: 24,
              computeUnits: 38,
              ...(g === 0 && p < 4 ? { replica: `${'abcd'[p]}#0` } : {}),
            })),
          })),
        },
      ],
      replicas: ['a', 'b', 'c', 'd'].map((m, p) => ({
        id: `${m}#0`,
        model: m,
        node: 'n1',
        precision: 'bf16',
        tensorParallel: 1,
        memoryGiB: 17,
        gpuMemoryUtilization: 0.9, // the whole partition: 0.95 usable − 1.05 GiB graph margin / 24 GiB, floored
        maxNumBatchedTokens: 2048, // vLLM's defaults below 70 GiB
        maxNumSeqs: 256,
        partitions: [{ gpu: 0, partition: p }],
      })),
      unschedulable: [],
      models: ['a', 'b', 'c', 'd'].map((m) => ({
        name: m,
        precision: 'bf16',
        tensorParallel: 1,
        tensorParallelReason: 'auto: 1 on 24 GiB partitions (0.13 GPU a replica), the smallest GPU share (on ties: finer partitions, then the lower degree); candidates: 2 on 24 GiB partitions (0.25 GPU a replica), 4 on 24 GiB partitions (0.5 GPU a replica), 8 on 24 GiB partitions (1 GPU a replica)',
        replicas: 1,
        placed: 1,
        nodes: 1,
      })),
      summary: {
        gpus: 8,
        gpusUsed: 1,
        lowerBound: 1,
        nodesUsed: 1,
        replicas: 4,
        placed: 4,
        kvCacheGiB: 0, // no architecture, no KV figures
        kvHeadroomGiB: 18.4, // 4 × (0.9 × 24 − 17)
        replicaMoves: 0,
        profileChanges: 0,
        spreadGpus: 0,
        optimizer: 'heuristic',
      },
    } satisfies Plan);
  });

  it('writes every key in the order of the plan types', () => {
    const plan = planHeuristic(input([MI300X], [demand('a', 1, options('bf16', 15))]));
    expect(Object.keys(plan)).toEqual(['apiVersion', 'kind', 'nodes', 'replicas', 'unschedulable', 'models', 'summary']);
    expect(Object.keys(plan.nodes[0]!)).toEqual(['name', 'pool', 'gpu', 'profile', 'mixed', 'gpus']);
    expect(Object.keys(plan.replicas[0]!)).toEqual([
      'id',
      'model',
      'node',
      'precision',
      'tensorParallel',
      'memoryGiB',
      'gpuMemoryUtilization',
      'maxNumBatchedTokens',
      'maxNumSeqs',
      'partitions',
    ]);
  });

  it('gives a 70B bf16 replica (133.5 GiB per rank) a whole GPU in SPX', () => {
    const plan = planHeuristic(input([MI300X], [demand('llama-70b', 1, options('bf16', 131.5))]));
    expect(profiles(plan)).toEqual({ n1: 'SPX-NPS1' });
    expect(placements(plan)).toEqual({ 'llama-70b#0': 'n1:0.0' });
    // The replica has the partition to itself: all of it vLLM may use (0.95 − 1.05 GiB graph margin / 192 GiB).
    expect(plan.replicas[0]!.gpuMemoryUtilization).toBe(0.94);
  });

  it('uses the smallest tensor parallelism that fits and puts the group on equal partitions of one node', () => {
    const dpx = pool('mi300x', ['n1', 'n2'], ['SPX-NPS1', 'DPX-NPS2']);
    const plan = planHeuristic(input([dpx], [demand('big', 1, options('bf16', 150, [2, 4]))]));
    expect(plan.replicas[0]).toMatchObject({ tensorParallel: 2, node: 'n1', partitions: [{ gpu: 0, partition: 0 }, { gpu: 0, partition: 1 }] });
    expect(profiles(plan)).toEqual({ n1: 'DPX-NPS2', n2: 'SPX-NPS1' });
  });

  it('keeps a model inside its pools', () => {
    const pools = [pool('a', ['a1'], ['SPX-NPS1', 'CPX-NPS4']), pool('b', ['b1'], ['SPX-NPS1', 'CPX-NPS4'])];
    const plan = planHeuristic(input(pools, [demand('m', 2, options('bf16', 15), { pools: ['b'] })]));
    expect(placements(plan)).toEqual({ 'm#0': 'b1:0.0', 'm#1': 'b1:0.1' });
    expect(profiles(plan)).toEqual({ a1: 'SPX-NPS1', b1: 'CPX-NPS4' });
  });

  it('gives an unused node the first profile of its pool', () => {
    const plan = planHeuristic(input([pool('mi300x', ['n1', 'n2'], ['CPX-NPS4', 'SPX-NPS1'])], [demand('a', 1, options('bf16', 131.5, [1]))]));
    expect(profiles(plan)).toEqual({ n1: 'SPX-NPS1', n2: 'CPX-NPS4' });
  });
});

describe('planHeuristic: mixed profiles', () => {
  it('mixes NPS1 profiles GPU by GPU on one node when the pool allows it', () => {
    const mixed = pool('mi300x', ['n1'], ['SPX-NPS1', 'CPX-NPS1'], { allowMixedProfiles: true });
    const plan = planHeuristic(input([mixed], [demand('big', 1, options('bf16', 131.5, [1])), demand('small', 2, options('bf16', 15, [1]))]));
    expect(placements(plan)).toEqual({ 'big#0': 'n1:0.0', 'small#0': 'n1:1.0', 'small#1': 'n1:1.1' });
    expect(plan.nodes[0]!.mixed).toBe(true);
    expect(plan.nodes[0]!.gpus.slice(0, 2).map((g) => g.profile)).toEqual([
      { compute: 'SPX', memory: 'NPS1' },
      { compute: 'CPX', memory: 'NPS1' },
    ]);
    expect(plan.summary.gpusUsed).toBe(2);
  });

  it('never mixes across memory modes: CPX-NPS4 takes a node of its own', () => {
    const nps4 = pool('mi300x', ['n1', 'n2'], ['SPX-NPS1', 'CPX-NPS4'], { allowMixedProfiles: true });
    const plan = planHeuristic(input([nps4], [demand('big', 1, options('bf16', 131.5, [1])), demand('small', 2, options('bf16', 15, [1]))]));
    expect(profiles(plan)).toEqual({ n1: 'SPX-NPS1', n2: 'CPX-NPS4' });
    expect(plan.nodes.every((n) => !n.mixed)).toBe(true);
  });
});

describe('planHeuristic: priorities and unschedulable replicas', () => {
  it('leaves the lowest priority out first, naming the binding constraint', () => {
    const plan = planHeuristic(
      input([MI300X], [demand('low', 1, options('bf16', 131.5, [1]), { priority: 'low' }), demand('crit', 8, options('bf16', 131.5, [1]), { priority: 'critical' })]),
    );
    expect(plan.unschedulable).toEqual([
      {
        id: 'low#0',
        model: 'low',
        reason: 'out of capacity: needs 1 partition of ≥ 140.18 GiB (5% headroom included) on one node; pool mi300x has none free after higher-priority models',
      },
    ]);
    expect(plan.replicas.map((r) => r.model)).toEqual(Array(8).fill('crit'));
  });

  it('says when a replica can never fit, apart from running out of capacity', () => {
    const plan = planHeuristic(input([MI300X], [demand('huge', 1, options('bf16', 198, [1]))]));
    expect(plan.unschedulable).toEqual([
      {
        id: 'huge#0',
        model: 'huge',
        reason: 'never fits: no profile of pool mi300x has partitions of ≥ 210 GiB (largest: SPX-NPS1, 192 GiB × 0.94 given to vLLM)',
      },
    ]);
  });

  it('says when a tensor-parallel group is wider than any node', () => {
    const apu = pool('apu', ['a1'], ['SPX-NPS1'], { gpu: 'MI300A', gpusPerNode: 4, usableMemoryFraction: 0.85 });
    const plan = planHeuristic(input([apu], [demand('wide', 1, options('bf16', 300, [8]), { pools: ['apu'] })]));
    expect(plan.unschedulable[0]!.reason).toBe('never fits: tensor parallelism 8 needs 8 partitions of ≥ 96 GiB on one node; nodes of pool apu have at most 4');
  });

  it('degrades automatic precision jointly, lowest priority first, only as far as needed', () => {
    const mixed = pool('mi300x', ['n1'], ['SPX-NPS1', 'DPX-NPS1'], { allowMixedProfiles: true });
    const both = [...options('bf16', 140, [1]), ...options('fp8', 70, [1])];
    const plan = planHeuristic(
      input([mixed], [
        demand('hi', 4, both, { priority: 'high', precisionAuto: true }),
        demand('lo', 4, both, { priority: 'low', precisionAuto: true }),
        demand('fixed', 1, options('bf16', 100, [1])),
      ]),
    );
    expect(plan.unschedulable).toEqual([]);
    expect(Object.fromEntries(plan.replicas.map((r) => [r.model, r.precision]))).toEqual({ hi: 'bf16', lo: 'fp8', fixed: 'bf16' });
    expect(plan.summary.gpusUsed).toBe(7);
  });
});

describe('planHeuristic: stability against a previous plan', () => {
  const fleet = pool('mi300x', ['n1', 'n2', 'n3'], ['SPX-NPS1', 'CPX-NPS4']);
  const base = input([fleet], [demand('a', 3, options('bf16', 15, [1])), demand('b', 2, options('bf16', 15, [1])), demand('big', 1, options('bf16', 131.5, [1]))]);
  const before = planHeuristic(base);

  it('adds a replica without moving any other or changing a profile', () => {
    const after = planHeuristic({ ...base, demands: base.demands.map((d) => (d.model === 'b' ? { ...d, replicas: 3 } : d)), previous: before });
    const { 'b#2': added, ...kept } = placements(after);
    expect(kept).toEqual(placements(before));
    expect(added).toBeDefined();
    expect(after.summary).toMatchObject({ replicaMoves: 0, profileChanges: 0 });
  });

  it('frees the partitions of a removed model and leaves the rest in place', () => {
    const after = planHeuristic({ ...base, demands: base.demands.filter((d) => d.model !== 'a'), previous: before });
    const { 'a#0': _a0, 'a#1': _a1, 'a#2': _a2, ...rest } = placements(before);
    expect(placements(after)).toEqual(rest);
    expect(after.nodes.flatMap((n) => n.gpus.flatMap((g) => g.partitions.filter((p) => p.replica?.startsWith('a#'))))).toEqual([]);
  });

  it('repartitions an empty node rather than one in use when new demand needs another profile', () => {
    // Unused nodes start as CPX-NPS4 (the pool's first profile); nine more whole-GPU replicas
    // fill n1's seven free SPX GPUs and need one more SPX node: the empty n3, not n2 in use.
    const cpxFirst = pool('mi300x', ['n1', 'n2', 'n3'], ['CPX-NPS4', 'SPX-NPS1']);
    const start = input([cpxFirst], base.demands);
    const previous = planHeuristic(start);
    expect(profiles(previous)).toEqual({ n1: 'SPX-NPS1', n2: 'CPX-NPS4', n3: 'CPX-NPS4' });
    const after = planHeuristic({ ...start, demands: [...start.demands, demand('big2', 9, options('bf16', 131.5, [1]))], previous });
    expect(after.unschedulable).toEqual([]);
    expect(profiles(after)).toEqual({ n1: 'SPX-NPS1', n2: 'CPX-NPS4', n3: 'SPX-NPS1' });
    expect(after.summary).toMatchObject({ replicaMoves: 0, profileChanges: 1 });
  });

  it('moves a replica whose precision changed, and only that one', () => {
    const changed = base.demands.map((d) => (d.model === 'big' ? { ...d, options: options('fp8', 66, [1]) } : d));
    const after = planHeuristic({ ...base, demands: changed, previous: before });
    const { 'big#0': _old, ...others } = placements(before);
    const { 'big#0': _new, ...othersAfter } = placements(after);
    expect(othersAfter).toEqual(others);
    expect(after.replicas.find((r) => r.id === 'big#0')!.precision).toBe('fp8');
  });
});

describe('planHeuristic: soft anti-affinity', () => {
  it('spreads a model over nodes when free partitions of GPUs in use allow it at no extra GPU', () => {
    // Previous plan: each node has GPU 0 in CPX-NPS4 with six partitions taken by filler replicas.
    const fleet = pool('mi300x', ['n1', 'n2'], ['CPX-NPS4']);
    const fillers = demand('filler', 12, options('bf16', 15, [1]));
    const previous: Plan = {
      apiVersion: 'gpusharing.aim/v1alpha1',
      kind: 'Plan',
      nodes: ['n1', 'n2'].map((name, n) => ({
        name,
        pool: 'mi300x',
        gpu: 'MI300X',
        profile: { compute: 'CPX', memory: 'NPS4' },
        mixed: false,
        gpus: Array.from({ length: 8 }, (_, g) => ({
          index: g,
          profile: { compute: 'CPX', memory: 'NPS4' },
          partitions: Array.from({ length: 8 }, (_, p) => ({
            index: p,
            memoryGiB: 24,
            computeUnits: 38,
            ...(g === 0 && p < 6 ? { replica: `filler#${n * 6 + p}` } : {}),
          })),
        })),
      })),
      replicas: Array.from({ length: 12 }, (_, i) => ({
        id: `filler#${i}`,
        model: 'filler',
        node: i < 6 ? 'n1' : 'n2',
        precision: 'bf16',
        tensorParallel: 1,
        memoryGiB: 17,
        gpuMemoryUtilization: 0.9,
        maxNumBatchedTokens: 2048,
        maxNumSeqs: 256,
        partitions: [{ gpu: 0, partition: i % 6 }],
      })),
      unschedulable: [],
      models: [],
      summary: { gpus: 16, gpusUsed: 2, lowerBound: 2, nodesUsed: 2, replicas: 12, placed: 12, kvCacheGiB: 0, kvHeadroomGiB: 0, replicaMoves: 0, profileChanges: 0, spreadGpus: 0, optimizer: 'heuristic' },
    };
    const plan = planHeuristic(input([fleet], [fillers, demand('m', 2, options('bf16', 15, [1]))], { previous }));
    const at = placements(plan);
    expect(new Set([at['m#0']!.split(':')[0], at['m#1']!.split(':')[0]])).toEqual(new Set(['n1', 'n2']));
    expect(plan.summary).toMatchObject({ gpusUsed: 2, replicaMoves: 0, profileChanges: 0 });
  });
});

describe('planHeuristic: summary', () => {
  it('reports a pooled lower bound no plan can beat', () => {
    // 9 ranks of 24 GiB class and 3 of 192 GiB class: 3 whole GPUs + ⌈9/8⌉ = 5.
    const plan = planHeuristic(
      input([pool('mi300x', ['n1', 'n2'], ['SPX-NPS1', 'CPX-NPS4'])], [demand('small', 9, options('bf16', 15, [1])), demand('big', 3, options('bf16', 131.5, [1]))]),
    );
    expect(plan.summary.lowerBound).toBe(5);
    expect(plan.summary.gpusUsed).toBe(5);
  });
});
