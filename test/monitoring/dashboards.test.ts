import { describe, expect, it } from 'vitest';
import { DASHBOARD_UID_MAX, dashboardUid, fleetDashboard, type FleetDashboardInput } from '../../constructs/dashboards.ts';
import { monitoredInput } from './fixtures.ts';
import { CUMULATIVE_METRICS, KNOWN_METRICS } from './known-metrics.ts';
import { promql, withoutGrafanaVariables } from './promql.ts';

const input = monitoredInput();
const dashboardInput: FleetDashboardInput = {
  fleetName: 'prod',
  models: input.spec.models,
  nodes: input.plan.nodes.map((n) => n.name),
  vllmJob: 'aim-models/aim-vllm',
  exporterJob: 'aim-system/aim-gpu-metrics-exporter',
};
const json = JSON.parse(JSON.stringify(fleetDashboard(dashboardInput)));
const panels: any[] = json.panels;
const graphs = panels.filter((p) => p.type !== 'row');
const exprs: Array<{ where: string; expr: string }> = graphs.flatMap((p) => p.targets.map((t: any) => ({ where: `${p.id} ${p.title}`, expr: t.expr })));

describe('fleet dashboard model', () => {
  it('sets schemaVersion, a stable uid of at most 40 characters and no instance id', () => {
    expect(json.schemaVersion).toBe(42);
    expect(json.uid).toBe('aim-gpu-sharing-prod');
    expect(json.id).toBeUndefined();
    expect(json.templating.list.length).toBeGreaterThan(0);
    expect(json.annotations).toEqual({ list: [] });
  });

  it('gives every panel a unique id, in order, and a full grid position', () => {
    const ids = panels.map((p) => p.id);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    for (const p of panels) {
      expect(p.gridPos, `${p.id}`).toEqual({ h: expect.any(Number), w: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
      expect(p.gridPos.x + p.gridPos.w, `${p.id}`).toBeLessThanOrEqual(24);
    }
  });

  it('lays panels out without overlap', () => {
    const cells = new Set<string>();
    for (const p of panels) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `panel ${p.id} at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('queries through a prometheus data source variable', () => {
    const variable = json.templating.list.find((v: any) => v.name === 'datasource');
    expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const p of graphs) expect(p.datasource, `${p.id}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
  });

  it('offers a model variable read from vLLM\'s own series', () => {
    const variable = json.templating.list.find((v: any) => v.name === 'model');
    expect(variable).toMatchObject({ type: 'query', multi: true, includeAll: true, datasource: { type: 'prometheus', uid: '${datasource}' } });
    const inner = /^label_values\((.*), model_name\)$/.exec(variable.query)![1]!;
    expect(promql(inner)).toMatchObject({ errors: [], metrics: ['vllm:num_requests_running'] });
  });

  it('shows partitions, KV cache, running and waiting requests, and TTFT/ITL p99', () => {
    const metrics = new Set(exprs.flatMap(({ expr }) => promql(withoutGrafanaVariables(expr)).metrics));
    for (const name of [
      'gpu_gfx_busy_instantaneous',
      'gpu_total_vram',
      'vllm:kv_cache_usage_perc',
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
      'vllm:time_to_first_token_seconds_bucket',
      'vllm:inter_token_latency_seconds_bucket',
    ]) {
      expect(metrics).toContain(name);
    }
  });

  it('parses every target as PromQL over metrics that exist, rating only counters and histograms', () => {
    expect(exprs.length).toBeGreaterThan(8);
    for (const { where, expr } of exprs) {
      const facts = promql(withoutGrafanaVariables(expr));
      expect(facts.errors, where).toEqual([]);
      expect(facts.metrics.filter((m) => !KNOWN_METRICS.has(m)), where).toEqual([]);
      expect(facts.rated.filter((m) => !CUMULATIVE_METRICS.has(m)), where).toEqual([]);
    }
  });

  it('limits the partition panels to the planned nodes, escaped for the regex matcher', () => {
    const gpuExprs = exprs.filter(({ expr }) => expr.includes('gpu_'));
    expect(gpuExprs.length).toBeGreaterThan(0);
    for (const { expr } of gpuExprs) expect(expr).toContain('hostname=~"gpu-node-01|gpu-node-02\\\\.dc1\\\\.example\\\\.com"');
  });

  it('draws each model\'s SLO as a threshold line on its latency panel, at the spec value', () => {
    const ttft = graphs.find((p) => p.title === 'p99 time to first token');
    const itl = graphs.find((p) => p.title === 'p99 inter-token latency');
    const e2e = graphs.find((p) => p.title === 'p99 end-to-end request latency');
    const bounds = (panel: any) =>
      Object.fromEntries(
        panel.fieldConfig.overrides.map((o: any) => [
          o.matcher.options,
          o.properties.find((p: any) => p.id === 'thresholds').value.steps.at(-1).value,
        ]),
      );
    expect(bounds(ttft)).toEqual({ 'llama-8b': 0.5 });
    expect(bounds(itl)).toEqual({ 'llama-8b': 0.05 });
    expect(bounds(e2e)).toEqual({ 'qwen-32b': 30 });
    for (const o of ttft.fieldConfig.overrides) expect(o.matcher.id).toBe('byName');
  });

  it('is a pure function of its input', () => {
    expect(JSON.stringify(fleetDashboard(dashboardInput))).toBe(JSON.stringify(json));
  });

  it('fails without planned nodes', () => {
    expect(() => fleetDashboard({ ...dashboardInput, nodes: [] })).toThrow('the fleet dashboard needs at least one planned node');
  });
});

describe('dashboardUid', () => {
  it('prefixes the fleet name', () => {
    expect(dashboardUid('prod')).toBe('aim-gpu-sharing-prod');
  });

  it('shortens long fleet names to 40 characters with a hash that keeps them apart', () => {
    const a = dashboardUid('a-very-long-fleet-name-for-the-eu-west-cluster');
    const b = dashboardUid('a-very-long-fleet-name-for-the-eu-west-cluster-2');
    expect(a.length).toBeLessThanOrEqual(DASHBOARD_UID_MAX);
    expect(b.length).toBeLessThanOrEqual(DASHBOARD_UID_MAX);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^aim-gpu-sharing-a-very-long-[a-z-]*-[0-9a-f]{8}$/);
  });
});
