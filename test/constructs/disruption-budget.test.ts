import { describe, expect, it } from 'vitest';
import { minAvailablePods } from '../../api/min-available.ts';
import type { MinAvailable, Model, Spec } from '../../api/types.ts';
import { disruptionBudget, disruptionBudgetDiagnostics } from '../../constructs/disruption-budget.ts';
import { MODEL_LABEL } from '../../constructs/labels.ts';
import type { PlanReplica } from '../../planner/types.ts';
import { engineFlags, fleet, type K8sObject, model, type Placement, plan, pool, synthFleet } from './fixtures.ts';

const chat = (spec: Partial<Model['spec']> = {}) => model('chat', { model: 'meta-llama/Llama-3.1-8B-Instruct', precision: 'bf16', replicas: 4, ...spec });
const small = model('small', { model: 'Qwen/Qwen2.5-1.5B-Instruct', precision: 'bf16', replicas: 2 });

/** `counts[i]` replicas of `name` on node `node-<i>`, one CPX partition each. */
function placements(name: string, counts: readonly number[], gpu = 0): Placement[] {
  let id = 0;
  return counts.flatMap((count, n) =>
    Array.from({ length: count }, (_, i) => ({
      id: `${name}#${id++}`, node: `node-${n}`, precision: 'bf16' as const, memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[gpu, i] as const],
    })),
  );
}

function fleetInput(models: readonly Model[], placed: Placement[], nodes = 3) {
  const names = Array.from({ length: nodes }, (_, n) => `node-${n}`);
  const spec: Spec = { fleet: fleet(), pools: [pool('mi300x', { nodes: names })], models: [...models] };
  const layouts = names.map((name) => ({ name, pool: 'mi300x', profile: 'CPX-NPS4' as const, gpus: 2 }));
  return { spec, plan: plan(layouts, placed), maxModelLen: new Map(models.map((m) => [m.metadata.name, 8192])), engineFlags };
}

function serving(models: readonly Model[], placed: Placement[], nodes = 3): K8sObject[] {
  return synthFleet(fleetInput(models, placed, nodes)).get('serving')!;
}

/**
 * The pods KServe runs for the InferenceServices: their labels are `spec.predictor.labels` plus
 * KServe's own (`component: predictor`, `serving.kserve.io/inferenceservice`); each is pinned to its
 * node by the host selector.
 */
function predictorPods(objects: K8sObject[]): { labels: Record<string, string>; node: string }[] {
  return objects
    .filter((o) => o.kind === 'InferenceService')
    .flatMap((isvc) =>
      Array.from({ length: isvc.spec.predictor.minReplicas as number }, () => ({
        labels: { ...isvc.spec.predictor.labels, component: 'predictor', 'serving.kserve.io/inferenceservice': isvc.metadata.name },
        node: isvc.spec.predictor.nodeSelector['kubernetes.io/hostname'] as string,
      })),
    );
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/**
 * The Eviction API against one budget (kubernetes pkg/registry/core/pod/storage/eviction.go, the
 * disruption controller): a Ready pod may go while Ready pods exceed minAvailable; a pod pinned to
 * a cordoned node comes back Pending, never Ready. Returns whether every pod on `drained` left.
 */
function drains(podNodes: readonly string[], minAvailable: MinAvailable, drained: readonly string[]): boolean {
  const desired = minAvailablePods(minAvailable, podNodes.length);
  let ready = podNodes.length;
  for (const node of podNodes) {
    if (!drained.includes(node)) continue;
    if (ready - desired <= 0) return false;
    ready--;
  }
  return true;
}

const nodesOf = (replicas: readonly PlanReplica[]) => replicas.map((r) => r.node);
/** Every way to put 2–6 replicas on up to 4 nodes (node order does not matter, so counts descend). */
function* distributions(): Generator<number[]> {
  function* split(left: number, max: number, nodes: number): Generator<number[]> {
    if (left === 0) return yield [];
    if (nodes === 0) return;
    for (let k = Math.min(left, max); k >= 1; k--) for (const rest of split(left - k, k, nodes - 1)) yield [k, ...rest];
  }
  for (let n = 2; n <= 6; n++) yield* split(n, n, 4);
}

describe('PodDisruptionBudget per model', () => {
  const objects = serving([chat(), small], [...placements('chat', [3, 1]), ...placements('small', [2], 1)]);
  const budgets = objects.filter((o) => o.kind === 'PodDisruptionBudget');

  it('is emitted for a model whose replicas span nodes, policy/v1, in the model namespace', () => {
    expect(budgets.map((b) => [b.apiVersion, b.metadata.namespace, b.metadata.name])).toEqual([['policy/v1', 'aim-models', 'chat']]);
    expect(budgets[0]!.spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: { [MODEL_LABEL]: 'chat', component: 'predictor' } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
  });

  it('selects exactly the model’s predictor pods', () => {
    const pods = predictorPods(objects);
    const selected = pods.filter((p) => matches(budgets[0]!.spec.selector.matchLabels, p.labels));
    expect(selected).toHaveLength(4);
    expect(selected.every((p) => p.labels[MODEL_LABEL] === 'chat')).toBe(true);
    expect(pods.filter((p) => p.labels[MODEL_LABEL] === 'chat')).toHaveLength(4);
  });

  it('is left out for one replica, for a budget of 0, and by default when one node holds every replica', () => {
    const one = chat({ replicas: 1 });
    expect(disruptionBudget(one, fleetInput([one], placements('chat', [1])).plan.replicas)).toBeUndefined();
    expect(disruptionBudget(chat({ minAvailable: 0 }), fleetInput([chat()], placements('chat', [2, 2])).plan.replicas)).toBeUndefined();
    expect(disruptionBudget(chat({ minAvailable: '0%' }), fleetInput([chat()], placements('chat', [2, 2])).plan.replicas)).toBeUndefined();
    expect(disruptionBudget(chat(), fleetInput([chat()], placements('chat', [4])).plan.replicas)).toBeUndefined();
    expect(serving([small], placements('small', [2], 1)).filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
  });

  it('carries minAvailable as written, a count or a percentage', () => {
    const written = (minAvailable: MinAvailable) =>
      serving([chat({ minAvailable })], placements('chat', [1, 1, 2])).find((o) => o.kind === 'PodDisruptionBudget')!.spec.minAvailable;
    expect(written(2)).toBe(2);
    expect(written('50%')).toBe('50%');
  });

  it('by default lets any one node drain and keeps the model up, and is the largest budget that does', () => {
    for (const counts of distributions()) {
      const replicas = fleetInput([chat()], placements('chat', counts), 4).plan.replicas;
      const budget = disruptionBudget(chat(), replicas);
      const pods = nodesOf(replicas);
      const nodes = [...new Set(pods)];
      if (nodes.length === 1) {
        expect(budget, `${counts}`).toBeUndefined();
        continue;
      }
      expect(budget, `${counts}`).toBeDefined();
      expect(budget!.stalls, `${counts}`).toEqual([]);
      for (const node of nodes) expect(drains(pods, budget!.minAvailable, [node]), `${counts} drain ${node}`).toBe(true);
      expect(budget!.pods, `${counts}`).toBeGreaterThanOrEqual(1);
      // One more and some node's drain waits.
      expect(nodes.some((node) => !drains(pods, budget!.pods + 1, [node])), `${counts}`).toBe(true);
    }
  });

  it('reports exactly the nodes whose drain an explicit budget stalls', () => {
    for (const counts of distributions()) {
      const replicas = fleetInput([chat()], placements('chat', counts), 4).plan.replicas;
      for (let minAvailable = 1; minAvailable < replicas.length; minAvailable++) {
        const budget = disruptionBudget(chat({ minAvailable }), replicas)!;
        const pods = nodesOf(replicas);
        const stalled = [...new Set(pods)].filter((node) => !drains(pods, minAvailable, [node])).sort();
        expect(budget.stalls.map((s) => s.node).sort(), `${counts} minAvailable ${minAvailable}`).toEqual(stalled);
      }
    }
  });
});

/**
 * The API server's checks of a PodDisruptionBudget spec (kubernetes pkg/apis/policy/validation
 * ValidatePodDisruptionBudgetSpec): not both minAvailable and maxUnavailable; an int >= 0 or a
 * percentage of at most 100%; a non-empty selector of valid label values; a known
 * unhealthyPodEvictionPolicy.
 */
function apiServerProblems(spec: Record<string, any>): string[] {
  const problems: string[] = [];
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) problems.push('minAvailable and maxUnavailable cannot be both set');
  const value = spec.minAvailable;
  if (typeof value === 'number' && (!Number.isInteger(value) || value < 0)) problems.push(`minAvailable ${value}`);
  if (typeof value === 'string' && !(/^\d+%$/.test(value) && Number(value.slice(0, -1)) <= 100)) problems.push(`minAvailable ${value}`);
  const labels = Object.entries(spec.selector?.matchLabels ?? {});
  if (labels.length === 0) problems.push('empty selector');
  for (const [, v] of labels) if (!/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(String(v))) problems.push(`label value ${String(v)}`);
  if (!['IfHealthyBudget', 'AlwaysAllow', undefined].includes(spec.unhealthyPodEvictionPolicy)) problems.push('unhealthyPodEvictionPolicy');
  return problems;
}

describe('what the API server accepts', () => {
  it('accepts every budget emitted, default or written, for every placement', () => {
    const written: (MinAvailable | undefined)[] = [undefined, 1, 2, 3, '1%', '34%', '50%', '66%'];
    let checked = 0;
    for (const counts of distributions()) {
      const placed = placements('chat', counts);
      for (const minAvailable of written) {
        if (typeof minAvailable === 'number' && minAvailable >= placed.length) continue;
        const m = chat(minAvailable === undefined ? {} : { minAvailable });
        for (const budget of serving([m], placed, 4).filter((o) => o.kind === 'PodDisruptionBudget')) {
          expect(apiServerProblems(budget.spec), JSON.stringify(budget.spec)).toEqual([]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(apiServerProblems({ minAvailable: '150%', maxUnavailable: 1, selector: { matchLabels: {} } })).toHaveLength(3);
  });
});

describe('disruptionBudgetDiagnostics', () => {
  const at = (path: string) => ({ file: 'specs/models.yaml', line: path === 'spec.minAvailable' ? 9 : 1, col: 17 });
  const located = (m: Model): Model => ({ ...m, source: { ...m.source, at } });

  it('warns at spec.minAvailable when the plan puts more replicas on a node than the budget lets go', () => {
    const input = fleetInput([located(chat({ minAvailable: 2 }))], placements('chat', [3, 1]));
    expect(disruptionBudgetDiagnostics(input.spec, input.plan)).toEqual([
      {
        file: 'specs/models.yaml', line: 9, col: 17, severity: 'warning', path: 'spec.minAvailable',
        message:
          'keeps 2 of the 4 placed replicas Ready, so a drain may evict 2, but the plan puts more on node-0 (3): their pods are pinned there, ' +
          'so draining such a node waits (kubectl drain for ever, the partitioner giving way at each drain timeout and retrying, so the node is never repartitioned); at most 1 lets every node drain',
      },
    ]);
  });

  it('says only 0 helps when one node holds every replica', () => {
    const input = fleetInput([located(chat({ minAvailable: 1 }))], placements('chat', [4]));
    expect(disruptionBudgetDiagnostics(input.spec, input.plan)[0]!.message).toMatch(/one node holds every replica, so only 0 \(no budget\) lets it drain$/);
  });

  it('says nothing of the default, nor of a budget every node can drain under', () => {
    const input = fleetInput([located(chat()), located(model('other', { ...chat({ minAvailable: 1 }).spec }))], [...placements('chat', [3, 1]), ...placements('other', [2, 2], 1)]);
    expect(disruptionBudgetDiagnostics(input.spec, input.plan)).toEqual([]);
  });
});

describe('Fleet partitioning.maxUnavailableNodes', () => {
  const lockSlots = (maxUnavailableNodes?: number, backend: 'builtin' | 'gpu-operator' = 'builtin') => {
    const input = fleetInput([chat()], placements('chat', [2, 2]));
    const partitioning = { ...fleet().spec.partitioning, backend, ...(maxUnavailableNodes !== undefined && { maxUnavailableNodes }) };
    const spec = { ...input.spec, fleet: fleet({ partitioning }) };
    const daemonSet = synthFleet({ ...input, spec }).get('node-setup')!.find((o) => o.kind === 'DaemonSet')!;
    const env = daemonSet.spec.template.spec.containers[0].env as { name: string; value?: string }[];
    return env.find((e) => e.name === 'MAX_UNAVAILABLE_NODES')!.value;
  };

  it('sets how many Leases the partitioners share, one node at a time by default, with either backend', () => {
    expect(lockSlots()).toBe('1');
    expect(lockSlots(3)).toBe('3');
    expect(lockSlots(2, 'gpu-operator')).toBe('2');
  });
});
