import { nodeRepartitioned } from '../../planner/moved.ts';
import type { Plan, PlanReplica } from '../../planner/types.ts';

/**
 * A small model of what a cluster does when the output of `next` replaces that of `base`, to check
 * the rollout promises of the plan rather than its wording. It follows the rules of the parts
 * involved, at the level of planned partitions:
 *
 * - GitOps sync: a removed replica's InferenceService is pruned (its pod deleted); a replica whose
 *   pod inputs changed gets a new pod template, rolled out by its Deployment: `recreate` deletes
 *   the old pod first, `surge` (maxSurge 1, maxUnavailable 0) starts the new pod and deletes the
 *   old one once the new one is Ready.
 * - Scheduler: a pod starts on its node when the node carries its planned profile, is not cordoned
 *   and no running pod holds any of its partitions (model pods are Ready as soon as they run).
 * - Partitioner (`constructs/scripts/node-rollout.sh`): each node waits until every replica the
 *   plan moves off it is Ready at its destination (bounded: after its timeout it drains anyway),
 *   then, one node at a time (the Lease), cordons, evict each pod through the Eviction API (refused while it would take the model
 *   below its budget's minAvailable; when only budgets hold the drain, the node gives way:
 *   uncordon, release the Lease, try again later), repartition, uncordon. An evicted old pod's replacement
 *   keeps the old node selector, so it never runs again.
 *
 * Time advances only when nothing else can happen; a bounded wait then times out.
 */
export interface RolloutOutcome {
  /** Every replica of `next` runs its new pod and no old pod is left. */
  readonly completed: boolean;
  /** Replicas (of both plans) that stopped serving before a replacement was Ready, and how. */
  readonly gaps: ReadonlyMap<string, 'deleted at sync' | 'evicted by a drain'>;
  /** Nodes whose partitioner drained after its move timeout. */
  readonly moveTimeouts: readonly string[];
  /** Nodes left unpartitioned when nothing could happen any more (their drains held by budgets). */
  readonly drainFailures: readonly string[];
}

interface Pod {
  readonly replica: string;
  readonly model: string;
  readonly node: string;
  readonly partitions: readonly string[];
  readonly version: 'old' | 'new';
  running: boolean;
}

const refs = (r: PlanReplica) => r.partitions.map((p) => `${r.node}:${p.gpu}.${p.partition}`);

/** `minAvailable` of the default budget: placed replicas less the most on one node (none below two placed). */
function defaultBudgets(plan: Plan): Map<string, number> {
  const perNode = new Map<string, Map<string, number>>();
  for (const r of plan.replicas) {
    const nodes = perNode.get(r.model) ?? new Map<string, number>();
    nodes.set(r.node, (nodes.get(r.node) ?? 0) + 1);
    perNode.set(r.model, nodes);
  }
  const budgets = new Map<string, number>();
  for (const [model, nodes] of perNode) {
    const placed = [...nodes.values()].reduce((a, b) => a + b, 0);
    if (placed > 1) budgets.set(model, placed - Math.max(...nodes.values()));
  }
  return budgets;
}

export function simulateRollout(base: Plan, next: Plan): RolloutOutcome {
  const baseById = new Map(base.replicas.map((r) => [r.id, r]));
  const baseNodes = new Map(base.nodes.map((n) => [n.name, n]));
  const gaps = new Map<string, 'deleted at sync' | 'evicted by a drain'>();
  const moveTimeouts: string[] = [];
  const drainFailures: string[] = [];
  const budgets = defaultBudgets(next);
  let pods: Pod[] = base.replicas.map((r) => ({ replica: r.id, model: r.model, node: r.node, partitions: refs(r), version: 'old', running: true }));
  const pending = new Set(next.nodes.filter((n) => baseNodes.has(n.name) && nodeRepartitioned(baseNodes.get(n.name)!, n)).map((n) => n.name));
  const cordoned = new Set<string>();
  const stop = (pod: Pod, how: 'deleted at sync' | 'evicted by a drain') => {
    pods = pods.filter((p) => p !== pod);
    const replacement = pods.some((p) => p.replica === pod.replica && p.running);
    if (pod.running && !replacement && !gaps.has(pod.replica)) gaps.set(pod.replica, how);
  };

  // GitOps sync.
  const nextIds = new Set(next.replicas.map((r) => r.id));
  for (const pod of [...pods]) if (!nextIds.has(pod.replica)) stop(pod, 'deleted at sync');
  for (const r of next.replicas) {
    const old = baseById.get(r.id);
    const changed = !old || old.rollout?.inputs !== r.rollout?.inputs;
    if (!changed) continue;
    if (old && r.rollout?.strategy !== 'surge') for (const pod of pods.filter((p) => p.replica === r.id)) stop(pod, 'deleted at sync');
    pods.push({ replica: r.id, model: r.model, node: r.node, partitions: refs(r), version: 'new', running: false });
  }

  const ready = (model: string) => pods.filter((p) => p.model === model && p.running).length;
  const plannedOn = new Map(next.replicas.map((r) => [r.id, r.node]));
  // The partitioner's wait (node_json.py `moves`): each replica on the node that the plan places on
  // another node has a Ready pod there.
  const movesReady = (node: string) =>
    pods
      .filter((p) => p.node === node && p.running)
      .every((p) => {
        const destination = plannedOn.get(p.replica);
        return destination === undefined || destination === node || pods.some((q) => q.replica === p.replica && q.node === destination && q.running);
      });

  // The node holding the Lease (maxUnavailableNodes 1), nodes past their move timeout, and nodes
  // whose drain budgets held, which gave way (until something else changes).
  let partitioning: string | undefined;
  const timedOut = new Set<string>();
  const gaveWay = new Set<string>();
  for (let round = 0; round < 10_000; round++) {
    let progress = false;
    // Scheduler.
    for (const pod of pods) {
      if (pod.running || pod.version !== 'new' || pending.has(pod.node) || cordoned.has(pod.node)) continue;
      const held = new Set(pods.filter((p) => p.running && p.node === pod.node).flatMap((p) => p.partitions));
      if (pod.partitions.some((ref) => held.has(ref))) continue;
      pod.running = true;
      progress = true;
    }
    // Deployment controller: a surge completes once the new pod is Ready.
    for (const pod of pods.filter((p) => p.version === 'old' && pods.some((q) => q.replica === p.replica && q.version === 'new' && q.running))) {
      stop(pod, 'deleted at sync');
      progress = true;
    }
    // Partitioners: each waits for its moves, then takes the Lease (in name order when several can).
    partitioning ??= [...pending].sort().find((node) => !gaveWay.has(node) && (timedOut.has(node) || movesReady(node)));
    if (partitioning !== undefined) {
      const node = partitioning;
      cordoned.add(node);
      for (const pod of pods.filter((p) => p.node === node && p.running)) {
        const minAvailable = budgets.get(pod.model) ?? 0;
        if (ready(pod.model) - 1 < minAvailable) continue;
        stop(pod, 'evicted by a drain');
        progress = true;
      }
      if (!pods.some((p) => p.node === node && p.running)) {
        pending.delete(node);
        cordoned.delete(node);
        // Old pods recreated after eviction keep the old profile in their selector: they never run.
        pods = pods.filter((p) => !(p.node === node && p.version === 'old'));
        partitioning = undefined;
        progress = true;
      }
    }
    if (progress) {
      gaveWay.clear();
      continue;
    }
    // Nothing can happen: a bounded wait times out, the drain's first (the node gives way).
    if (partitioning !== undefined) {
      gaveWay.add(partitioning);
      cordoned.delete(partitioning);
      partitioning = undefined;
      continue;
    }
    const waiting = [...pending].sort().find((node) => !timedOut.has(node) && !gaveWay.has(node));
    if (waiting !== undefined) {
      moveTimeouts.push(waiting);
      timedOut.add(waiting);
      continue;
    }
    drainFailures.push(...[...pending].sort());
    break;
  }
  const completed = next.replicas.every((r) => pods.some((p) => p.replica === r.id && p.running && (p.version === 'new' || !changedIn(r)))) && !pods.some((p) => p.version === 'old' && p.running && changedIn(next.replicas.find((r) => r.id === p.replica)));
  return { completed, gaps, moveTimeouts, drainFailures };

  function changedIn(r: PlanReplica | undefined): boolean {
    if (!r) return true;
    const old = baseById.get(r.id);
    return !old || old.rollout?.inputs !== r.rollout?.inputs;
  }
}
