import { PRIORITIES, type Priority } from '../api/types.ts';
import { partitionKey } from './moved.ts';
import type { Plan, PlanNode, PlanProfile, PlanReplica, RolloutStrategy } from './types.ts';

/** GPUs and partitions of a plan's nodes. */
export interface Capacity {
  readonly nodes: number;
  readonly gpus: number;
  readonly partitions: number;
}

export interface NodeAt {
  readonly node: string;
  readonly pool: string;
  readonly gpu: string;
  readonly gpus: number;
  readonly profile: string;
}

/** A replica placed in the base plan that the next plan cannot place: its pod is evicted. */
export interface Unschedulable {
  readonly id: string;
  readonly reason: string;
  /** `new`: demanded for the first time; `still`: unschedulable before too; `evicted`: was running. */
  readonly status: 'new' | 'still' | 'evicted';
  /** Where it ran, when evicted. */
  readonly from?: string;
  /** Why it lost its place, when evicted: "preempted by llama-8b, priority high", "node gpu-node-03 removed", … */
  readonly cause?: string;
}

/**
 * What changes on the cluster when `next` replaces `base`, from the plans alone (the review layer
 * adds what only the manifests show: args, env, images, resources). Every replica id appears in at
 * most one of added, removed, moved, reconfigured (a moved replica's configuration change is in
 * `changes`), nowScheduled and unschedulable.
 */
export interface PlanDiff {
  readonly nodes: { readonly added: readonly NodeAt[]; readonly removed: readonly NodeAt[] };
  readonly capacity: { readonly before: Capacity; readonly after: Capacity };
  readonly gpusUsed: { readonly before: number; readonly after: number };
  readonly lowerBound: { readonly before: number; readonly after: number };
  /**
   * Nodes whose partition profile changes, with the base replicas the repartition evicts (the
   * partitioner's drain, through their budgets) and those that move off first (surging elsewhere).
   */
  readonly repartitioned: readonly { node: string; from: string; to: string; evicts: readonly string[]; movesOff: readonly string[] }[];
  readonly added: readonly { id: string; at: string }[];
  /** Base replicas no longer demanded (scaled down, model removed). */
  readonly removed: readonly { id: string; from: string }[];
  /**
   * `surge` when the new pod is Ready before the old one stops (the rollout strategy the plan
   * gives it), `recreate` with the reason when the old one stops first.
   */
  readonly moved: readonly { id: string; from: string; to: string; changes: readonly string[]; rollout: RolloutStrategy; note?: string }[];
  /** Same place, other precision or tensor parallelism: the pod restarts. */
  readonly reconfigured: readonly { id: string; at: string; changes: readonly string[] }[];
  /** Unschedulable in the base plan, placed now. */
  readonly nowScheduled: readonly { id: string; at: string }[];
  /** Every replica the next plan cannot place, once. */
  readonly unschedulable: readonly Unschedulable[];
}

export function profileName(profile: PlanProfile): string {
  return `${profile.compute}-${profile.memory}`;
}

/** The node's profile as one string: `CPX-NPS4`, or per GPU for a mixed node. */
export function nodeProfileName(node: PlanNode): string {
  return node.mixed ? node.gpus.map((g) => profileName(g.profile)).join(',') : profileName(node.profile);
}

export function placement(replica: PlanReplica): string {
  const parts = replica.partitions.map(partitionKey).join(',');
  return `${replica.node}[${parts}]`;
}

/**
 * A replica whose old pod the partitioner's drain does not evict: it moves to another node and
 * its new pod is Ready first, before the old one stops (and before the drain, which waits for it).
 */
function surgesElsewhere(before: PlanReplica, after: PlanReplica | undefined): boolean {
  return after !== undefined && after.node !== before.node && after.rollout?.strategy === 'surge';
}

function configurationChanges(before: PlanReplica, after: PlanReplica): string[] {
  const changes: string[] = [];
  if (before.precision !== after.precision) changes.push(`precision ${before.precision} → ${after.precision}`);
  if (before.tensorParallel !== after.tensorParallel) changes.push(`tensor parallelism ${before.tensorParallel} → ${after.tensorParallel}`);
  return changes;
}

export function capacityOf(plan: Plan | undefined): Capacity {
  const nodes = plan?.nodes ?? [];
  return {
    nodes: nodes.length,
    gpus: nodes.reduce((sum, n) => sum + n.gpus.length, 0),
    partitions: nodes.reduce((sum, n) => sum + n.gpus.reduce((s, g) => s + g.partitions.length, 0), 0),
  };
}

function nodeAt(node: PlanNode): NodeAt {
  return { node: node.name, pool: node.pool, gpu: node.gpu, gpus: node.gpus.length, profile: nodeProfileName(node) };
}

const rank = (priority: Priority | undefined) => (priority === undefined ? PRIORITIES.length : PRIORITIES.indexOf(priority));

/**
 * Why a running replica lost its place: its node left the fleet; else a replica that arrived on
 * its node (or, failing that, anywhere) with a higher priority preempted it; else the reason the
 * planner gives (capacity, a partition profile no longer allowed, …).
 */
function evictionCause(
  lost: PlanReplica,
  base: Plan,
  next: Plan,
  priorities: ReadonlyMap<string, Priority>,
  reason: string,
): string {
  const before = new Map(base.replicas.map((r) => [r.id, r]));
  if (!next.nodes.some((n) => n.name === lost.node)) return `node ${lost.node} removed`;
  const mine = rank(priorities.get(lost.model));
  const arrivals = next.replicas.filter((r) => before.get(r.id)?.node !== r.node && rank(priorities.get(r.model)) < mine);
  const byRank = (a: PlanReplica, b: PlanReplica) => rank(priorities.get(a.model)) - rank(priorities.get(b.model)) || (a.id < b.id ? -1 : 1);
  const preemptor = [...arrivals.filter((r) => r.node === lost.node).sort(byRank), ...arrivals.sort(byRank)][0];
  return preemptor ? `preempted by ${preemptor.model}, priority ${priorities.get(preemptor.model)}` : reason;
}

/**
 * Compares two plans; an absent base means everything is new. `priorities` (model → tier, of the
 * next specs) names the preempting model of an eviction.
 */
export function diffPlans(base: Plan | undefined, next: Plan, priorities: ReadonlyMap<string, Priority> = new Map()): PlanDiff {
  const baseNodes = new Map((base?.nodes ?? []).map((n) => [n.name, n]));
  const nextNodes = new Set(next.nodes.map((n) => n.name));
  const baseReplicas = new Map((base?.replicas ?? []).map((r) => [r.id, r]));
  const baseUnschedulable = new Set((base?.unschedulable ?? []).map((u) => u.id));

  const nextReplicas = new Map(next.replicas.map((r) => [r.id, r]));
  const repartitioned = next.nodes.flatMap((n) => {
    const old = baseNodes.get(n.name);
    if (!old || nodeProfileName(old) === nodeProfileName(n)) return [];
    const here = (base?.replicas ?? []).filter((r) => r.node === n.name);
    const movesOff = here.filter((r) => surgesElsewhere(r, nextReplicas.get(r.id))).map((r) => r.id);
    const evicts = here.filter((r) => !movesOff.includes(r.id)).map((r) => r.id);
    return [{ node: n.name, from: nodeProfileName(old), to: nodeProfileName(n), evicts, movesOff }];
  });

  const added: { id: string; at: string }[] = [];
  const nowScheduled: { id: string; at: string }[] = [];
  const moved: { id: string; from: string; to: string; changes: string[]; rollout: RolloutStrategy; note?: string }[] = [];
  const reconfigured: { id: string; at: string; changes: string[] }[] = [];
  for (const replica of next.replicas) {
    const before = baseReplicas.get(replica.id);
    if (!before) {
      (baseUnschedulable.has(replica.id) ? nowScheduled : added).push({ id: replica.id, at: placement(replica) });
      continue;
    }
    const changes = configurationChanges(before, replica);
    if (placement(before) !== placement(replica)) {
      const rollout = replica.rollout?.strategy ?? 'recreate';
      const note = replica.rollout?.note;
      moved.push({ id: replica.id, from: placement(before), to: placement(replica), changes, rollout, ...(note !== undefined && { note }) });
    }
    else if (changes.length > 0) reconfigured.push({ id: replica.id, at: placement(replica), changes });
  }

  const nextPlaced = new Set(next.replicas.map((r) => r.id));
  const nextUnschedulable = new Map(next.unschedulable.map((u) => [u.id, u]));
  const removed = (base?.replicas ?? [])
    .filter((r) => !nextPlaced.has(r.id) && !nextUnschedulable.has(r.id))
    .map((r) => ({ id: r.id, from: placement(r) }));
  const unschedulable = next.unschedulable.map((u): Unschedulable => {
    const was = baseReplicas.get(u.id);
    if (was && base) {
      return { id: u.id, reason: u.reason, status: 'evicted', from: placement(was), cause: evictionCause(was, base, next, priorities, u.reason) };
    }
    return { id: u.id, reason: u.reason, status: baseUnschedulable.has(u.id) ? 'still' : 'new' };
  });

  return {
    nodes: {
      added: next.nodes.filter((n) => !baseNodes.has(n.name)).map(nodeAt),
      removed: [...baseNodes.values()].filter((n) => !nextNodes.has(n.name)).map(nodeAt),
    },
    capacity: { before: capacityOf(base), after: capacityOf(next) },
    gpusUsed: { before: base?.summary.gpusUsed ?? 0, after: next.summary.gpusUsed },
    lowerBound: { before: base?.summary.lowerBound ?? 0, after: next.summary.lowerBound },
    repartitioned,
    added,
    removed,
    moved,
    reconfigured,
    nowScheduled,
    unschedulable,
  };
}

/** True when applying `next` changes nothing the plan describes (still-unschedulable replicas are no change). */
export function isEmptyDiff(diff: PlanDiff): boolean {
  return (
    diff.nodes.added.length +
      diff.nodes.removed.length +
      diff.repartitioned.length +
      diff.added.length +
      diff.removed.length +
      diff.moved.length +
      diff.reconfigured.length +
      diff.nowScheduled.length +
      diff.unschedulable.filter((u) => u.status !== 'still').length ===
    0
  );
}
