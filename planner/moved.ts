import type { PartitionRef, PlanReplica } from './types.ts';

/**
 * The one definition of a moved replica, for churn figures, the bench and the tests: a replica in
 * both plans that runs on another node or on other partitions now (the order its partitions are
 * listed in does not matter).
 */
export function replicaMoved(before: PlanReplica, after: PlanReplica): boolean {
  return before.node !== after.node || placementKey(before.partitions) !== placementKey(after.partitions);
}

function placementKey(partitions: readonly PartitionRef[]): string {
  return partitions
    .map((p) => `${p.gpu}.${p.partition}`)
    .sort()
    .join(',');
}
