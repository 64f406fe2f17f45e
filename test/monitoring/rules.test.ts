import { describe, expect, it } from 'vitest';
import type { Model } from '../../api/types.ts';
import { modelSloGroup, placementGroup, SLO_WINDOWS } from '../../constructs/monitoring-rules.ts';
import { podMonitorJob } from '../../constructs/monitoring-targets.ts';
import { model } from '../constructs/fixtures.ts';
import { monitoredInput, monitoringObjects, rulesOf, SLOS, UNPLACED } from './fixtures.ts';
import { CUMULATIVE_METRICS, KNOWN_METRICS, REMOVED_VLLM_METRICS } from './known-metrics.ts';
import { promql } from './promql.ts';

const input = monitoredInput();
const objects = monitoringObjects(input)!;
const rules = rulesOf(objects);
const VLLM_JOB = 'aim-models/aim-vllm';
const EXPORTER_JOB = 'aim-system/aim-gpu-metrics-exporter';

describe('alert rule expressions', () => {
  it('finds the rules of every group', () => {
    expect(new Set(rules.map((r) => r.group))).toEqual(
      new Set(['aim.model-saturation', 'aim.model-availability', 'aim.slo.llama-8b', 'aim.slo.qwen-32b', 'aim.partitions', 'aim.placement']),
    );
  });

  it('parses every expr as PromQL', () => {
    const broken = rules.filter(({ rule }) => promql(rule.expr).errors.length > 0).map((r) => r.where);
    expect(broken).toEqual([]);
  });

  it('fails to parse a broken expression (the parser check can fail)', () => {
    expect(promql('sum(rate(vllm:num_preemptions_total[5m])').errors.length).toBeGreaterThan(0);
  });

  it('queries only metrics that exist, none of vLLM\'s removed names', () => {
    const used = new Set(rules.flatMap(({ rule }) => promql(rule.expr).metrics));
    expect([...used].filter((name) => !KNOWN_METRICS.has(name))).toEqual([]);
    for (const removed of REMOVED_VLLM_METRICS) expect(used).not.toContain(removed);
  });

  it('rates only counters with their _total suffix and histogram series', () => {
    const rated = rules.flatMap(({ rule }) => promql(rule.expr).rated);
    expect(rated.length).toBeGreaterThan(0);
    expect(rated.filter((name) => !CUMULATIVE_METRICS.has(name))).toEqual([]);
    expect(rated).toContain('vllm:num_preemptions_total');
  });

  it('gives every alert a severity, a summary and a description', () => {
    for (const { where, rule } of rules) {
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

describe('model health rules', () => {
  it('alerts on KV-cache use above 0.9 for 10 minutes and on any preemption', () => {
    const kv = rules.find((r) => r.rule.alert === 'ModelKvCacheNearlyFull')!.rule;
    expect(kv.expr).toBe(`max by (model_name, pod) (vllm:kv_cache_usage_perc{job="${VLLM_JOB}"}) > 0.9`);
    expect(kv.for).toBe('10m');
    const preempted = rules.find((r) => r.rule.alert === 'ModelRequestsPreempted')!.rule;
    expect(preempted.expr).toBe(`sum by (model_name, pod) (rate(vllm:num_preemptions_total{job="${VLLM_JOB}"}[5m])) > 0`);
  });

  it('expects as many serving pods per model as the plan placed, not as the spec asked', () => {
    const below = rules.filter((r) => r.rule.alert === 'ModelReplicasBelowPlan');
    const planned = Object.fromEntries(below.map(({ rule }) => [rule.labels!.model, Number(/< (\d+)$/.exec(rule.expr)![1])]));
    expect(planned).toEqual({ 'llama-70b': 1, 'llama-8b': 3, 'qwen-32b': 1 });
    for (const { rule } of below) expect(rule.expr).toContain(`up{job="${VLLM_JOB}",model="${rule.labels!.model}"}`);
  });

  it('selects on the job of the vLLM PodMonitor the stage emits', () => {
    const monitor = objects.find((o) => o.kind === 'PodMonitor' && o.metadata.name === 'aim-vllm')!;
    expect(podMonitorJob(monitor.metadata.namespace!, monitor.metadata.name)).toBe(VLLM_JOB);
  });
});

describe('partition and placement rules', () => {
  const drift = rules.filter((r) => r.rule.alert === 'GpuPartitionDrift');

  it('checks every planned node against its own planned modes and partition counts', () => {
    expect(drift.map((r) => r.rule.labels?.node)).toEqual(input.plan.nodes.map((n) => n.name));
    const uniform = drift[0]!.rule.expr;
    expect(uniform).toContain('hostname="gpu-node-01",gpu_compute_partition_type="cpx",gpu_memory_partition_type="nps4"');
    expect(uniform).toMatch(/\) != 64\)$/);
    const mixed = drift[1]!.rule.expr;
    const counts = [...mixed.matchAll(/gpu_compute_partition_type="(\w+)",gpu_memory_partition_type="(\w+)"\}\) or 0 \* [^\n]*\) != (\d+)\)/g)].map((m) => [m[1], m[2], Number(m[3])]);
    expect(counts).toEqual([['cpx', 'nps1', 16], ['spx', 'nps1', 6]]);
  });

  it('counts only the series of the exporter PodMonitor', () => {
    for (const { rule } of drift) {
      const selectors = rule.expr.match(/gpu_total_vram\{[^}]*\}/g)!;
      for (const s of selectors) expect(s).toContain(`job="${EXPORTER_JOB}"`);
    }
  });

  it('alerts on nodes the partitioner marked failed or left tainted', () => {
    expect(rules.find((r) => r.rule.alert === 'GpuPartitionSetupFailed')!.rule.expr).toBe('kube_node_labels{label_gpusharing_aim_partition_state="failed"} == 1');
    expect(rules.find((r) => r.rule.alert === 'GpuPartitioningStuck')!.rule.expr).toBe('kube_node_spec_taint{key="gpusharing.aim/partitioning"} == 1');
  });

  it('keeps unplaced replicas firing in Alertmanager, named with their reasons', () => {
    const { rule } = rules.find((r) => r.rule.alert === 'PlanHasUnschedulableReplicas')!;
    expect(rule.expr).toBe(`vector(${UNPLACED.length}) > 0`);
    expect(rule.annotations?.replicas).toBe('llama-70b#1');
    expect(rule.annotations?.description).toContain(`llama-70b#1: ${UNPLACED[0]!.reason}`);
  });

  it('resolves the unplaced-replicas alert once the plan places everything', () => {
    const [rule] = placementGroup({ ...input.plan, unschedulable: [] }).rules;
    expect(rule!.expr).toBe('vector(0) > 0');
    expect(rule!.annotations.replicas).toBeUndefined();
  });

  it('lists at most 20 unplaced replicas and counts the rest', () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ id: `m#${i}`, model: 'm', reason: 'no room' }));
    const [rule] = placementGroup({ ...input.plan, unschedulable: many }).rules;
    expect(rule!.expr).toBe('vector(25) > 0');
    expect(rule!.annotations.description!.split('\n').at(-1)).toBe('… and 5 more');
  });
});
