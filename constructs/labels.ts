import { createHash } from 'node:crypto';
import type { PlanNode } from '../planner/types.ts';

/**
 * Label, annotation and taint names shared by node setup and serving: the partition DaemonSet
 * sets them on nodes, model pods select on them. Changing one is a breaking change for clusters.
 */
export const PROFILE_LABEL = 'gpusharing.aim/partition-profile';
/** `ready` once the node is in its planned profile, `failed` (with an Event) when setup failed. */
export const PARTITION_STATE_LABEL = 'gpusharing.aim/partition-state';
/**
 * The values of PARTITION_STATE_LABEL, as `scripts/node-rollout.sh` and the backends
 * (`scripts/partition-node.sh`, `scripts/dcm-node.sh`) write them: `draining` from the cordon until the GPUs are idle (kept while a drain that budgets hold gives way and waits to retry), `partitioning` from the mode change
 * until the node is back in service (both with the node cordoned), then `ready`; `failed` after a
 * failure past the cordon (still cordoned), `unsupported` when the pre-flight refused the change
 * (left in service).
 */
export const PARTITION_STATES = {
  draining: 'draining',
  partitioning: 'partitioning',
  ready: 'ready',
  failed: 'failed',
  unsupported: 'unsupported',
} as const;
/** NoSchedule taint held only while the GPU modes change (it keeps the GPU Operator's operands off), left in place when that fails. */
export const PARTITIONING_TAINT_KEY = 'gpusharing.aim/partitioning';
export const MODEL_LABEL = 'gpusharing.aim/model';
/**
 * On an InferenceService and its pods: the ordinal of the replica it serves (`3` for `llama-8b#3`),
 * so that the partitioner knows a pod's replica and where the plan puts it, and the review which
 * replica a changed object restarts.
 */
export const REPLICA_LABEL = 'gpusharing.aim/replica';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'aim-gpu-sharing';

/**
 * The value of PROFILE_LABEL a node carries once partitioned: `cpx-nps4` for a uniform node; for a
 * mixed node, `mixed-` and a short hash of the per-GPU profiles (label values are limited to 63
 * characters).
 */
export function profileLabelValue(node: PlanNode): string {
  const perGpu = node.gpus.map((g) => `${g.profile.compute}-${g.profile.memory}`.toLowerCase());
  if (!node.mixed) return perGpu[0] ?? `${node.profile.compute}-${node.profile.memory}`.toLowerCase();
  return `mixed-${createHash('sha256').update(perGpu.join(',')).digest('hex').slice(0, 10)}`;
}

/**
 * Node annotations the node scripts persist their progress in, so that a killed pod's successor
 * knows: `cordoned` is set when the partitioner (not a person) cordoned the node, and only then does
 * it uncordon; `reload-attempted` names the profile a driver reload was started for, so a reload
 * that failed to reach it is not repeated on every restart.
 */
export const CORDONED_ANNOTATION = 'gpusharing.aim/cordoned';
export const RELOAD_ANNOTATION = 'gpusharing.aim/reload-attempted';
