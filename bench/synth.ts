/**
 * Synth benchmark: generated fleets of 8–256 nodes and 10–1,000 models through every stage
 * (load, size, plan, construct, render, write), plus the whole CLI process for the largest.
 * Run: `node --import tsx bench/synth.ts [--quick]`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { App } from 'cdk8s';
import { execa } from 'execa';
import { loadSpecDir } from '../api/load.ts';
import { renderManifests, writeTreeAtomically } from '../cli/tree.ts';
import { committedPlan, PLAN_FILE, PLAN_MARKDOWN_FILE } from '../cli/compile.ts';
import { budgetPods } from '../constructs/disruption-budget.ts';
import { buildFleetCharts } from '../constructs/fleet.ts';
import { servingInputs } from '../constructs/serving-inputs.ts';
import { planFleet, poolCapacity } from '../planner/plan.ts';
import { renderPlanMarkdown } from '../planner/render.ts';
import { withRollouts } from '../planner/rollout.ts';
import { checkModels } from '../sizing/check.ts';
import { sizeDemands } from '../sizing/demand.ts';
import { loadModelCatalog } from '../sizing/model-catalog.ts';
import type { ModelInfo } from '../sizing/types.ts';
import { rng } from './generate.ts';

const NODES_PER_POOL = 32;
const PRIORITIES = ['critical', 'high', 'medium', 'medium', 'low'] as const;

/** Catalog models that fit one MI300X partition layout at bf16 or fp8 without exotic parallelism. */
function servableModels(): ModelInfo[] {
  const { models } = loadModelCatalog();
  // Models vLLM cannot serve at all (e.g. Mllama, removed in v0.10.2) would make the fleet invalid.
  return [...models.values()].filter((m) => m.paramsTotal < 80e9 && !m.unsupported).sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** A spec directory: one Fleet, pools of up to 32 MI300X nodes, `models` Models drawn with a seed. */
function writeFleet(dir: string, nodes: number, models: number, seed: number): void {
  const random = rng(seed);
  const catalog = servableModels();
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  writeFileSync(
    join(dir, 'fleet.yaml'),
    `apiVersion: gpusharing.aim/v1alpha1
kind: Fleet
metadata: {name: bench}
spec:
  images:
    vllm: docker.io/vllm/vllm-openai-rocm@sha256:3b5af9b06c9bf2770f7efa433c0a63d163bc496a95f044fb5c4c706a7950a160
    vllmVersion: "0.19.0"
    partitioner: registry.example.com/aim-partitioner@sha256:${'0'.repeat(64)}
  gitops:
    flux: {repoURL: https://git.example.com/fleet.git}
  planning: {allowUnschedulable: true}
`,
  );
  const pools: string[] = [];
  for (let p = 0; p * NODES_PER_POOL < nodes; p++) {
    const names = Array.from({ length: Math.min(NODES_PER_POOL, nodes - p * NODES_PER_POOL) }, (_, i) => `gpu-${p}-${i}`);
    pools.push(`apiVersion: gpusharing.aim/v1alpha1
kind: NodePool
metadata: {name: pool-${p}}
spec:
  gpu: MI300X
  nodes: [${names.join(', ')}]
  profiles: [SPX-NPS1, DPX-NPS2, QPX-NPS4, CPX-NPS4]
`);
  }
  writeFileSync(join(dir, 'pools.yaml'), pools.join('---\n'));
  const docs = Array.from({ length: models }, (_, i) => {
    const model = pick(catalog);
    return `apiVersion: gpusharing.aim/v1alpha1
kind: Model
metadata: {name: m-${String(i).padStart(4, '0')}}
spec:
  model: ${model.id}
  precision: ${pick(['bf16', 'fp8', 'fp8'])}
  replicas: ${1 + Math.floor(random() * 3)}
  maxModelLen: ${Math.min(model.maxPositionEmbeddings, pick([4096, 8192, 16384]))}
  priority: ${pick(PRIORITIES)}
`;
  });
  writeFileSync(join(dir, 'models.yaml'), docs.join('---\n'));
}

/**
 * Output goes where `dist/` would, inside the project: on this machine's /tmp, creating 2,000 small
 * files costs about a second more than on the project's disk, which is not what users see.
 */
function outputDir(): string {
  return mkdtempSync(join(import.meta.dirname, '..', '.bench-out-'));
}

interface Row {
  readonly nodes: number;
  readonly models: number;
  readonly replicas: number;
  readonly placed: number;
  readonly ms: Record<'load' | 'size' | 'plan' | 'construct' | 'render' | 'write', number>;
  readonly files: number;
  readonly bytes: number;
}

async function measure(nodes: number, models: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'aim-bench-specs-'));
  const out = outputDir();
  try {
    writeFleet(dir, nodes, models, nodes * 7919 + models);
    let t = performance.now();
    const lap = () => {
      const now = performance.now();
      const elapsed = now - t;
      t = now;
      return elapsed;
    };
    const loaded = loadSpecDir(dir);
    if (!loaded.spec) throw new Error(`generated fleet invalid: ${loaded.diagnostics[0]?.message}`);
    const load = lap();
    const catalog = loadModelCatalog();
    const problems = checkModels(loaded.spec, catalog.models).filter((d) => d.severity === 'error');
    if (problems.length > 0) throw new Error(`generated fleet invalid: ${problems[0]!.message}`);
    const sized = sizeDemands(loaded.spec, catalog.models);
    const size = lap();
    const { planning } = loaded.spec.fleet.spec;
    const placed = await planFleet({
      pools: loaded.spec.pools.map(poolCapacity),
      demands: sized.map((s) => s.demand),
      headroomPercent: planning.headroomPercent,
      optimizer: 'heuristic',
      timeLimitSeconds: planning.timeLimitSeconds,
    });
    // As compile does: each replica's rollout (nothing to simulate without a previous plan).
    const plan = withRollouts(placed, { servingInputs: servingInputs(loaded.spec), minAvailable: budgetPods(loaded.spec, placed) });
    const planMs = lap();
    const bySize = new Map(sized.map((s) => [s.demand.model, s]));
    const app = new App({ recordConstructMetadata: false });
    buildFleetCharts(app, {
      spec: loaded.spec,
      plan,
      maxModelLen: new Map(sized.map((s) => [s.demand.model, s.maxModelLen])),
      engineFlags: (model, precision) => bySize.get(model)!.engineFlags(precision),
    });
    const construct = lap();
    const tree = new Map([
      ...renderManifests(app),
      [PLAN_FILE, JSON.stringify(committedPlan(plan), null, 2) + '\n'],
      [PLAN_MARKDOWN_FILE, renderPlanMarkdown(committedPlan(plan))],
    ]);
    const render = lap();
    writeTreeAtomically(out, tree);
    const write = lap();
    return {
      nodes,
      models,
      replicas: plan.summary.replicas,
      placed: plan.summary.placed,
      ms: { load, size, plan: planMs, construct, render, write },
      files: tree.size,
      bytes: [...tree.values()].reduce((sum, content) => sum + Buffer.byteLength(content), 0),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
}

/** The whole `aim-gpu synth` process, start-up included, best of three. */
async function cliWallMs(nodes: number, models: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'aim-bench-specs-'));
  const out = outputDir();
  try {
    writeFleet(dir, nodes, models, nodes * 7919 + models);
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      rmSync(out, { recursive: true, force: true });
      const start = performance.now();
      const result = await execa('node', [join(import.meta.dirname, '..', 'cli', 'bin.js'), 'synth', '--specs', dir, '--out', out], { reject: false });
      if (result.exitCode !== 0) throw new Error(`synth failed: ${result.stderr}`);
      runs.push(performance.now() - start);
    }
    return Math.min(...runs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
}

const fmt = (ms: number) => ms.toFixed(0).padStart(6);

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const nodeCounts = quick ? [8, 64] : [8, 64, 256];
  const modelCounts = quick ? [10, 200] : [10, 200, 1000];
  await measure(8, 10); // warm-up: module loading and JIT out of the figures
  console.log('nodes models replicas placed |   load   size   plan constr render  write |  total ms/model | files      KiB');
  const rows: Row[] = [];
  for (const nodes of nodeCounts) {
    for (const models of modelCounts) {
      // Two replicas a model on average against 64 CPX partitions a node: beyond that validate
      // refuses the fleet outright (a partition holds one replica), so there is nothing to time.
      if (models * 2 > nodes * 64) {
        console.log(`${String(nodes).padStart(5)} ${String(models).padStart(6)}  skipped: more replicas than the fleet has partitions (validate refuses it)`);
        continue;
      }
      const row = await measure(nodes, models);
      rows.push(row);
      const total = Object.values(row.ms).reduce((a, b) => a + b, 0);
      console.log(
        `${String(row.nodes).padStart(5)} ${String(row.models).padStart(6)} ${String(row.replicas).padStart(8)} ${String(row.placed).padStart(6)} |` +
          `${fmt(row.ms.load)} ${fmt(row.ms.size)} ${fmt(row.ms.plan)} ${fmt(row.ms.construct)} ${fmt(row.ms.render)} ${fmt(row.ms.write)} |` +
          `${fmt(total)} ${(total / row.models).toFixed(2).padStart(8)} | ${String(row.files).padStart(5)} ${(row.bytes / 1024).toFixed(0).padStart(8)}`,
      );
    }
  }
  const [largestNodes, largestModels] = [nodeCounts.at(-1)!, modelCounts.at(-1)!];
  const wall = await cliWallMs(largestNodes, largestModels);
  const target = 5000;
  console.log(`\nwhole CLI process, ${largestNodes} nodes × ${largestModels} models: ${wall.toFixed(0)} ms (target ≤ ${target} ms): ${wall <= target ? 'PASS' : 'FAIL'}`);
  // Linear growth: per-model cost at the largest model count vs the next smaller one, same node count.
  const perModel = (models: number) => {
    const row = rows.find((r) => r.nodes === largestNodes && r.models === models)!;
    return Object.values(row.ms).reduce((a, b) => a + b, 0) / row.models;
  };
  const previousModels = modelCounts.at(-2)!;
  const growth = perModel(largestModels) / perModel(previousModels);
  console.log(`cost per model at ${largestModels} vs ${previousModels} models: ×${growth.toFixed(2)} (≤ ×1.5 is linear or better): ${growth <= 1.5 ? 'PASS' : 'FAIL'}`);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await main();
