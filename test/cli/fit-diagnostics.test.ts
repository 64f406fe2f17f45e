import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../api/diagnostics.ts';
import { loadSpecTexts } from '../../api/load.ts';
import { exactPlacements, fitDiagnostics } from '../../cli/fit-diagnostics.ts';
import { generateInstance } from '../../bench/generate.ts';
import { planHeuristic, poolCapacity } from '../../planner/plan.ts';
import { sizeDemands } from '../../sizing/demand.ts';
import { loadModelCatalog } from '../../sizing/model-catalog.ts';
import { FLEET } from '../api/helpers.ts';

function diagnose(pool: string, models: string, exactPlaced?: ReadonlyMap<string, number>): string[] {
  const loaded = loadSpecTexts([
    { file: 'fleet.yaml', text: FLEET },
    { file: 'pools.yaml', text: pool },
    { file: 'models.yaml', text: models },
  ]);
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const spec = loaded.spec!;
  const catalog = loadModelCatalog().models;
  const sized = sizeDemands(spec, catalog);
  const plan = planHeuristic({ pools: spec.pools.map(poolCapacity), demands: sized.map((s) => s.demand), headroomPercent: spec.fleet.spec.planning.headroomPercent });
  return fitDiagnostics(spec, plan, catalog, sized, exactPlaced).map(formatDiagnostic);
}

const pool = (profiles: string, gpus = 2) => `apiVersion: gpusharing.aim/v1alpha1
kind: NodePool
metadata:
  name: mi300x
spec:
  gpu: MI300X
  nodes: [gpu-node-01]
  gpusPerNode: ${gpus}
  profiles: ${profiles}
`;

const model = (name: string, id: string, extra: string) => `apiVersion: gpusharing.aim/v1alpha1
kind: Model
metadata:
  name: ${name}
spec:
  model: ${id}
${extra}`;

describe('fit diagnostics', () => {
  it('says once per model how many replicas cannot be placed, at the binding field, with ways out that plan', () => {
    // One node, one profile: a critical 70B at degree 1 makes it SPX, one GPU left for two 8B replicas; 96 GiB partitions hold all three.
    const big = model('big', 'meta-llama/Llama-3.3-70B-Instruct', '  precision: fp8\n  tensorParallel: 1\n  priority: critical\n');
    const lines = diagnose(pool('[SPX-NPS1, CPX-NPS4]'), `${big}---\n${model('llama-8b', 'meta-llama/Llama-3.1-8B-Instruct', '  precision: bf16\n  replicas: 2\n')}`);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^pools\.yaml:9:13: error: spec\.profiles: 1 of 2 replicas of llama-8b cannot be placed: out of capacity/);
    expect(lines[0]).toMatch(/needs 1 partition of ≥ [\d.]+ GiB \(5% headroom included\) on one node/);
    expect(lines[0]).toContain('allow DPX-NPS2 in pool mi300x');
    expect(lines[0]).not.toContain('allow QPX-NPS4'); // one node, one profile: the 70B needs more than 48 GiB at degree 1
  });

  it('names the field of the first change that works, and only changes that work', () => {
    // 8 GPUs at degree 8: one replica; auto lets 4 fit (degree 2 on 24 GiB partitions).
    const lines = diagnose(pool('[SPX-NPS1, CPX-NPS4]', 1), model('qwen3-8b', 'Qwen/Qwen3-8B', '  precision: bf16\n  replicas: 4\n  tensorParallel: 8\n'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^models\.yaml:9:19: error: spec\.tensorParallel: 3 of 4 replicas of qwen3-8b cannot be placed/);
    expect(lines[0]).toContain('tensorParallel: auto');
  });

  it('states the need of a model that never fits and the precision or context that would fit', () => {
    const lines = diagnose(pool('[SPX-NPS1, CPX-NPS4]', 8), model('big', 'meta-llama/Llama-3.3-70B-Instruct', '  precision: bf16\n  maxModelLen: 32768\n  concurrency: 4\n  tensorParallel: 1\n'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/error: spec\.tensorParallel: 1 of 1 replica of big cannot be placed: never fits: .*needs ≥ [\d.]+ GiB per rank at best \(bf16, tensorParallel 1, 5% headroom included\)/);
    expect(lines[0]).toMatch(/ways out \(each checked by planning with it\): tensorParallel: auto .*; precision: fp8; maxModelLen ≤ \d+; concurrency ≤ \d+$/);
  });

  it('lists the exact optimizer last when it placed replicas the heuristic left out, at the field of the model itself', () => {
    const lines = diagnose(pool('[SPX-NPS1, CPX-NPS4]', 1), model('qwen3-8b', 'Qwen/Qwen3-8B', '  precision: bf16\n  replicas: 4\n  tensorParallel: 8\n'), new Map([['qwen3-8b', 2]]));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^models\.yaml:9:19: error: spec\.tensorParallel: 3 of 4 replicas/);
    expect(lines[0]).toMatch(/; planning\.optimizer: exact \(HiGHS places 2 of 4\)$/);
    // No mention when the exact optimizer places no more than the plan did.
    expect(diagnose(pool('[SPX-NPS1, CPX-NPS4]', 1), model('qwen3-8b', 'Qwen/Qwen3-8B', '  precision: bf16\n  replicas: 4\n  tensorParallel: 8\n'), new Map([['qwen3-8b', 1]]))[0]).not.toContain('optimizer');
  });
});

describe('exactPlacements', () => {
  it('plans with HiGHS only when the heuristic left replicas out, and reports what it places', async () => {
    // A bench instance (10 models on MI300X, over-subscribed) where HiGHS proves one replica more
    // in about 4 s alone; the time limit leaves room for a loaded machine.
    const problem = generateInstance({ seed: 5, models: 10, load: 'over', fleet: 'mi300x' });
    const input = { ...problem, optimizer: 'heuristic' as const, timeLimitSeconds: 90 };
    const plan = planHeuristic(problem);
    const exact = await exactPlacements(input, plan, 90);
    expect(exact).toBeDefined();
    expect([...exact!.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(plan.summary.placed);
    expect(await exactPlacements({ ...input, optimizer: 'exact' }, plan)).toBeUndefined();
    const everything = { ...plan, unschedulable: [] };
    expect(await exactPlacements(input, everything)).toBeUndefined();
  });
});
