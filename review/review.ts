import { plural } from '../api/words.ts';
import type { Priority } from '../api/types.ts';
import { diffPlans, isEmptyDiff, placement, type PlanDiff } from '../planner/diff.ts';
import type { Plan, PlanReplica } from '../planner/types.ts';
import { compareTrees, type FileChange, type Files } from './files.ts';
import { type ConfigChange, manifestChanges, type PodRestart } from './workloads.ts';

/** Pods replaced together: one InferenceService (Recreate: all its pods at once), or the runtime under them. */
export interface RestartGroup {
  readonly resource: string;
  readonly model?: string;
  readonly node?: string;
  /** The running replicas this restarts, all at the same time. */
  readonly replicas: readonly string[];
  readonly changes: readonly string[];
}

/** A model's replicas before and after, and how many keep serving while the change rolls out. */
export interface ModelAvailability {
  readonly model: string;
  readonly priority?: Priority;
  readonly before: number;
  readonly after: number;
  /** Running replicas no part of the change touches (not moved, restarted, evicted or removed). */
  readonly upDuring: number;
  readonly changes: readonly string[];
}

/** The review of a change, as `aim-gpu plan` prints it: what the cluster will do, resource by resource. */
export interface ReviewDiff {
  /** False when applying the change would do nothing. */
  readonly changed: boolean;
  readonly plan: PlanDiff;
  readonly churn: { readonly replicaMoves: number; readonly profileChanges: number };
  readonly models: readonly ModelAvailability[];
  readonly restarts: readonly RestartGroup[];
  /** Other workloads whose pods roll (the partition DaemonSet, …). */
  readonly rollouts: readonly { resource: string; changes: readonly string[] }[];
  /** Objects that change without replacing pods (Services, alert rules, dashboards, …). */
  readonly configuration: readonly ConfigChange[];
  readonly files: readonly FileChange[];
  /** The compile's own warnings (spec diagnostics, formatted). */
  readonly diagnostics: readonly string[];
  /** What a reviewer must not miss: outages, evictions, unschedulable demand. */
  readonly warnings: readonly string[];
}

export interface ReviewInput {
  readonly base?: Plan;
  readonly next: Plan;
  readonly baseFiles: Files;
  readonly nextFiles: Files;
  /** Model → priority tier of the next specs. */
  readonly priorities: ReadonlyMap<string, Priority>;
  /** Warnings of the compile (spec diagnostics, formatted), shown with the review's own. */
  readonly diagnostics?: readonly string[];
}

function replicasOf(plan: Plan | undefined, model: string | undefined, node: string | undefined): PlanReplica[] {
  return (plan?.replicas ?? []).filter((r) => (model === undefined || r.model === model) && (node === undefined || r.node === node));
}

/**
 * The running replicas a pod-shape change restarts: those that stay where they were (others are
 * moves or additions). An InferenceService serves the replica its annotation names (one per node
 * and model in output before 0.3).
 */
function restartGroup(restart: PodRestart, input: ReviewInput, plan: PlanDiff): RestartGroup {
  const before = new Map((input.base?.replicas ?? []).map((r) => [r.id, placement(r)]));
  const scope =
    restart.kind === 'ServingRuntime'
      ? replicasOf(input.next, undefined, undefined)
      : restart.replica !== undefined
        ? input.next.replicas.filter((r) => r.id === restart.replica)
        : replicasOf(input.next, restart.model, restart.node);
  const replicas = scope.filter((r) => before.get(r.id) === placement(r)).map((r) => r.id);
  const planChanges = plan.reconfigured.filter((c) => replicas.includes(c.id)).flatMap((c) => c.changes);
  return {
    resource: restart.resource,
    ...(restart.model !== undefined && { model: restart.model }),
    ...(restart.node !== undefined && { node: restart.node }),
    replicas,
    changes: [...new Set([...planChanges, ...restart.changes])],
  };
}

function availability(input: ReviewInput, plan: PlanDiff, restarts: readonly RestartGroup[]): ModelAvailability[] {
  const touched = new Map<string, Set<string>>();
  const touch = (id: string, why: string) => touched.set(id, (touched.get(id) ?? new Set()).add(why));
  for (const r of plan.repartitioned) for (const id of r.evicts) touch(id, `node ${r.node} repartitioned`);
  // A surging move keeps the old pod until the new one is Ready: a change, not a disruption.
  const noted = new Map<string, Set<string>>();
  for (const m of plan.moved) {
    if (m.rollout === 'surge') noted.set(m.id, (noted.get(m.id) ?? new Set()).add('moved'));
    else touch(m.id, 'moved');
  }
  for (const c of plan.reconfigured) for (const change of c.changes) touch(c.id, change.replace(/ .*/, ''));
  for (const r of plan.removed) touch(r.id, 'removed');
  for (const u of plan.unschedulable) if (u.status === 'evicted') touch(u.id, 'evicted');
  for (const g of restarts) for (const id of g.replicas) for (const change of g.changes) touch(id, change.replace(/[: ].*/, ''));

  const models = [...new Set([...(input.base?.replicas ?? []), ...input.next.replicas, ...input.next.unschedulable].map((r) => r.model))].sort();
  return models.flatMap((model) => {
    const before = replicasOf(input.base, model, undefined);
    const after = replicasOf(input.next, model, undefined).length;
    const hit = before.filter((r) => touched.has(r.id));
    const changes = [...new Set(before.flatMap((r) => [...(touched.get(r.id) ?? []), ...(noted.get(r.id) ?? [])]))].sort();
    if (before.length === after && changes.length === 0) return [];
    return [{ model, ...(input.priorities.has(model) && { priority: input.priorities.get(model)! }), before: before.length, after, upDuring: before.length - hit.length, changes }];
  });
}

function reviewWarnings(models: readonly ModelAvailability[], plan: PlanDiff): string[] {
  const warnings: string[] = [];
  for (const m of models) {
    if (m.before > 0 && m.upDuring === 0 && m.after > 0) {
      warnings.push(`${m.model}: ${m.before === 1 ? 'its only replica' : m.before === 2 ? 'both replicas' : `all ${m.before} replicas`} ${m.before === 1 ? 'is' : 'are'} disrupted (${m.changes.join(', ')}); the model is unavailable during the change`);
    }
  }
  const evicted = plan.unschedulable.filter((u) => u.status === 'evicted');
  // Counts only: each unschedulable replica is named once, in the diff's Unschedulable section.
  if (evicted.length) warnings.push(`${plural(evicted.length, 'running replica')} evicted and not placed again (see Unschedulable)`);
  const fresh = plan.unschedulable.filter((u) => u.status === 'new');
  if (fresh.length) warnings.push(`${plural(fresh.length, 'new replica')} unschedulable (see Unschedulable)`);
  return warnings;
}

/** The review of replacing `base` (plan and output files) with `next`. Pure: the CLI reads the trees. */
export function reviewChange(input: ReviewInput): ReviewDiff {
  const plan = diffPlans(input.base, input.next, input.priorities);
  const files = compareTrees(input.baseFiles, input.nextFiles);
  const manifests = manifestChanges(input.baseFiles, input.nextFiles, files);
  const groups = manifests.restarts
    .filter((r) => r.kind === 'InferenceService' || r.kind === 'ServingRuntime')
    .map((r) => restartGroup(r, input, plan));
  // A pod-shape change with no running replica left in place only concerns replicas the plan
  // diff already shows as moved or added: a configuration change, not a restart.
  const restarts = groups.filter((g) => g.replicas.length > 0);
  const reshaped = groups
    .filter((g) => g.replicas.length === 0)
    .map((g): ConfigChange => ({ resource: g.resource, path: '', change: 'changed', detail: `pod spec for moved or added replicas: ${g.changes.join('; ')}` }));
  const rollouts = manifests.restarts
    .filter((r) => r.kind !== 'InferenceService' && r.kind !== 'ServingRuntime')
    .map((r) => ({ resource: r.resource, changes: r.changes }));
  const models = availability(input, plan, restarts);
  return {
    changed: !isEmptyDiff(plan) || files.length > 0,
    plan,
    churn: { replicaMoves: plan.moved.length, profileChanges: plan.repartitioned.length },
    models,
    restarts,
    rollouts,
    configuration: [...reshaped, ...manifests.other],
    files,
    diagnostics: input.diagnostics ?? [],
    warnings: reviewWarnings(models, plan),
  };
}
