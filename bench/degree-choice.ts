/**
 * Degree-choice instances of the planner bench, sized from real specs with the model catalog: the
 * default specs on their two nodes and on one, and 40 MI300X nodes with 800 small replicas. Each
 * reports GPUs against the lower bound (valid under degree choice) and HiGHS's optimum (which
 * chooses degrees too), and checks the targets.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadSpecDir } from '../api/load.ts';
import { planExact } from '../planner/exact.ts';
import { type PlanInput, planHeuristic } from '../planner/heuristic.ts';
import { poolCapacity } from '../planner/plan.ts';
import type { Plan } from '../planner/types.ts';
import { sizeDemands } from '../sizing/demand.ts';
import { loadModelCatalog } from '../sizing/model-catalog.ts';

const ROOT = join(import.meta.dirname, '..');

interface SpecCase {
  readonly name: string;
  readonly dir: string;
  /** Keep only this many nodes of each pool. */
  readonly nodes?: number;
  /** What the issue asks of the plan. */
  readonly target: (plan: Plan) => { ok: boolean; text: string };
}

const CASES: readonly SpecCase[] = [
  {
    name: 'default specs, 2 nodes',
    dir: 'specs',
    target: (p) => ({
      ok: p.summary.placed === p.summary.replicas && p.summary.gpusUsed - p.summary.spreadGpus <= 6 && (p.models.find((m) => m.name === 'llama-70b')?.nodes ?? 0) >= 2,
      text: `all placed, ≤ 6 GPUs apart from spread (${p.summary.spreadGpus}), llama-70b on 2 nodes`,
    }),
  },
  {
    name: 'default specs, 1 node',
    dir: 'specs',
    nodes: 1,
    target: (p) => ({ ok: p.summary.placed === 16, text: 'all 16 replicas placed' }),
  },
  {
    name: '40 MI300X nodes, 800 replicas',
    dir: 'bench/fleets/forty-node',
    target: (p) => ({ ok: p.summary.placed === 800 && p.summary.gpusUsed <= 139, text: 'all 800 placed on ≤ 139 GPUs' }),
  },
];

function inputOf(c: SpecCase): PlanInput {
  const loaded = loadSpecDir(join(ROOT, c.dir));
  if (!loaded.spec) throw new Error(`${c.dir}: ${loaded.diagnostics.map((d) => d.message).join('; ')}`);
  const spec = loaded.spec;
  const demands = sizeDemands(spec, loadModelCatalog().models).map((d) => d.demand);
  const pools = spec.pools.map(poolCapacity).map((p) => (c.nodes ? { ...p, nodes: p.nodes.slice(0, c.nodes) } : p));
  return { pools, demands, headroomPercent: spec.fleet.spec.planning.headroomPercent };
}

export async function runDegreeChoiceBench(exactSeconds: number): Promise<string[]> {
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  const lines = [`${'instance'.padEnd(32)}${pad('repl', 6)}${pad('placed', 7)}${pad('GPUs', 6)}${pad('spread', 7)}${pad('LB', 5)}${pad('HiGHS', 7)}${pad('ms', 8)}  target`];
  const verdicts: string[] = [];
  for (const c of CASES) {
    const input = inputOf(c);
    planHeuristic(input);
    const started = performance.now();
    const plan = planHeuristic(input);
    const ms = performance.now() - started;
    const exact = await planExact(input, exactSeconds, { minimizeNodes: false });
    const optimum = exact.status === 'optimal' ? String(exact.gpus) : exact.gpus !== undefined ? `≤${exact.gpus}` : '—';
    const s = plan.summary;
    const target = c.target(plan);
    lines.push(`${c.name.padEnd(32)}${pad(s.replicas, 6)}${pad(s.placed, 7)}${pad(s.gpusUsed, 6)}${pad(s.spreadGpus, 7)}${pad(s.lowerBound, 5)}${pad(optimum, 7)}${pad(ms.toFixed(1), 8)}  ${target.text}`);
    verdicts.push(`${target.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${target.text} (${s.placed}/${s.replicas} on ${s.gpusUsed} GPUs)`);
  }
  lines.push('HiGHS: fewest GPUs with degree choice (spread not modelled), proven, ≤n = best found in the time limit; spread: GPUs spread adds');
  return [...lines, '', ...verdicts];
}
