import type { Plan, PlanProfile, PlanReplica } from './types.ts';

/** What changes on the cluster when `next` replaces `base`: the review a plan diff is for. */
export interface PlanDiff {
  /** Nodes whose partition profile changes: every pod on them is evicted. */
  readonly repartitioned: readonly { node: string; from: string; to: string }[];
  readonly added: readonly ReplicaAt[];
  readonly removed: readonly ReplicaAt[];
  /** Same replica id, other node or partitions. */
  readonly moved: readonly { id: string; from: string; to: string }[];
  /** Same place, other precision or tensor parallelism (the pod restarts). */
  readonly reconfigured: readonly { id: string; from: string; to: string }[];
  readonly newlyUnschedulable: readonly { id: string; reason: string }[];
  readonly nowScheduled: readonly string[];
  readonly gpusUsed: { readonly from: number; readonly to: number };
}

export interface ReplicaAt {
  readonly id: string;
  readonly at: string;
}

export function profileName(profile: PlanProfile): string {
  return `${profile.compute}-${profile.memory}`;
}

/** The node's profile as one string: `CPX-NPS4`, or per GPU for a mixed node. */
export function nodeProfileName(node: Plan['nodes'][number]): string {
  return node.mixed ? node.gpus.map((g) => profileName(g.profile)).join(',') : profileName(node.profile);
}

export function placement(replica: PlanReplica): string {
  const parts = replica.partitions.map((p) => `${p.gpu}.${p.partition}`).join(',');
  return `${replica.node}[${parts}]`;
}

function configuration(replica: PlanReplica): string {
  return `${replica.precision} tp${replica.tensorParallel}`;
}

/** Compares two plans; an absent base means everything is new. */
export function diffPlans(base: Plan | undefined, next: Plan): PlanDiff {
  const baseNodes = new Map((base?.nodes ?? []).map((n) => [n.name, nodeProfileName(n)]));
  const repartitioned = next.nodes.flatMap((n) => {
    const from = baseNodes.get(n.name);
    const to = nodeProfileName(n);
    return from !== undefined && from !== to ? [{ node: n.name, from, to }] : [];
  });

  const baseReplicas = new Map((base?.replicas ?? []).map((r) => [r.id, r]));
  const nextIds = new Set(next.replicas.map((r) => r.id));
  const added: ReplicaAt[] = [];
  const moved: { id: string; from: string; to: string }[] = [];
  const reconfigured: { id: string; from: string; to: string }[] = [];
  for (const replica of next.replicas) {
    const before = baseReplicas.get(replica.id);
    if (!before) {
      added.push({ id: replica.id, at: placement(replica) });
      continue;
    }
    if (placement(before) !== placement(replica)) moved.push({ id: replica.id, from: placement(before), to: placement(replica) });
    if (configuration(before) !== configuration(replica)) {
      reconfigured.push({ id: replica.id, from: configuration(before), to: configuration(replica) });
    }
  }
  const removed = (base?.replicas ?? []).filter((r) => !nextIds.has(r.id)).map((r) => ({ id: r.id, at: placement(r) }));

  const baseUnschedulable = new Set((base?.unschedulable ?? []).map((u) => u.id));
  const nextUnschedulable = new Set(next.unschedulable.map((u) => u.id));
  return {
    repartitioned,
    added,
    removed,
    moved,
    reconfigured,
    newlyUnschedulable: next.unschedulable
      .filter((u) => !baseUnschedulable.has(u.id))
      .map((u) => ({ id: u.id, reason: u.reason })),
    nowScheduled: [...baseUnschedulable].filter((id) => !nextUnschedulable.has(id) && nextIds.has(id)).sort(),
    gpusUsed: { from: base?.summary.gpusUsed ?? 0, to: next.summary.gpusUsed },
  };
}

export function isEmptyDiff(diff: PlanDiff): boolean {
  return (
    diff.repartitioned.length +
      diff.added.length +
      diff.removed.length +
      diff.moved.length +
      diff.reconfigured.length +
      diff.newlyUnschedulable.length +
      diff.nowScheduled.length ===
    0
  );
}
