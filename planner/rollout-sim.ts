import { nodeRepartitioned, partitionKey } from './moved.ts';
import type { Plan, PlanReplica } from './types.ts';

/**
 * A model of what a cluster does when the output of `next` replaces that of `base`, at the level of
 * planned partitions, following the rules of the parts involved:
 *
 * - GitOps sync: a removed replica's InferenceService is pruned (its pod deleted); a replica whose
 *   pod inputs changed gets a new pod template, which its Deployment rolls out: `recreate` deletes
 *   the old pod first, `surge` (maxSurge 1, maxUnavailable 0) starts the new pod and deletes the
 *   old one once the new one is Ready.
 * - Scheduler: a pod starts on its node when the node carries its planned profile, is not cordoned
 *   and no running pod holds any of its partitions (model pods count as Ready once running).
 * - Partitioner (`constructs/scripts/node-rollout.sh`): each node being repartitioned waits until
 *   every replica the plan moves off it runs at its destination (after its move timeout it goes on
 *   anyway); then, one node at a time (the Lease), it cordons, evicts each pod through the Eviction
 *   API (refused while the model would fall below its budget's minAvailable; when only budgets hold
 *   the drain the node gives way: uncordon, release the Lease, try again after others moved),
 *   repartitions and uncordons. An evicted old pod's replacement keeps the old profile in its node
 *   selector, so it never runs again.
 *
 * Time advances only when nothing else can happen; a bounded wait then ends. `withRollouts` uses it
 * to check that a plan change completes, and the tests to check what each strategy promises.
 */
export interface RolloutSimulation {
  /** Every replica of `next` runs its current pod, and no pod of a changed replica's old template is left. */
  readonly completed: boolean;
  /** Replicas (of both plans) that stopped serving before a replacement ran, and how. */
  readonly gaps: ReadonlyMap<string, 'deleted at sync' | 'evicted by a drain'>;
  /** Nodes whose partitioner drained after its move timeout. */
  readonly moveTimeouts: readonly string[];
  /** Nodes left unpartitioned when nothing could happen any more. */
  readonly stalled: readonly string[];
  /** Replicas on stalled nodes whose eviction their model's budget refused. */
  readonly heldByBudgets: readonly string[];
}

type Gap = 'deleted at sync' | 'evicted by a drain';

interface Pod {
  readonly replica: string;
  readonly model: string;
  readonly node: string;
  readonly refs: readonly string[];
  readonly version: 'old' | 'new';
  running: boolean;
}

/** Rounds of the model at most: each round but the last does something, and there are ~3 events a replica. */
const MAX_ROUNDS_PER_REPLICA = 8;

const refsOf = (r: PlanReplica) => r.partitions.map((p) => `${r.node}:${partitionKey(p)}`);

/** `minAvailable`: in pods, per model with a PodDisruptionBudget in `next`'s output (`constructs/disruption-budget.ts`). */
export function simulateRollout(base: Plan, next: Plan, minAvailable: ReadonlyMap<string, number>): RolloutSimulation {
  return new Cluster(base, next, minAvailable).run();
}

class Cluster {
  private readonly gaps = new Map<string, Gap>();
  private readonly moveTimeouts: string[] = [];
  private readonly podsOf = new Map<string, Pod[]>();
  private readonly holder = new Map<string, Pod>();
  private readonly onNode = new Map<string, Set<Pod>>();
  private readonly ready = new Map<string, number>();
  private readonly waiting = new Set<Pod>();
  /** Waiting pods to look at again: new, or what blocked them (a partition, their node) changed. */
  private readonly dirty = new Set<Pod>();
  /** Waiting pods by what blocks them: a partition `node:gpu.partition`, or `node` while pending or cordoned. */
  private readonly blockedBy = new Map<string, Set<Pod>>();
  private readonly plannedOn: ReadonlyMap<string, string>;
  private readonly budgets: ReadonlyMap<string, number>;
  private readonly pending: Set<string>;
  private readonly cordoned = new Set<string>();
  private readonly changed: ReadonlySet<string>;

  constructor(
    base: Plan,
    private readonly next: Plan,
    minAvailable: ReadonlyMap<string, number>,
  ) {
    const before = new Map(base.replicas.map((r) => [r.id, r]));
    const baseNodes = new Map(base.nodes.map((n) => [n.name, n]));
    this.plannedOn = new Map(next.replicas.map((r) => [r.id, r.node]));
    this.budgets = minAvailable;
    this.pending = new Set(next.nodes.filter((n) => baseNodes.has(n.name) && nodeRepartitioned(baseNodes.get(n.name)!, n)).map((n) => n.name));
    this.changed = new Set(next.replicas.filter((r) => before.get(r.id)?.rollout?.inputs !== r.rollout?.inputs || !before.has(r.id)).map((r) => r.id));
    for (const r of base.replicas) this.start(this.add(r, 'old'));
    // The sync.
    for (const r of base.replicas) if (!this.plannedOn.has(r.id)) this.stopAll(r.id, 'deleted at sync');
    for (const r of next.replicas) {
      if (!this.changed.has(r.id)) continue;
      if (before.has(r.id) && r.rollout?.strategy !== 'surge') this.stopAll(r.id, 'deleted at sync');
      const pod = this.add(r, 'new');
      this.waiting.add(pod);
      this.dirty.add(pod);
    }
  }

  run(): RolloutSimulation {
    let partitioning: string | undefined;
    const timedOut = new Set<string>();
    const gaveWay = new Set<string>();
    const limit = MAX_ROUNDS_PER_REPLICA * (this.next.replicas.length + this.pending.size + 1);
    for (let round = 0; round < limit; round++) {
      let progress = this.schedule();
      partitioning ??= [...this.pending].sort().find((node) => !gaveWay.has(node) && (timedOut.has(node) || this.movesReady(node)));
      if (partitioning !== undefined) {
        const node = partitioning;
        this.cordoned.add(node);
        for (const pod of [...(this.onNode.get(node) ?? [])]) {
          if ((this.ready.get(pod.model) ?? 0) - 1 < (this.budgets.get(pod.model) ?? 0)) continue;
          this.stop(pod, 'evicted by a drain');
          progress = true;
        }
        if (!this.onNode.get(node)?.size) {
          this.pending.delete(node);
          this.cordoned.delete(node);
          this.wake(node);
          // Old pods recreated after their eviction keep the old profile in their selector: they never run.
          for (const pods of this.podsOf.values()) for (const pod of pods) if (pod.node === node && pod.version === 'old') this.remove(pod);
          partitioning = undefined;
          progress = true;
        }
      }
      if (progress) {
        gaveWay.clear();
        continue;
      }
      // Nothing can happen: a bounded wait ends, the drain's first (the node gives way).
      if (partitioning !== undefined) {
        gaveWay.add(partitioning);
        this.cordoned.delete(partitioning);
        this.wake(partitioning);
        partitioning = undefined;
        continue;
      }
      const next = [...this.pending].sort().find((node) => !timedOut.has(node) && !gaveWay.has(node));
      if (next === undefined) break;
      this.moveTimeouts.push(next);
      timedOut.add(next);
    }
    return this.outcome();
  }

  private outcome(): RolloutSimulation {
    const stalled = [...this.pending].sort();
    const heldByBudgets = stalled.flatMap((node) => [...(this.onNode.get(node) ?? [])].map((pod) => pod.replica)).sort();
    const completed =
      this.pending.size === 0 &&
      this.next.replicas.every((r) => (this.podsOf.get(r.id) ?? []).some((p) => p.running && (p.version === 'new' || !this.changed.has(r.id)))) &&
      ![...this.podsOf.entries()].some(([id, pods]) => this.changed.has(id) && pods.some((p) => p.version === 'old'));
    return { completed, gaps: this.gaps, moveTimeouts: this.moveTimeouts, stalled, heldByBudgets };
  }

  /**
   * Starts every waiting pod that can run now; a surge ends once its new pod runs. Only pods whose
   * blocker changed are looked at, so a chain of n moves costs O(n), not O(n²).
   */
  private schedule(): boolean {
    let progress = false;
    while (this.dirty.size > 0) {
      const [pod] = this.dirty as Set<Pod> & Iterable<Pod>;
      this.dirty.delete(pod as Pod);
      const p = pod as Pod;
      if (!this.waiting.has(p)) continue;
      const blocker = this.pending.has(p.node) || this.cordoned.has(p.node) ? p.node : p.refs.find((ref) => this.holder.has(ref));
      if (blocker !== undefined) {
        const blocked = this.blockedBy.get(blocker) ?? new Set<Pod>();
        this.blockedBy.set(blocker, blocked.add(p));
        continue;
      }
      this.waiting.delete(p);
      this.start(p);
      for (const old of (this.podsOf.get(p.replica) ?? []).filter((q) => q.version === 'old')) this.stop(old, 'deleted at sync');
      progress = true;
    }
    return progress;
  }

  /** What blocked some waiting pods changed: look at them again. */
  private wake(blocker: string): void {
    const blocked = this.blockedBy.get(blocker);
    if (!blocked) return;
    this.blockedBy.delete(blocker);
    for (const pod of blocked) this.dirty.add(pod);
  }

  /** The partitioner's wait (node_json.py `moves`): each replica here that the plan places elsewhere runs there. */
  private movesReady(node: string): boolean {
    return [...(this.onNode.get(node) ?? [])].every((pod) => {
      const destination = this.plannedOn.get(pod.replica);
      return destination === undefined || destination === node || (this.podsOf.get(pod.replica) ?? []).some((p) => p.running && p.node === destination);
    });
  }

  private add(r: PlanReplica, version: Pod['version']): Pod {
    const pod: Pod = { replica: r.id, model: r.model, node: r.node, refs: refsOf(r), version, running: false };
    this.podsOf.set(r.id, [...(this.podsOf.get(r.id) ?? []), pod]);
    return pod;
  }

  private start(pod: Pod): void {
    pod.running = true;
    for (const ref of pod.refs) this.holder.set(ref, pod);
    const here = this.onNode.get(pod.node) ?? new Set<Pod>();
    this.onNode.set(pod.node, here.add(pod));
    this.ready.set(pod.model, (this.ready.get(pod.model) ?? 0) + 1);
  }

  private stopAll(replica: string, how: Gap): void {
    for (const pod of [...(this.podsOf.get(replica) ?? [])]) this.stop(pod, how);
  }

  /** Deletes or evicts a pod; a gap when its replica had no other pod running. */
  private stop(pod: Pod, how: Gap): void {
    const wasRunning = pod.running;
    this.remove(pod);
    if (wasRunning && !(this.podsOf.get(pod.replica) ?? []).some((p) => p.running) && !this.gaps.has(pod.replica)) this.gaps.set(pod.replica, how);
  }

  private remove(pod: Pod): void {
    if (pod.running) {
      for (const ref of pod.refs) {
        if (this.holder.get(ref) !== pod) continue;
        this.holder.delete(ref);
        this.wake(ref);
      }
      this.onNode.get(pod.node)?.delete(pod);
      this.ready.set(pod.model, (this.ready.get(pod.model) ?? 1) - 1);
      pod.running = false;
    }
    this.waiting.delete(pod);
    this.podsOf.set(
      pod.replica,
      (this.podsOf.get(pod.replica) ?? []).filter((p) => p !== pod),
    );
  }
}
