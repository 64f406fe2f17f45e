import * as highsModule from 'highs';
import { lowerBound } from './bounds.ts';
import type { PoolLayout } from './capacity.ts';
import type { DemandOption } from '../sizing/types.ts';
import type { DegreeWhy } from './degrees.ts';
import { type Choice, expandReplicas, type ReplicaSpec, shapeRange } from './demands.ts';
import { FleetState } from './fleet.ts';
import { type HeuristicSolution, type PlanInput, solveHeuristic, writePlan } from './heuristic.ts';
import type { PlanningSetup } from './run.ts';
import { seedProfiles } from './stability.ts';
import type { Plan } from './types.ts';

/**
 * The exact optimizer: a MILP over node profile choice and replica counts, solved by HiGHS.
 *
 * Partitions of one shape are interchangeable and a tensor-parallel group may span the GPUs of
 * its node, so a node is described by how many replicas of each fit class it holds on each
 * shape; the GPUs it uses on a shape are the ranks there divided by the shape's partitions per
 * GPU, rounded up. Variables per node n and shape s: y[n,s] (the node's profile, binary), u[n,s]
 * (GPUs in use, integer), x[n,s,k] (replicas of class k, integer). Mixed pools instead give a node
 * an NPS1 mode m[n] under which each GPU takes its own NPS1 shape (Σ u ≤ G·m). Identical nodes of
 * a pool are ordered by GPUs used to cut symmetric solutions.
 *
 * Solved in stages, each fixing what the one before proved: (1) only when the heuristic leaves
 * replicas out, the most replicas placed, priority by priority; (2) the fewest GPUs — skipped
 * when the heuristic already meets the lower bound, which proves it; (3) the fewest nodes on
 * that many GPUs, with at most a quarter of the time limit. The heuristic's GPU count bounds
 * stage 2 from above and the pooled lower bound from below.
 *
 * Tensor parallelism is chosen too: a model with several candidate degrees is a group of
 * alternatives, one class per degree, with binaries z[g,a] choosing one (Σ_a z = 1) and its
 * replicas only in the chosen class (Σ x[·,·,a] ≤ replicas · z[g,a]); replicas of models with one
 * degree are grouped by fit class as before. The precision of every model is the heuristic's (the
 * joint precision choice stays one rule); the previous plan only lends the profiles of unused
 * nodes. Spread is not modelled: `planFleet` keeps the heuristic's plan when the exact one
 * spreads less.
 */

export type ExactStatus = 'optimal' | 'timeout' | 'infeasible' | 'error';

export interface ExactResult {
  /** The exact plan; present when HiGHS found a feasible solution (proven optimal or not). */
  readonly plan?: Plan;
  /** `optimal`: the GPU count (for the most replicas placed) is proven; nodes are the fewest found in time. */
  readonly status: ExactStatus;
  /** Solver wall time, all stages. */
  readonly seconds: number;
  /** Fewest GPUs: proven when `optimal`, else the best found. */
  readonly gpus?: number;
}

// The package's types describe a CommonJS module whose `default` is the loader; Node's ESM loader
// resolves the package's .mjs build, where the loader is the default export itself.
const highsLoader = highsModule.default as unknown as typeof highsModule.default.default;
type Highs = Awaited<ReturnType<typeof highsLoader>>;
let highs: Promise<Highs> | undefined;

/** HiGHS, loaded once per process (the WebAssembly module takes a moment to compile). */
function solver(): Promise<Highs> {
  highs ??= highsLoader();
  return highs;
}

/** What one solve minimizes, and what the earlier stages fixed. */
interface Stage {
  readonly objective: 'misses' | 'gpus' | 'nodes';
  /** Replicas left out per priority (stages after the first). */
  readonly missTotals?: readonly number[];
  readonly gpusAtMost?: number;
  readonly gpusAtLeast?: number;
}

/** One way to place the replicas of a group: a degree and the shapes it may use per pool. */
interface FitClass {
  readonly group: number;
  readonly option: DemandOption;
  readonly tensorParallel: number;
  readonly ranges: ReplicaSpec['ranges'];
}

/** Replicas that share their alternatives: one model with a degree choice, or one fit class. */
interface Group {
  /** Replicas per priority, in placing preference (lowest ordinal first). */
  readonly byPriority: readonly (readonly number[])[];
  /** Its classes (indices); a choice binary per class when there are several. */
  readonly classes: readonly number[];
  /** The model whose degree it chooses, or -1 for a fit class of fixed degrees. */
  readonly model: number;
}

interface Cell {
  /** Variable name suffix `n_s`. */
  readonly id: string;
  readonly node: number;
  readonly shape: number;
  readonly mixed: boolean;
  readonly classes: readonly number[];
}

export interface ExactOptions {
  /**
   * After the fewest GPUs, also search for the fewest nodes (a quarter of the time limit at most).
   * @default true
   */
  readonly minimizeNodes?: boolean;
  /** The heuristic's solution, when the caller has it already (it bounds the search). */
  readonly heuristic?: HeuristicSolution;
}

export async function planExact(input: PlanInput, timeLimitSeconds: number, exactOptions: ExactOptions = {}): Promise<ExactResult> {
  const heuristic = exactOptions.heuristic ?? solveHeuristic(input);
  const { setup } = heuristic;
  // Replica indices do not depend on the options chosen (models in order, ordinals in order).
  const replicas = expandReplicas(setup.models, heuristic.choice, setup.layouts, setup.headroomPercent);
  const { groups, classes } = groupsOf(setup, heuristic.levelOf, replicas);
  const model = new MilpModel(setup, replicas, groups, classes);
  const finish = (columns: Columns, status: ExactStatus, seconds: number, gpus?: number): ExactResult => {
    const choice = model.choiceOf(columns, heuristic.choice);
    const state = model.toState(columns, input, expandReplicas(setup.models, choice, setup.layouts, setup.headroomPercent));
    const unschedulable = state.replicas.filter((r) => state.replicaNode[r.index]! < 0).map((r) => r.index);
    const degrees = { tpOf: heuristic.degrees.tpOf, why: heuristic.degrees.why.map((w, m) => (groups.some((g) => g.model === m) ? 'exact' : w)) as DegreeWhy[] };
    return { plan: writePlan(input, { setup, choice, degrees }, state, unschedulable, 'exact'), status, seconds, gpus: gpus ?? state.usedGpus };
  };
  if (model.empty) return finish({}, 'optimal', 0);

  const h = await solver();
  const started = performance.now();
  const deadline = started + timeLimitSeconds * 1000;
  const remaining = (share = 1) => Math.max(0.5, ((deadline - performance.now()) / 1000) * share);
  const elapsed = () => (performance.now() - started) / 1000;

  // Stage 1, only when the heuristic leaves replicas out: the most replicas, priority by priority.
  const shortfall = [0, 0, 0, 0];
  for (const r of heuristic.run.unschedulable) shortfall[replicas[r]!.priority]!++;
  let missTotals = shortfall;
  let proven = true;
  if (shortfall.some((c) => c > 0)) {
    const first = h.solve(model.lp({ objective: 'misses' }), options(remaining(0.3)));
    if (first.Status === 'Optimal') missTotals = model.missTotals(first.Columns as Columns);
    else proven = false;
  }
  const sameMisses = missTotals.every((m, p) => m === shortfall[p]);
  const heuristicGpus = heuristic.run.state.usedGpus;
  const bound = missTotals.every((m) => m === 0) ? lowerBound(setup.layouts, replicas) : 0;

  // Stage 2: fewest GPUs — known without solving when the heuristic meets the lower bound.
  let gpus: number | undefined;
  let gpuColumns: Columns | undefined;
  if (proven && sameMisses && heuristicGpus === bound) gpus = heuristicGpus;
  else {
    const second = h.solve(
      model.lp({ objective: 'gpus', missTotals, gpusAtMost: sameMisses ? heuristicGpus : undefined, gpusAtLeast: bound }),
      options(remaining(0.6)),
    );
    if (second.Status === 'Infeasible') return { status: 'infeasible', seconds: elapsed() };
    // A time-limited solve may report values without an incumbent: keep only a solution that
    // places what stage 1 fixed, on no fewer GPUs than the lower bound.
    if (hasPrimal(second) && model.gpusOf(second.Columns as Columns) >= bound && sameTotals(model.missTotals(second.Columns as Columns), missTotals)) {
      gpuColumns = second.Columns as Columns;
      gpus = model.gpusOf(gpuColumns);
    }
    if (second.Status !== 'Optimal') proven = false;
    if (gpus === undefined) return { status: second.Status === 'Time limit reached' ? 'timeout' : 'error', seconds: elapsed() };
  }

  const status: ExactStatus = proven ? 'optimal' : 'timeout';
  if (exactOptions.minimizeNodes === false) {
    return gpuColumns ? finish(gpuColumns, status, elapsed(), gpus) : { status, seconds: elapsed(), gpus };
  }
  // Stage 3: fewest nodes on that many GPUs; nodes only break ties, so a quarter of the limit at most.
  const nodesLimit = Math.min(remaining(), Math.max(0.5, timeLimitSeconds / 4));
  const third = h.solve(model.lp({ objective: 'nodes', missTotals, gpusAtMost: gpus, gpusAtLeast: gpus }), options(nodesLimit));
  if (hasPrimal(third) && model.gpusOf(third.Columns as Columns) === gpus && sameTotals(model.missTotals(third.Columns as Columns), missTotals)) {
    return finish(third.Columns as Columns, status, elapsed(), gpus);
  }
  if (gpuColumns) return finish(gpuColumns, status, elapsed(), gpus);
  return { status, seconds: elapsed(), gpus };
}

type Columns = Record<string, { Primal?: number }>;

function options(seconds: number) {
  return { time_limit: seconds, mip_rel_gap: 0, mip_abs_gap: 0.5, output_flag: false, random_seed: 0, threads: 1 } as const;
}

function sameTotals(a: readonly number[], b: readonly number[]): boolean {
  return a.every((x, i) => x === b[i]);
}

function hasPrimal(solution: { Status: string; Columns: unknown }): boolean {
  const columns = Object.values(solution.Columns as Columns);
  return columns.length > 0 && columns.every((c) => typeof c.Primal === 'number');
}

/**
 * The groups and classes of the MILP: per model with several candidate degrees at its precision,
 * one group with a class per degree; the other replicas grouped by fit key, one class each.
 */
function groupsOf(setup: PlanningSetup, levelOf: readonly number[], replicas: readonly ReplicaSpec[]): { groups: Group[]; classes: FitClass[] } {
  const groups: { byPriority: number[][]; classes: number[]; model: number }[] = [];
  const classes: FitClass[] = [];
  const byFitKey = new Map<number, number>();
  const byModel = new Map<number, number>();
  for (const r of replicas) {
    const model = setup.models[r.model]!;
    const alternatives = model.degrees[levelOf[r.model]!] ?? [];
    let g: number;
    if (alternatives.length > 1) {
      if (!byModel.has(r.model)) {
        g = groups.length;
        byModel.set(r.model, g);
        const own = alternatives.map((option) => {
          classes.push({ group: g, option, tensorParallel: option.tensorParallel, ranges: rangesOf(setup, model.pools, option) });
          return classes.length - 1;
        });
        groups.push({ byPriority: [[], [], [], []], classes: own, model: r.model });
      }
      g = byModel.get(r.model)!;
    } else {
      if (!byFitKey.has(r.fitKey)) {
        byFitKey.set(r.fitKey, groups.length);
        classes.push({ group: groups.length, option: r.option, tensorParallel: r.tensorParallel, ranges: r.ranges });
        groups.push({ byPriority: [[], [], [], []], classes: [classes.length - 1], model: -1 });
      }
      g = byFitKey.get(r.fitKey)!;
    }
    groups[g]!.byPriority[r.priority]!.push(r.index);
  }
  return { groups, classes };
}

function rangesOf(setup: PlanningSetup, pools: readonly number[], option: DemandOption): ReplicaSpec['ranges'] {
  return setup.layouts.map((layout) => (pools.includes(layout.index) ? shapeRange(option, layout, setup.headroomPercent) : { lo: 0, hi: -1 }));
}

class MilpModel {
  private readonly cells: Cell[] = [];
  private readonly nodeVars: { node: number; pool: number; binaries: string[] }[] = [];
  private readonly state: FleetState;

  constructor(
    private readonly setup: PlanningSetup,
    private readonly replicas: readonly ReplicaSpec[],
    private readonly groups: readonly Group[],
    private readonly classes: readonly FitClass[],
  ) {
    this.state = new FleetState(setup.layouts, replicas, setup.models.length);
    for (let n = 0; n < this.state.nodeCount; n++) {
      const layout = this.state.layoutOf(n);
      const binaries: string[] = [];
      const mixedPool = layout.shapes.some((s) => s.mixableProfile >= 0);
      if (mixedPool) binaries.push(`m_${n}`);
      layout.shapes.forEach((shape, s) => {
        const fitting = classes.flatMap((c, k) => {
          const range = c.ranges[layout.index]!;
          return range.lo <= s && s <= range.hi ? [k] : [];
        });
        if (fitting.length === 0) return;
        const mixed = shape.mixableProfile >= 0;
        if (!mixed) binaries.push(`y_${n}_${s}`);
        this.cells.push({ id: `${n}_${s}`, node: n, shape: s, mixed, classes: fitting });
      });
      this.nodeVars.push({ node: n, pool: layout.index, binaries });
    }
  }

  private layout(cell: Cell): PoolLayout {
    return this.state.layoutOf(cell.node);
  }

  get empty(): boolean {
    return this.cells.length === 0 || this.classes.length === 0;
  }

  gpusOf(columns: Columns): number {
    return this.cells.reduce((sum, cell) => sum + value(columns, `u_${cell.id}`), 0);
  }

  lp(stage: Stage): string {
    const rows: string[] = [];
    const bounds: string[] = [];
    const generals: string[] = [];
    const binaries: string[] = [];
    const objective: string[] = [];
    const missVar = (k: number, p: number) => `miss_${k}_${p}`;

    for (const cell of this.cells) {
      const layout = this.layout(cell);
      const P = layout.shapes[cell.shape]!.partitionsPerGpu;
      const G = layout.gpusPerNode;
      const u = `u_${cell.id}`;
      generals.push(u);
      bounds.push(`0 <= ${u} <= ${G}`);
      const terms = [`${P} ${u}`];
      for (const k of cell.classes) {
        const x = `x_${cell.id}_${k}`;
        generals.push(x);
        terms.push(`- ${this.classes[k]!.tensorParallel} ${x}`);
      }
      rows.push(`cap_${cell.id}: ${terms.join(' ')} >= 0`);
      if (!cell.mixed) rows.push(`mode_${cell.id}: ${u} - ${G} y_${cell.id} <= 0`);
      if (stage.objective === 'gpus') objective.push(`1 ${u}`);
    }
    for (const { node, binaries: vars } of this.nodeVars) {
      binaries.push(...vars);
      if (vars.length > 1) rows.push(`one_${node}: ${vars.join(' + ')} <= 1`);
      const mixedCells = this.cells.filter((c) => c.node === node && c.mixed);
      if (mixedCells.length > 0) {
        const G = this.state.nodeGpus[node]!;
        rows.push(`mixed_${node}: ${mixedCells.map((c) => `u_${c.id}`).join(' + ')} - ${G} m_${node} <= 0`);
      }
      if (stage.objective === 'nodes') objective.push(...vars.map((v) => `1 ${v}`));
    }
    const placedIn = (k: number) => this.cells.filter((cell) => cell.classes.includes(k)).map((cell) => `x_${cell.id}_${k}`);
    this.groups.forEach((group, g) => {
      const terms = group.classes.flatMap(placedIn);
      const count = group.byPriority.reduce((sum, list) => sum + list.length, 0);
      group.byPriority.forEach((list, p) => {
        if (list.length === 0) return;
        terms.push(missVar(g, p));
        generals.push(missVar(g, p));
        bounds.push(`0 <= ${missVar(g, p)} <= ${list.length}`);
      });
      rows.push(`demand_${g}: ${terms.length > 0 ? terms.join(' + ') : `0 ${missVar(g, 0)}`} = ${count}`);
      if (group.classes.length < 2) return;
      // One degree per model: its replicas only in the class its binary chooses.
      for (const k of group.classes) {
        binaries.push(`z_${k}`);
        const placed = placedIn(k);
        if (placed.length > 0) rows.push(`choose_${k}: ${placed.join(' + ')} - ${count} z_${k} <= 0`);
      }
      rows.push(`one_degree_${g}: ${group.classes.map((k) => `z_${k}`).join(' + ')} = 1`);
    });
    if (stage.objective === 'misses') {
      const weights = priorityWeights(this.groups);
      this.groups.forEach((group, g) =>
        group.byPriority.forEach((list, p) => {
          if (list.length > 0) objective.push(`${weights[p]} ${missVar(g, p)}`);
        }),
      );
    } else {
      for (let p = 0; p < 4; p++) {
        const terms = this.groups.flatMap((group, g) => (group.byPriority[p]!.length > 0 ? [missVar(g, p)] : []));
        if (terms.length > 0) rows.push(`missed_${p}: ${terms.join(' + ')} = ${stage.missTotals![p]}`);
      }
    }
    const all = this.cells.map((c) => `u_${c.id}`).join(' + ');
    if (stage.gpusAtMost !== undefined) rows.push(`gpus_at_most: ${all} <= ${stage.gpusAtMost}`);
    if (stage.gpusAtLeast) rows.push(`gpus_at_least: ${all} >= ${stage.gpusAtLeast}`);
    if (objective.length === 0) objective.push(`0 u_${this.cells[0]!.id}`);
    rows.push(...this.symmetryRows());
    return [
      'Minimize',
      ` obj: ${wrap(objective.join(' + '))}`,
      'Subject To',
      ...rows.map((r) => ` ${wrap(r)}`),
      'Bounds',
      ...bounds.map((b) => ` ${b}`),
      'General',
      ...chunk(generals).map((g) => ` ${g}`),
      'Binary',
      ...chunk(binaries).map((b) => ` ${b}`),
      'End',
      '',
    ].join('\n');
  }

  /** Nodes of a pool are interchangeable: order them by GPUs used. */
  private symmetryRows(): string[] {
    const rows: string[] = [];
    const usage = (n: number) => this.cells.filter((c) => c.node === n).map((c) => `u_${c.id}`);
    for (let n = 0; n + 1 < this.state.nodeCount; n++) {
      const next = this.nextInPool(n);
      if (next < 0) continue;
      const a = usage(n);
      const b = usage(next);
      if (a.length === 0 || b.length === 0) continue;
      rows.push(`sym_${n}: ${a.join(' + ')} - ${b.join(' - ')} >= 0`);
    }
    return rows;
  }

  private nextInPool(n: number): number {
    for (let m = n + 1; m < this.state.nodeCount; m++) if (this.state.nodePool[m] === this.state.nodePool[n]) return m;
    return -1;
  }

  missTotals(columns: Columns): number[] {
    const totals = [0, 0, 0, 0];
    this.groups.forEach((group, g) =>
      group.byPriority.forEach((list, p) => {
        if (list.length > 0) totals[p]! += value(columns, `miss_${g}_${p}`);
      }),
    );
    return totals;
  }

  /** The option every model runs at in the solution: the chosen class of each degree group. */
  choiceOf(columns: Columns, base: Choice): Choice {
    const choice = [...base];
    for (const group of this.groups) {
      if (group.model < 0) continue;
      const chosen = group.classes.find((k) => value(columns, `z_${k}`) === 1) ?? group.classes[0]!;
      choice[group.model] = this.classes[chosen]!.option;
    }
    return choice;
  }

  /**
   * The solution as a fleet state with concrete partitions: per node, its shapes' GPUs in
   * order (coarsest shape on the lowest GPUs), replicas widest first, partitions in index order.
   */
  toState(columns: Columns, input: PlanInput, replicas: readonly ReplicaSpec[]): FleetState {
    const state = new FleetState(this.setup.layouts, replicas, this.setup.models.length);
    if (input.previous) seedProfiles(state, input.previous);
    const queues = this.groups.map((group, g) => {
      const out: number[] = [];
      group.byPriority.forEach((list, p) => {
        const missed = list.length > 0 ? value(columns, `miss_${g}_${p}`) : 0;
        out.push(...list.slice(0, list.length - missed));
      });
      return out;
    });
    const nextGpu = new Int32Array(state.nodeCount);
    for (const cell of this.cells) {
      const gpus = value(columns, `u_${cell.id}`);
      const assigned: number[] = [];
      for (const k of cell.classes) assigned.push(...queues[this.classes[k]!.group]!.splice(0, value(columns, `x_${cell.id}_${k}`)));
      if (assigned.length === 0) continue;
      assigned.sort((a, b) => replicas[b]!.tensorParallel - replicas[a]!.tensorParallel || a - b);
      const layout = this.layout(cell);
      const shape = layout.shapes[cell.shape]!;
      const profile = cell.mixed ? shape.mixableProfile : shape.profile;
      const base = state.nodeGpuBase[cell.node]!;
      const first = cell.mixed ? nextGpu[cell.node]! : 0;
      const range = Array.from({ length: cell.mixed ? gpus : state.nodeGpus[cell.node]! }, (_, i) => base + first + i);
      nextGpu[cell.node] = first + gpus;
      for (const r of assigned) state.place(r, cell.node, profile, range);
    }
    return state;
  }
}

function value(columns: Columns, name: string): number {
  return Math.round(columns[name]?.Primal ?? 0);
}

/** Missing one replica of a priority outweighs missing every replica of all lower priorities. */
function priorityWeights(groups: readonly Group[]): number[] {
  const counts = [0, 0, 0, 0];
  for (const group of groups) group.byPriority.forEach((list, p) => (counts[p]! += list.length));
  const weights = [0, 0, 0, 1];
  for (let p = 2; p >= 0; p--) weights[p] = weights[p + 1]! * (counts[p + 1]! + 1);
  return weights;
}

/** LP-format lines stay short: HiGHS reads continuation lines. */
function wrap(line: string): string {
  const words = line.split(' ');
  const out: string[] = [];
  let current = '';
  for (const word of words) {
    if (current.length + word.length > 200) {
      out.push(current);
      current = '';
    }
    current = current ? `${current} ${word}` : word;
  }
  out.push(current);
  return out.join('\n  ');
}

function chunk(names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < names.length; i += 20) out.push(names.slice(i, i + 20).join(' '));
  return out;
}
