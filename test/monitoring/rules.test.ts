import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Model } from '../../api/types.ts';
import { placementGroup } from '../../constructs/monitoring-drift.ts';
import { planRecordingRules } from '../../constructs/monitoring-plan.ts';
import { criticalSectionSeconds, DEFAULT_PARTITION_TIMEOUTS } from '../../constructs/partition-timeouts.ts';
import { modelSloGroup, SLO_WINDOWS } from '../../constructs/monitoring-rules.ts';
import { podMonitorJob } from '../../constructs/monitoring-targets.ts';
import { model } from '../constructs/fixtures.ts';
import { monitoredInput, monitoringObjects, rulesOf, SLOS, UNPLACED } from './fixtures.ts';
import { CUMULATIVE_METRICS, KNOWN_METRICS, REMOVED_VLLM_METRICS } from './known-metrics.ts';
import { promql } from './promql.ts';

const input = monitoredInput();
const objects = monitoringObjects(input)!;
const rules = rulesOf(objects);
const alerts = rules.filter((r) => r.rule.alert);
const recorded = rules.filter((r) => r.rule.record);
const VLLM_JOB = 'aim-models/aim-vllm';
const EXPORTER_JOB = 'aim-system/aim-gpu-metrics-exporter';

describe('alert rule expressions', () => {
  it('finds the rules of every group', () => {
    expect(new Set(rules.map((r) => r.group))).toEqual(
      new Set(['aim.model-saturation', 'aim.model-availability', 'aim.slo.llama-8b', 'aim.slo.qwen-32b', 'aim.plan', 'aim.observed', 'aim.partitions', 'aim.placement']),
    );
  });

  it('parses every expr as PromQL', () => {
    const broken = rules.filter(({ rule }) => promql(rule.expr).errors.length > 0).map((r) => r.where);
    expect(broken).toEqual([]);
  });

  it('fails to parse a broken expression (the parser check can fail)', () => {
    expect(promql('sum(rate(vllm:num_preemptions_total[5m])').errors.length).toBeGreaterThan(0);
  });

  it('queries only metrics that exist or that its own recording rules record, none of vLLM\'s removed names', () => {
    const used = new Set(rules.flatMap(({ rule }) => promql(rule.expr).metrics));
    const records = new Set(recorded.map((r) => r.rule.record));
    expect([...used].filter((name) => !KNOWN_METRICS.has(name) && !records.has(name))).toEqual([]);
    for (const removed of REMOVED_VLLM_METRICS) expect(used).not.toContain(removed);
  });

  it('rates only counters with their _total suffix and histogram series', () => {
    const rated = rules.flatMap(({ rule }) => promql(rule.expr).rated);
    expect(rated.length).toBeGreaterThan(0);
    expect(rated.filter((name) => !CUMULATIVE_METRICS.has(name))).toEqual([]);
    expect(rated).toContain('vllm:num_preemptions_total');
  });

  it('gives every alert a severity, a summary, a description and its runbook section', () => {
    for (const { where, rule } of alerts) {
      expect(rule.annotations?.runbook, where).toBe(`docs/alerts.md#${rule.alert!.toLowerCase()}`);
      expect(rule.alert, where).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(['critical', 'warning'], where).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, where).toBeTruthy();
      expect(rule.annotations?.description, where).toBeTruthy();
    }
  });
});

describe('latency SLO rules', () => {
  const sloRules = rules.filter((r) => r.group.startsWith('aim.slo.'));
  const thresholds = (expr: string) => [...expr.matchAll(/\)\s*>\s*([0-9.e+-]+)/g)].map((m) => Number(m[1]));

  it('puts each model with an SLO in its own PrometheusRule, and models without one in none', () => {
    const names = objects.filter((o) => o.kind === 'PrometheusRule' && o.metadata.name.endsWith('-slo')).map((o) => o.metadata.name);
    expect(names).toEqual(['llama-8b-slo', 'qwen-32b-slo']);
    expect(sloRules.some((r) => r.rule.labels?.model === 'llama-70b')).toBe(false);
  });

  it('alerts on the p99 above exactly the spec value, over both windows of each pair', () => {
    for (const [name, slo] of Object.entries(SLOS)) {
      for (const [field, bound] of Object.entries(slo)) {
        const forField = sloRules.filter((r) => r.rule.labels?.model === name && r.rule.labels?.slo === field);
        expect(forField.map((r) => r.rule.labels?.window)).toEqual(SLO_WINDOWS.map((w) => `${w.short}/${w.long}`));
        for (const { rule } of forField) {
          expect(thresholds(rule.expr)).toEqual([bound, bound]);
          expect(rule.expr).toContain('histogram_quantile(0.99, sum by (le) (rate(');
          expect(rule.expr).toContain(`model_name="${name}"`);
        }
      }
    }
    expect(sloRules).toHaveLength(3 * SLO_WINDOWS.length);
  });

  it('reads each bound from the histogram it bounds', () => {
    const metricOf = (field: string) => new Set(sloRules.filter((r) => r.rule.labels?.slo === field).flatMap((r) => promql(r.rule.expr).metrics));
    expect(metricOf('ttftSeconds')).toEqual(new Set(['vllm:time_to_first_token_seconds_bucket']));
    expect(metricOf('itlSeconds')).toEqual(new Set(['vllm:inter_token_latency_seconds_bucket']));
    expect(metricOf('e2eSeconds')).toEqual(new Set(['vllm:e2e_request_latency_seconds_bucket']));
  });

  it('emits no group for a model without an SLO', () => {
    expect(modelSloGroup(model('plain', { model: 'a/b' }), VLLM_JOB)).toBeUndefined();
  });

  it('fails when an SLO bound is not a positive number of seconds', () => {
    const bad: Model = model('fast', { model: 'a/b', slo: { ttftSeconds: 0 } });
    expect(() => modelSloGroup(bad, VLLM_JOB)).toThrow('model fast: spec.slo.ttftSeconds must be a positive number of seconds, got 0');
  });
});

describe('the plan as recording rules', () => {
  const series = (record: string) =>
    recorded.filter((r) => r.rule.record === record).map(({ rule }): Record<string, any> => ({ ...rule.labels, value: Number(/^vector\((.+)\)$/.exec(rule.expr)![1]) }));
  const NODE_2 = 'gpu-node-02.dc1.example.com';

  it('records the fleet summary', () => {
    expect(series('aim:plan_gpus')).toEqual([{ value: 16 }]);
    expect(series('aim:plan_gpus_used')).toEqual([{ value: input.plan.summary.gpusUsed }]);
    expect(series('aim:plan_gpus_lower_bound')).toEqual([{ value: input.plan.summary.lowerBound }]);
  });

  it('records each node\'s profile, its partitions and free partitions per mode, and the partitions replicas hold', () => {
    const node = { pool: 'mi300x' };
    expect(series('aim:plan_node_profile')).toEqual([
      { node: 'gpu-node-01', hostname: 'gpu-node-01', ...node, profile: 'cpx-nps4', value: 1 },
      { node: NODE_2, hostname: NODE_2, ...node, profile: expect.stringMatching(/^mixed-[0-9a-f]{10}$/), value: 1 },
    ]);
    const mode = (name: string, compute: string, memory: string, value: number) => ({
      node: name, hostname: name, ...node, gpu_compute_partition_type: compute, gpu_memory_partition_type: memory, value,
    });
    expect(series('aim:plan_partitions')).toEqual([mode('gpu-node-01', 'cpx', 'nps4', 64), mode(NODE_2, 'cpx', 'nps1', 16), mode(NODE_2, 'spx', 'nps1', 6)]);
    // gpu-node-01: llama-8b#0, #1 and qwen-32b#0 (2) hold 4 of 64; node 2: llama-8b#2 a CPX, llama-70b#0 an SPX partition.
    expect(series('aim:plan_partitions_free')).toEqual([mode('gpu-node-01', 'cpx', 'nps4', 60), mode(NODE_2, 'cpx', 'nps1', 15), mode(NODE_2, 'spx', 'nps1', 5)]);
    expect(series('aim:plan_partitions_used')).toEqual([{ node: 'gpu-node-01', hostname: 'gpu-node-01', ...node, value: 4 }, { node: NODE_2, hostname: NODE_2, ...node, value: 2 }]);
  });

  it('records placed and unplaced replicas for every model, and replicas per model and node', () => {
    expect(series('aim:plan_model_replicas')).toEqual([{ model: 'llama-70b', value: 1 }, { model: 'llama-8b', value: 3 }, { model: 'qwen-32b', value: 1 }]);
    expect(series('aim:plan_unschedulable_replicas')).toEqual([{ model: 'llama-70b', value: 1 }, { model: 'llama-8b', value: 0 }, { model: 'qwen-32b', value: 0 }]);
    expect(series('aim:plan_replicas')).toEqual([
      { model: 'llama-70b', node: NODE_2, value: 1 },
      { model: 'llama-8b', node: 'gpu-node-01', value: 2 },
      { model: 'llama-8b', node: NODE_2, value: 1 },
      { model: 'qwen-32b', node: 'gpu-node-01', value: 1 },
    ]);
  });

  it('records the memory vLLM may take per model and node: utilization × partition memory', () => {
    const gib = 1024 ** 3;
    const memory = Object.fromEntries(series('aim:plan_memory_bytes').map(({ model, node, value }) => [`${model}@${node}`, value / gib]));
    expect(memory['llama-8b@gpu-node-01']).toBeCloseTo(2 * 24 * 0.85, 6);
    expect(memory[`llama-8b@${NODE_2}`]).toBeCloseTo(24 * 0.85, 6);
    expect(memory['qwen-32b@gpu-node-01']).toBeCloseTo(2 * 24 * 0.91, 6);
    expect(memory[`llama-70b@${NODE_2}`]).toBeCloseTo(192 * 0.83, 6);
  });

  it('records the KV cache per model and node in tokens: each replica\'s kvCacheTokens, summed', () => {
    expect(series('aim:plan_kv_capacity_tokens')).toEqual([
      { model: 'llama-70b', node: NODE_2, value: 30000 },
      { model: 'llama-8b', node: 'gpu-node-01', value: 2 * 40000 },
      { model: 'llama-8b', node: NODE_2, value: 40000 },
      { model: 'qwen-32b', node: 'gpu-node-01', value: 60000 },
    ]);
  });

  it('records no KV capacity where a replica has no KV figure (a model known only by its memory), rather than an understated one', () => {
    const withoutKv = { ...input.plan, replicas: input.plan.replicas.map((r) => (r.id === 'llama-8b#1' ? { ...r, kvCacheTokens: undefined } : r)) };
    const kv = planRecordingRules(input.spec.models, withoutKv).filter((r) => r.record === 'aim:plan_kv_capacity_tokens');
    expect(kv.map((r) => `${r.labels?.model}@${r.labels?.node}`)).toEqual(['llama-70b@' + NODE_2, 'llama-8b@' + NODE_2, 'qwen-32b@gpu-node-01']);
  });

  it('records each SLO bound as the spec gives it', () => {
    expect(series('aim:plan_slo_seconds')).toEqual([
      { model: 'llama-8b', slo: 'ttftSeconds', value: 0.5 },
      { model: 'llama-8b', slo: 'itlSeconds', value: 0.05 },
      { model: 'qwen-32b', slo: 'e2eSeconds', value: 30 },
    ]);
  });

  it('records the observed cluster from the PodMonitors\' own jobs, for planned nodes only', () => {
    const observed = Object.fromEntries(recorded.filter((r) => r.group === 'aim.observed').map(({ rule }) => [rule.record, rule.expr]));
    expect(observed['aim:gpu_partitions:count']).toBe(
      `count by (hostname, gpu_compute_partition_type, gpu_memory_partition_type) (gpu_total_vram{job="${EXPORTER_JOB}"} and on (hostname) aim:plan_node_profile)`,
    );
    expect(observed['aim:serving_pods:count']).toBe(`count by (model, node) (up{job="${VLLM_JOB}"} == 1)`);
    const perReplica = '* on (model, node) group_left () (aim:plan_kv_capacity_tokens / on (model, node) aim:plan_replicas)';
    expect(observed['aim:kv_cache_used_tokens:sum']).toBe(`sum by (model, node) (\n  vllm:kv_cache_usage_perc{job="${VLLM_JOB}"}\n  ${perReplica}\n)`);
    expect(observed['aim:kv_cache_free_tokens:sum']).toBe(`sum by (model, node) (\n  (1 - vllm:kv_cache_usage_perc{job="${VLLM_JOB}"})\n  ${perReplica}\n)`);
  });

  it('reads every recorded series it compares with from a recording rule of its own', () => {
    const records = new Set(recorded.map((r) => r.rule.record));
    const used = new Set(rules.flatMap(({ rule }) => promql(rule.expr).metrics).filter((m) => m.startsWith('aim:')));
    expect([...used].filter((m) => !records.has(m))).toEqual([]);
    expect(used.size).toBeGreaterThan(5);
  });
});

describe('model health and drift alerts', () => {
  const expr = (alert: string) => alerts.find((r) => r.rule.alert === alert)!.rule.expr;

  it('alerts on KV-cache use above 0.9 for 10 minutes and on any preemption', () => {
    const kv = alerts.find((r) => r.rule.alert === 'ModelKvCacheNearlyFull')!.rule;
    expect(kv.expr).toBe(`max by (model_name, pod) (vllm:kv_cache_usage_perc{job="${VLLM_JOB}"}) > 0.9`);
    expect(kv.for).toBe('10m');
    expect(expr('ModelRequestsPreempted')).toBe(`sum by (model_name, pod) (rate(vllm:num_preemptions_total{job="${VLLM_JOB}"}[5m])) > 0`);
  });

  it('compares serving pods and partitions with the plan\'s series, carrying no plan figure of its own', () => {
    for (const alert of ['ModelReplicasBelowPlan', 'ModelPodsOffPlan', 'GpuPartitionDrift', 'GpuPartitionMetricsAbsent', 'GpuAllocatableBelowPlan', 'GpuNodeProfileLabelMismatch', 'PlanHasUnschedulableReplicas']) {
      const metrics = promql(expr(alert)).metrics;
      expect(metrics.some((m) => m.startsWith('aim:plan_')), alert).toBe(true);
      expect(expr(alert), alert).not.toMatch(/gpu-node|llama|qwen|cpx|nps/);
    }
  });

  it('counts only the series of the exporter PodMonitor', () => {
    for (const { rule } of rules) {
      for (const s of rule.expr.match(/gpu_total_vram\{[^}]*\}/g) ?? []) expect(s).toContain(`job="${EXPORTER_JOB}"`);
    }
  });

  it('alerts on nodes the partitioner labelled failed, or left draining or partitioning for an hour', () => {
    expect(expr('GpuPartitionSetupFailed')).toBe('kube_node_labels{label_gpusharing_aim_partition_state="failed"} == 1');
    expect(expr('GpuPartitioningStuck')).toBe('kube_node_labels{label_gpusharing_aim_partition_state=~"draining|partitioning"} == 1');
    expect(alerts.find((r) => r.rule.alert === 'GpuPartitioningStuck')!.rule.for).toBe('1h');
  });

  it('reads partitioner states the node scripts write, and waits longer than the default timeouts let a state last', () => {
    const script = (f: string) => readFileSync(new URL(`../../constructs/scripts/${f}`, import.meta.url), 'utf8');
    expect(script('node-rollout.sh')).toMatch(/label_state failed\b/);
    // Both backends: builtin (amd-smi) and gpu-operator (DCM).
    for (const backend of ['partition-node.sh', 'dcm-node.sh']) {
      for (const state of ['draining', 'partitioning']) expect(script(backend), backend).toMatch(new RegExp(`label_state ${state}\\b`));
    }
    const t = DEFAULT_PARTITION_TIMEOUTS;
    const hour = 3600;
    expect(2 * t.drainSeconds).toBeLessThan(hour);
    expect(criticalSectionSeconds(t, 8) + t.allocatableSeconds).toBeLessThan(hour);
    expect(t.dcmSeconds + t.allocatableSeconds).toBeLessThan(hour);
  });

  it('selects on the job of the vLLM PodMonitor the stage emits', () => {
    const monitor = objects.find((o) => o.kind === 'PodMonitor' && o.metadata.name === 'aim-vllm')!;
    expect(podMonitorJob(monitor.metadata.namespace!, monitor.metadata.name)).toBe(VLLM_JOB);
  });
});

describe('placement alert', () => {
  it('keeps unplaced replicas firing in Alertmanager, named with their reasons', () => {
    const { rule } = alerts.find((r) => r.rule.alert === 'PlanHasUnschedulableReplicas')!;
    expect(rule.expr).toBe('aim:plan_unschedulable_replicas > 0');
    expect(rule.annotations?.description).toContain(`llama-70b#1: ${UNPLACED[0]!.reason}`);
  });

  it('lists at most 20 unplaced replicas and counts the rest', () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ id: `m#${i}`, model: 'm', reason: 'no room' }));
    const [rule] = placementGroup({ ...input.plan, unschedulable: many }).rules;
    expect((rule as { annotations: Record<string, string> }).annotations.description!.split('\n').at(-1)).toBe('… and 5 more');
  });
});

describe('runbooks', () => {
  const doc = readFileSync(new URL('../../docs/alerts.md', import.meta.url), 'utf8');
  const sections = new Set([...doc.matchAll(/^#{2,4} (\w+)$/gm)].map((m) => m[1]!.toLowerCase()));

  it('has a section in docs/alerts.md for every alert, where its runbook annotation points', () => {
    const names = [...new Set(alerts.map((r) => r.rule.alert!))];
    expect(names.filter((name) => !sections.has(name.toLowerCase()))).toEqual([]);
    for (const { rule } of alerts) expect(sections).toContain(rule.annotations!.runbook!.split('#')[1]);
  });

  it('documents no alert that does not exist', () => {
    const names = new Set([...new Set(alerts.map((r) => r.rule.alert!))].map((n) => n.toLowerCase()));
    const alertSections = [...doc.matchAll(/^### (\w+)$/gm)].map((m) => m[1]!.toLowerCase());
    expect(alertSections.filter((s) => !names.has(s))).toEqual([]);
  });
});
