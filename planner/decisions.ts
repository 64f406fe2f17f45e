import type { DemandOption } from '../sizing/types.ts';
import type { DegreeWhy } from './degrees.ts';
import { gpuShare, type ResolvedModel, shapeRange } from './demands.ts';
import type { FleetState } from './fleet.ts';
import type { Solved } from './heuristic.ts';
import { gib } from './reasons.ts';
import type { Plan, PlanModel, PlanSpread } from './types.ts';

/** The per-model part of the plan: chosen precision and degree with the reason, and how it spread. */
export function modelDecisions(solved: Solved, state: FleetState, previous?: Plan): PlanModel[] {
  const { setup, choice, degrees } = solved;
  const before = new Map((previous?.models ?? []).map((m) => [m.name, m]));
  const out: PlanModel[] = [];
  const nodesOf = setup.models.map(() => new Set<number>());
  for (const r of state.replicas) if (state.replicaNode[r.index]! >= 0) nodesOf[r.model]!.add(state.replicaNode[r.index]!);
  for (const model of setup.models) {
    const option = choice[model.index];
    if (!option) continue;
    const nodes = nodesOf[model.index]!;
    const placed = state.modelPlaced[model.index]!;
    out.push({
      name: model.demand.model,
      precision: option.precision,
      tensorParallel: option.tensorParallel,
      tensorParallelReason: keptReason(before.get(model.demand.model), option) ?? degreeReason(solved, model, option, degrees.why[model.index]!),
      replicas: model.demand.replicas,
      placed,
      nodes: nodes.size,
      ...(state.spread[model.index] && { spread: spreadOf(model, state, placed) }),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function spreadOf(model: ResolvedModel, state: FleetState, placed: number): PlanSpread {
  const asked = model.demand.spread!;
  return {
    topologyKey: asked.topologyKey,
    whenUnsatisfiable: asked.hard ? 'DoNotSchedule' : 'ScheduleAnyway',
    domains: state.modelCovered[model.index]!,
    wanted: Math.min(placed, state.spread[model.index]!.wanted),
  };
}

/** A model still at the precision and degree of the previous plan keeps the reason given then. */
function keptReason(before: PlanModel | undefined, option: DemandOption): string | undefined {
  return before && before.precision === option.precision && before.tensorParallel === option.tensorParallel ? before.tensorParallelReason : undefined;
}

const WHY: Record<DegreeWhy, string> = {
  only: 'the only degree it can run at',
  share: 'the smallest GPU share (on ties: finer partitions, then the lower degree)',
  lowered: 'the lowest degree that keeps the fleet on as few GPUs and nodes',
  repair: 'a degree that lets more replicas be placed',
  running: 'the degree it runs at in the previous plan (a change restarts its replicas)',
  exact: 'chosen with the node profiles by the exact optimizer (HiGHS), for the fewest GPUs',
};

function degreeReason(solved: Solved, model: ResolvedModel, option: DemandOption, why: DegreeWhy): string {
  const candidates = model.degrees.find((d) => d[0]?.precision === option.precision) ?? [option];
  if (candidates.length <= 1) {
    const explicit = model.demand.options.filter((o) => o.precision === option.precision).length === 1;
    return explicit ? `${option.tensorParallel}: set by spec.tensorParallel` : `${option.tensorParallel}: ${WHY.only}`;
  }
  const { layouts, headroomPercent } = solved.setup;
  const describe = (o: DemandOption) => {
    const share = gpuShare(o, model.pools, layouts, headroomPercent);
    let memory = Infinity;
    for (const p of model.pools) {
      const range = shapeRange(o, layouts[p]!, headroomPercent);
      if (range.lo <= range.hi) memory = Math.min(memory, layouts[p]!.shapes[range.hi]!.memoryGiB);
    }
    return `${o.tensorParallel} on ${gib(memory)} GiB partitions (${gib(share)} GPU${share > 1 ? 's' : ''} a replica)`;
  };
  const others = candidates.filter((o) => o !== option).map(describe);
  return `auto: ${describe(option)}, ${WHY[why]}; candidates: ${others.join(', ')}`;
}
