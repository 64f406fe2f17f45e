import { disruptionBudget } from '../../constructs/disruption-budget.ts';
import type { Plan, PlanReplica } from '../../planner/types.ts';
import { model } from './resources.ts';

/** `minAvailable` in pods of the budgets synth emits for a plan whose models set no `minAvailable`. */
export function defaultBudgetPods(plan: Plan): Map<string, number> {
  const byModel = new Map<string, PlanReplica[]>();
  for (const r of plan.replicas) byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
  return new Map(
    [...byModel].flatMap(([name, replicas]) => {
      const budget = disruptionBudget(model(name, { model: `org/${name}` }), replicas);
      return budget ? [[name, budget.pods] as const] : [];
    }),
  );
}
