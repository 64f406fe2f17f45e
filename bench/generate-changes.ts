import type { PlanInput } from '../planner/heuristic.ts';
import type { Plan } from '../planner/types.ts';
import type { DemandOption, ModelDemand } from '../sizing/types.ts';

/**
 * The changes a fleet goes through between two commits, each applied to an instance and its
 * current plan: one replica more, one less, a model added, a model removed, a precision changed,
 * a node lost. All touch one model (the first, by name, that is placed, has two or more replicas
 * and a fixed precision) so the churn they cause elsewhere can be measured.
 */

export const CHANGES = ['replica+1', 'replica-1', 'model+', 'model-', 'precision', 'node-'] as const;
export type Change = (typeof CHANGES)[number];

export interface Changed {
  readonly change: Change;
  readonly input: PlanInput;
  /**
   * Replicas expected to move, not counted as churn: those of a lost node, and those of the
   * changed model when its precision changes (its pods restart anyway).
   */
  readonly displaced: ReadonlySet<string>;
}

const ADDED: ModelDemand = {
  model: 'zz-added-llama-3-1-8b',
  priority: 'medium',
  replicas: 1,
  pools: [],
  precisionAuto: false,
  options: [1, 2, 4, 8].map((tensorParallel) => ({ precision: 'bf16', tensorParallel, memoryGiBPerPartition: 16.2 / tensorParallel + 1.5 })),
};

/** The model every change touches; undefined when no model qualifies. */
export function changedModel(input: PlanInput, plan: Plan): ModelDemand | undefined {
  const placed = new Set(plan.replicas.map((r) => r.model));
  return [...input.demands]
    .filter((d) => placed.has(d.model) && d.replicas >= 2 && !d.precisionAuto)
    .sort((a, b) => (a.model < b.model ? -1 : 1))[0];
}

export function applyChange(change: Change, input: PlanInput, plan: Plan): Changed | undefined {
  const target = changedModel(input, plan);
  if (!target) return undefined;
  const edit = (f: (d: ModelDemand) => ModelDemand | undefined): ModelDemand[] =>
    input.demands.flatMap((d) => {
      const next = d.model === target.model ? f(d) : d;
      return next ? [next] : [];
    });
  const none = new Set<string>();
  switch (change) {
    case 'replica+1':
      return { change, input: { ...input, demands: edit((d) => ({ ...d, replicas: d.replicas + 1 })) }, displaced: none };
    case 'replica-1':
      return { change, input: { ...input, demands: edit((d) => ({ ...d, replicas: d.replicas - 1 })) }, displaced: none };
    case 'model+':
      return { change, input: { ...input, demands: [...input.demands, { ...ADDED, pools: input.pools.map((p) => p.name) }] }, displaced: none };
    case 'model-':
      return { change, input: { ...input, demands: edit(() => undefined) }, displaced: none };
    case 'precision': {
      const displaced = new Set(plan.replicas.filter((r) => r.model === target.model).map((r) => r.id));
      return { change, input: { ...input, demands: edit((d) => ({ ...d, options: d.options.map(otherPrecision) })) }, displaced };
    }
    case 'node-': {
      const lost = plan.replicas.find((r) => r.model === target.model)!.node;
      const displaced = new Set(plan.replicas.filter((r) => r.node === lost).map((r) => r.id));
      const pools = input.pools.map((p) => ({ ...p, nodes: p.nodes.filter((n) => n !== lost) }));
      return { change, input: { ...input, pools }, displaced };
    }
  }
}

/** bf16 → fp8 (weights halve, about 0.6 of the rank), fp8 → int4, int4 → fp8. */
function otherPrecision(option: DemandOption): DemandOption {
  const down = option.precision === 'bf16' || option.precision === 'fp16';
  const precision = down ? 'fp8' : option.precision === 'fp8' ? 'int4' : 'fp8';
  const factor = down ? 0.6 : option.precision === 'fp8' ? 0.7 : 1.4;
  return { ...option, precision, memoryGiBPerPartition: Math.round(option.memoryGiBPerPartition * factor * 100) / 100 };
}
