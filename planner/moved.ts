import { createHash } from 'node:crypto';
import type { PartitionRef, PlanNode, PlanReplica } from './types.ts';

/** A replica id, `<model>#<ordinal>` (ordinals from 0): the planner's only format for it. */
export function replicaId(model: string, ordinal: number): string {
  return `${model}#${ordinal}`;
}

/** The ordinal of a replica id, or undefined when it is not `<model>#<ordinal>`. */
export function replicaOrdinal(id: string): number | undefined {
  const match = /#(\d+)$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

/**
 * The one definition of a moved replica, for churn figures, the bench and the tests: a replica in
 * both plans that runs on another node or on other partitions now (the order its partitions are
 * listed in does not matter).
 */
export function replicaMoved(before: PlanReplica, after: PlanReplica): boolean {
  return before.node !== after.node || placementKey(before.partitions) !== placementKey(after.partitions);
}

function placementKey(partitions: readonly PartitionRef[]): string {
  return partitions.map(partitionKey).sort().join(',');
}

/** A partition of a node as `gpu.partition` (`3.1`), the way plans and reviews write it. */
export function partitionKey(ref: PartitionRef): string {
  return `${ref.gpu}.${ref.partition}`;
}

/**
 * A fingerprint of `value` (its JSON) as 16 hex digits: what a plan records to tell whether the
 * inputs of something changed since the previous plan.
 */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/**
 * The one definition of a repartitioned node, for churn figures, rollouts and the plan diff: a
 * node in both plans with another profile on any GPU (each such change drains the node).
 */
export function nodeRepartitioned(before: PlanNode, after: PlanNode): boolean {
  return nodeProfilesKey(before) !== nodeProfilesKey(after);
}

/** Every GPU's profile, in GPU order: `CPX-NPS4,CPX-NPS4,…`. */
export function nodeProfilesKey(node: PlanNode): string {
  return node.gpus.map((g) => `${g.profile.compute}-${g.profile.memory}`).join(',');
}
