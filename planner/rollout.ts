import { fingerprint, nodeProfilesKey, nodeRepartitioned, partitionKey, replicaMoved } from './moved.ts';
import { simulateRollout } from './rollout-sim.ts';
import type { Plan, PlanNode, PlanReplica, PlanRollout } from './types.ts';

/**
 * How each replica's pod is replaced when the plan changes it, so that a move is a move and not an
 * eviction. Every replica is served by its own InferenceService, whose Deployment carries the
 * strategy (constructs/model-serving.ts):
 *
 * - `surge` (RollingUpdate, maxSurge 1, maxUnavailable 0): the Deployment controller starts the new
 *   pod and deletes the old one only once the new one is Ready (Kubernetes' rolling update never
 *   takes availability below `replicas - maxUnavailable`). Used when the new pod does not need the
 *   old one's partitions: another node or other partitions, or a repartitioned node, where the new
 *   pod's node selector names the new profile and it waits for the partitioner, whose drain evicts
 *   the old pod through the Eviction API and the model's PodDisruptionBudget.
 * - `recreate`: the old pod stops first. A change in place has no spare partition to start in: a
 *   surge pod would stay Pending for ever and the change would never happen. The same holds for a
 *   move to partitions that include one of its own (a larger tensor-parallel group on its node).
 *
 * A surge pod whose planned partitions another replica still holds waits (Pending) until that one
 * leaves. Leaving is immediate for a removed or recreated replica, after its own new pod is Ready
 * for a surging one. Waits onto a repartitioned node end within the partitioner's move timeout
 * (it drains anyway), but waits among surging replicas on unchanged nodes can form a cycle
 * (a swap with no free partition), which no order resolves: one replica of each cycle is recreated,
 * with a note the plan diff shows.
 */
export interface RolloutInput {
  readonly previous?: Plan;
  /** Per model: a fingerprint of the spec fields its pods are made from (`constructs/serving-inputs.ts`). */
  readonly servingInputs: ReadonlyMap<string, string>;
  /** `minAvailable` in pods per model with a PodDisruptionBudget (`constructs/disruption-budget.ts`). */
  readonly minAvailable: ReadonlyMap<string, number>;
  /**
   * Hears why the change could not be checked to complete (too large to check, or still stalled).
   * @default - not reported
   */
  readonly onUnchecked?: (why: string) => void;
  /**
   * Surging replicas above which the completion check is skipped.
   * @default MAX_SIMULATED_SURGES
   */
  readonly maxCheckedSurges?: number;
}

/**
 * Rounds of "simulate, then recreate what held the rollout" at most; each recreates at least one
 * replica, and one round suffices unless a recreate uncovers another hold further on.
 */
const MAX_COMPLETION_ROUNDS = 20;

/**
 * Above this many surging replicas in one change the completion check is skipped, to bound the
 * compile (the model is near linear in the changes: a chain of 8,000 moves takes about 0.2 s); such
 * a change is a migration to stage, not a review.
 */
const MAX_SIMULATED_SURGES = 20_000;

/**
 * The plan with each replica's rollout, checked to complete on the cluster model (`rollout-sim.ts`):
 * a drain that budgets would hold for ever (a model's other replicas wait, through a chain of
 * moves, for that very drain) gets the replicas it holds recreated at sync instead, with a note.
 */
export function withRollouts(plan: Plan, input: RolloutInput): Plan {
  const decided = decideRollouts(plan, input);
  let next = applied(plan, decided);
  const surges = [...decided.values()].filter((r) => r.strategy === 'surge').length;
  if (!input.previous || surges === 0) return next;
  const limit = input.maxCheckedSurges ?? MAX_SIMULATED_SURGES;
  if (surges > limit) {
    input.onUnchecked?.(`${surges} replicas move at once, more than the ${limit} the completion check takes`);
    return next;
  }
  let outcome = simulateRollout(input.previous, next, input.minAvailable);
  for (let round = 0; round < MAX_COMPLETION_ROUNDS && !outcome.completed; round++) {
    const held = outcome.heldByBudgets.filter((id) => decided.get(id)?.strategy === 'surge');
    if (held.length === 0) break;
    const node = outcome.stalled.join(', ');
    for (const id of held) {
      const note = `stops before its replacement starts: the drain of ${node} needs it gone, and its model's disruption budget would refuse that until replicas waiting on the drain itself are Ready`;
      decided.set(id, { ...(decided.get(id) as PlanRollout), strategy: 'recreate', note });
    }
    next = applied(plan, decided);
    outcome = simulateRollout(input.previous, next, input.minAvailable);
  }
  if (!outcome.completed) {
    const stalled = outcome.stalled.length ? `; nodes left unpartitioned: ${listed(outcome.stalled)}` : '';
    input.onUnchecked?.(`the cluster model does not complete it${stalled}`);
  }
  return next;
}

function applied(plan: Plan, decided: ReadonlyMap<string, PlanRollout>): Plan {
  return { ...plan, replicas: plan.replicas.map((r) => ({ ...r, rollout: decided.get(r.id) as PlanRollout })) };
}

function decideRollouts(plan: Plan, input: RolloutInput): Map<string, PlanRollout> {
  const before = new Map((input.previous?.replicas ?? []).map((r) => [r.id, r]));
  const nodesBefore = new Map((input.previous?.nodes ?? []).map((n) => [n.name, n]));
  const nodesAfter = new Map(plan.nodes.map((n) => [n.name, n]));
  const decided = new Map<string, PlanRollout>();
  const surging = new Map<string, PlanReplica>();
  for (const replica of plan.replicas) {
    const node = nodesAfter.get(replica.node) as PlanNode;
    const inputs = podInputs(replica, node, input.servingInputs.get(replica.model) ?? '');
    const old = before.get(replica.id);
    const kept = old && keptRollout(old.rollout, inputs);
    if (kept) {
      decided.set(replica.id, kept);
      continue;
    }
    const oldNode = nodesBefore.get(replica.node);
    const repartitioned = oldNode !== undefined && nodeRepartitioned(oldNode, node);
    if (old === undefined || !(replicaMoved(old, replica) || repartitioned)) {
      decided.set(replica.id, { strategy: 'recreate', inputs });
    } else if (!repartitioned && overlaps(old, replica)) {
      const note = 'stops before its replacement starts: its new partitions include some of its current ones';
      decided.set(replica.id, { strategy: 'recreate', inputs, note });
    } else {
      surging.set(replica.id, replica);
      decided.set(replica.id, { strategy: 'surge', inputs });
    }
  }
  for (const [id, cycle] of breakCycles(surging, waitsFor(surging, nodesBefore, nodesAfter))) {
    const rollout = decided.get(id) as PlanRollout;
    const others = cycle.filter((other) => other !== id);
    decided.set(id, {
      ...rollout,
      strategy: 'recreate',
      note: `stops before its replacement starts: its new partitions are held by ${listed(others)}, whose moves wait for its own partitions (a cycle of moves with no free partition to start in)`,
    });
  }
  return decided;
}

/**
 * The previous plan's rollout of a replica whose pod inputs did not change, rebuilt from its known
 * fields: the previous plan is a file in the user's repository, and a hand-edited value must not
 * reach the manifests. Anything else is decided again.
 */
function keptRollout(previous: PlanRollout | undefined, inputs: string): PlanRollout | undefined {
  if (!previous || previous.inputs !== inputs || (previous.strategy !== 'surge' && previous.strategy !== 'recreate')) return undefined;
  const note = typeof previous.note === 'string' && previous.note.length <= MAX_NOTE_LENGTH ? previous.note : undefined;
  return { strategy: previous.strategy, inputs, ...(note !== undefined && { note }) };
}

/** Longer than any note the compiler writes. */
const MAX_NOTE_LENGTH = 1024;

/** Replica ids in a note: the first few, then how many more (a cycle can span a whole fleet). */
function listed(ids: readonly string[]): string {
  const shown = 5;
  return ids.length <= shown ? ids.join(', ') : `${ids.slice(0, shown).join(', ')} and ${ids.length - shown} more`;
}

/** True when a replica stays on its node and keeps one of its partitions: its new pod needs its old one gone. */
function overlaps(before: PlanReplica, after: PlanReplica): boolean {
  if (before.node !== after.node) return false;
  const held = new Set(before.partitions.map(partitionKey));
  return after.partitions.some((p) => held.has(partitionKey(p)));
}

/**
 * For each surging replica, the surging replicas holding (in the previous plan) the partitions it
 * is planned on, on a node that keeps its profile. A repartitioned node is drained by the
 * partitioner, whose wait for moves is bounded, so waits there always end.
 */
function waitsFor(
  surging: ReadonlyMap<string, PlanReplica>,
  nodesBefore: ReadonlyMap<string, PlanNode>,
  nodesAfter: ReadonlyMap<string, PlanNode>,
): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const replica of surging.values()) {
    const old = nodesBefore.get(replica.node);
    if (!old || nodeRepartitioned(old, nodesAfter.get(replica.node) as PlanNode)) continue;
    const holders = new Set<string>();
    for (const ref of replica.partitions) {
      const holder = old.gpus[ref.gpu]?.partitions[ref.partition]?.replica;
      if (holder !== undefined && holder !== replica.id && surging.has(holder)) holders.add(holder);
    }
    if (holders.size) edges.set(replica.id, [...holders].sort());
  }
  return edges;
}

/**
 * Replicas to recreate so that no cycle of waits remains, each with the cycle it broke: the first
 * id (in sort order) of each strongly connected component, repeated until none is left.
 */
function breakCycles(surging: ReadonlyMap<string, PlanReplica>, edges: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const broken = new Map<string, string[]>();
  const live = new Set(surging.keys());
  for (;;) {
    const cycles = stronglyConnected([...live].sort(), (id) => (edges.get(id) ?? []).filter((to) => live.has(to))).filter((c) => c.length > 1);
    if (cycles.length === 0) return broken;
    for (const cycle of cycles) {
      const sorted = [...cycle].sort();
      const first = sorted[0] as string;
      broken.set(first, sorted);
      live.delete(first);
    }
  }
}

/** Tarjan's strongly connected components, iterative (a fleet has up to 150,000 replicas). */
function stronglyConnected(ids: readonly string[], next: (id: string) => readonly string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const root of ids) {
    if (index.has(root)) continue;
    const work: { id: string; children: readonly string[]; at: number }[] = [];
    const open = (id: string): void => {
      index.set(id, counter);
      low.set(id, counter++);
      stack.push(id);
      onStack.add(id);
      work.push({ id, children: next(id), at: 0 });
    };
    open(root);
    while (work.length) {
      const frame = work[work.length - 1] as (typeof work)[number];
      if (frame.at < frame.children.length) {
        const child = frame.children[frame.at++] as string;
        if (!index.has(child)) open(child);
        else if (onStack.has(child)) low.set(frame.id, Math.min(low.get(frame.id) as number, index.get(child) as number));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.id, Math.min(low.get(parent.id) as number, low.get(frame.id) as number));
      if (low.get(frame.id) === index.get(frame.id)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop() as string;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.id);
        components.push(component);
      }
    }
  }
  return components;
}

/** Everything the replica's pod is made from, as a fingerprint. */
function podInputs(replica: PlanReplica, node: PlanNode, servingInputs: string): string {
  const parts = replica.partitions.map(partitionKey).join(',');
  const shape = [replica.precision, replica.tensorParallel, replica.memoryGiB, replica.gpuMemoryUtilization, replica.maxNumBatchedTokens, replica.maxNumSeqs];
  return fingerprint([servingInputs, replica.node, nodeProfilesKey(node), parts, shape]);
}
