import { describe, expect, it } from 'vitest';
import { renderReviewMarkdown, renderReviewText } from '../../review/render.ts';
import type { ReviewDiff } from '../../review/review.ts';
import { runScenario, scenarioNames } from './scenario.ts';

/** The facts of a review a test states exactly: what moves, restarts, is evicted and why. */
function facts(diff: ReviewDiff) {
  const p = diff.plan;
  return {
    nodes: { added: p.nodes.added.map((n) => n.node), removed: p.nodes.removed.map((n) => n.node) },
    added: p.added.map((a) => a.id),
    nowScheduled: p.nowScheduled.map((a) => a.id),
    removed: p.removed.map((a) => a.id),
    moved: p.moved.map((m) => `${m.id} ${m.from} → ${m.to} ${m.rollout}`),
    repartitioned: p.repartitioned.map((r) => `${r.node} ${r.from} → ${r.to} evicts ${r.evicts.join(',')}${r.movesOff.length ? ` moves off ${r.movesOff.join(',')}` : ''}`),
    unschedulable: p.unschedulable.map((u) => `${u.id} ${u.status}${u.cause ? `: ${u.cause}` : ''}`),
    restarts: diff.restarts.map((r) => `${r.resource}: ${r.replicas.join(',')}: ${r.changes.join('; ')}`),
    rollouts: diff.rollouts.map((r) => r.resource),
    models: diff.models.map((m) => `${m.model} ${m.before}→${m.after} up ${m.upDuring}`),
  };
}

const NONE = { nodes: { added: [], removed: [] }, added: [], nowScheduled: [], removed: [], moved: [], repartitioned: [], unschedulable: [], restarts: [], rollouts: [], models: [] };
const PARTITIONER = 'DaemonSet aim-system/aim-node-partitioner';

/** Every scenario in test/scenarios/ and exactly what its review must say. */
const EXPECTED: Record<string, Partial<ReturnType<typeof facts>>> = {
  'scale-up': { added: ['chat#2', 'chat#3'], models: ['chat 2→4 up 2'] },
  'scale-down': { removed: ['chat#1'], models: ['chat 2→1 up 1'] },
  'add-model': { added: ['coder#0'], models: ['coder 0→1 up 0'] },
  'remove-model': { removed: ['small#0', 'small#1'], models: ['small 2→0 up 0'] },
  // chat's two replicas span both nodes (the default spread): one InferenceService each.
  'precision-change': {
    restarts: [
      // The replica keeps its whole partition (same utilization) and its 16-bit KV cache unless fp8 is asked for.
      'InferenceService aim-models/chat-0: chat#0: precision bf16 → fp8; args: +--quantization=fp8; resources: memory 13Gi → 11Gi',
      'InferenceService aim-models/chat-1: chat#1: precision bf16 → fp8; args: +--quantization=fp8; resources: memory 13Gi → 11Gi',
    ],
    models: ['chat 2→2 up 0'],
  },
  'args-change': {
    restarts: [
      'InferenceService aim-models/chat-0: chat#0: args: +--enable-prefix-caching; env: +VLLM_LOGGING_LEVEL',
      'InferenceService aim-models/chat-1: chat#1: args: +--enable-prefix-caching; env: +VLLM_LOGGING_LEVEL',
    ],
    models: ['chat 2→2 up 0'],
  },
  // Alert rules only: no pod restarts, no replica changes, but a change all the same.
  'slo-change': {},
  // The disruption budget only: nothing restarts or moves.
  'budget-change': {},
  // The runtime's container is merged into every model pod: all of them restart.
  'image-change': {
    restarts: [
      'ServingRuntime aim-models/vllm-rocm: big#0,chat#0,chat#1,small#0,small#1: image docker.io/vllm/vllm-openai-rocm:v0.18.0@sha256:4b1f7c1a9d3e5f2b8c6a0d4e7f9b1c3a5d7e9f0b2c4d6e8f1a3b5c7d9e0f2a4b → docker.io/vllm/vllm-openai-rocm:v0.19.0@sha256:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b',
    ],
    models: ['big 1→1 up 0', 'chat 2→2 up 0', 'small 2→2 up 0'],
  },
  'priority-preemption': {
    nowScheduled: ['batch#2', 'batch#3'],
    unschedulable: ['small#12 evicted: preempted by batch, priority high', 'small#13 evicted: preempted by batch, priority high'],
    restarts: ['InferenceService aim-models/batch-0: batch#0: priority aim-low → aim-high', 'InferenceService aim-models/batch-1: batch#1: priority aim-low → aim-high'],
    models: ['batch 2→4 up 0', 'small 20→18 up 18'],
  },
  // node-b's replicas move to node-a, each new pod Ready before its old one stops: nothing goes down.
  'remove-node': {
    nodes: { added: [], removed: ['node-b'] },
    moved: ['chat#1 node-b[0.0] → node-a[0.6] surge', 'small#1 node-b[0.1] → node-a[0.7] surge'],
    rollouts: [PARTITIONER],
    models: ['chat 2→2 up 2', 'small 2→2 up 2'],
  },
  'add-node': { nodes: { added: ['node-c'], removed: [] }, rollouts: [PARTITIONER] },
  'add-pool': { nodes: { added: ['node-x'], removed: [] }, rollouts: [PARTITIONER] },
  'forced-repartition': {
    added: ['big#2'],
    // It stays on the repartitioned node: its new pod waits for the new profile, the drain evicts the old one.
    moved: ['chat#0 node-b[0.0] → node-b[1.0] surge'],
    repartitioned: ['node-b CPX-NPS4 → SPX-NPS1 evicts chat#0,chat#1,small#0,small#1'],
    unschedulable: [
      'chat#1 evicted: preempted by big, priority critical',
      'small#0 evicted: preempted by big, priority critical',
      'small#1 evicted: preempted by big, priority critical',
    ],
    rollouts: [PARTITIONER],
    models: ['big 2→3 up 2', 'chat 2→1 up 0', 'small 2→0 up 0'],
  },
};

describe('a disruption budget change', { timeout: 60_000 }, () => {
  it('shows as a configuration change with the budget before and after', async () => {
    const { diff } = await runScenario('budget-change');
    expect(diff.configuration.map((c) => `${c.resource}: ${c.detail ?? c.change}`)).toEqual(['PodDisruptionBudget aim-models/chat: minAvailable 2 → 1']);
  });
});

describe('the scenario library', () => {
  it('has an expectation for every scenario folder and a folder for every expectation', () => {
    expect(scenarioNames()).toEqual(Object.keys(EXPECTED).sort());
  });
});

describe.each(Object.keys(EXPECTED).sort())('scenario %s', { timeout: 60_000 }, (name) => {
  it('reviews exactly the expected moves, repartitions, evictions with their causes and restarts', async () => {
    const { diff } = await runScenario(name);
    expect(diff.changed).toBe(true);
    expect(facts(diff)).toEqual({ ...NONE, ...EXPECTED[name] });
  });

  it('renders the review as markdown and text', async () => {
    const { diff, next } = await runScenario(name);
    const markdown = renderReviewMarkdown(diff, next);
    const text = renderReviewText(diff, next, { colour: false });
    // Properties the snapshots must keep: summary first, details folded, every replica id once per section.
    expect(markdown.startsWith('### aim-gpu plan: changes\n')).toBe(true);
    expect(markdown.indexOf('<details>')).toBeGreaterThan(markdown.indexOf('GPUs used'));
    for (const u of diff.plan.unschedulable) expect(text.split('\n').filter((l) => l.includes(` ${u.id} `)).length).toBe(1);
    expect(text).not.toContain('\x1b[');
    await expect(markdown).toMatchFileSnapshot(`__snapshots__/${name}.md`);
    await expect(text).toMatchFileSnapshot(`__snapshots__/${name}.txt`);
  });
});
