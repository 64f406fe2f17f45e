import { describe, expect, it } from 'vitest';
import { DASHBOARD_KINDS, DASHBOARD_UID_MAX, type DashboardInput, dashboardUid, fleetDashboards } from '../../constructs/dashboards.ts';
import { monitoredInput, monitoringObjects, rulesOf } from './fixtures.ts';
import { CUMULATIVE_METRICS, KNOWN_METRICS } from './known-metrics.ts';
import { promql, withoutGrafanaVariables } from './promql.ts';

const dashboardInput: DashboardInput = { fleetName: 'prod', vllmJob: 'aim-models/aim-vllm', exporterJob: 'aim-system/aim-gpu-metrics-exporter' };
const built = fleetDashboards(dashboardInput);
const json = Object.fromEntries(built.map(({ kind, dashboard }) => [kind, JSON.parse(JSON.stringify(dashboard))]));
const recorded = new Set(rulesOf(monitoringObjects(monitoredInput())!).flatMap(({ rule }) => (rule.record ? [rule.record] : [])));

/**
 * What each dashboard shows, top to bottom, in the order issue 11 lists it (one pattern per panel
 * title): a user reads the plan-against-cluster figures before the detail.
 */
const READING_ORDER: Record<(typeof DASHBOARD_KINDS)[number], RegExp[]> = {
  fleet: [/^Profile per node/, /^Allocatable partitions/, /^Partitioner state/, /^Partitions per mode/, /^Partition utilisation/, /^Memory used against planned/],
  serving: [/^Throughput/, /^Time to first token/, /^Inter-token latency/, /^End-to-end request latency/, /^KV cache: tokens in use against the plan/, /^KV cache usage/, /^Queue length/, /^Preemptions/],
  capacity: [/^GPUs used against lower bound/, /^KV headroom/, /^Unschedulable replicas/, /^Free partitions per pool and profile/, /^Replicas per node per model/],
};

const panelsOf = (kind: string): any[] => json[kind].panels;
const graphsOf = (kind: string) => panelsOf(kind).filter((p) => p.type !== 'row');
const exprsOf = (kind: string): Array<{ where: string; expr: string }> =>
  graphsOf(kind).flatMap((p) => p.targets.map((t: any) => ({ where: `${kind} ${p.id} ${p.title}`, expr: t.expr })));
const byReadingOrder = (a: any, b: any) => a.gridPos.y - b.gridPos.y || a.gridPos.x - b.gridPos.x;

describe('the three dashboards', () => {
  it('are fleet and partitions, model serving and capacity, each with its stable uid of at most 40 characters', () => {
    expect(built.map((d) => d.kind)).toEqual(['fleet', 'serving', 'capacity']);
    expect(built.map((d) => json[d.kind].uid)).toEqual(['aim-gpu-sharing-prod-fleet', 'aim-gpu-sharing-prod-serving', 'aim-gpu-sharing-prod-capacity']);
    for (const { uid } of built) expect(uid.length).toBeLessThanOrEqual(DASHBOARD_UID_MAX);
    expect(json.fleet.title).toBe('AIM GPU sharing: Fleet and partitions (prod)');
  });

  describe.each(DASHBOARD_KINDS)('%s', (kind) => {
    const panels = panelsOf(kind);
    const graphs = graphsOf(kind);

    it('sets schemaVersion and annotations, and no instance id', () => {
      expect(json[kind].schemaVersion).toBe(42);
      expect(json[kind].id).toBeUndefined();
      expect(json[kind].annotations).toEqual({ list: [] });
    });

    it('queries through a prometheus data source variable', () => {
      expect(json[kind].templating.list.find((v: any) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
      for (const p of graphs) expect(p.datasource, `${p.id}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
    });

    it('gives every panel a unique id, in order, and a grid position inside the 24 columns', () => {
      expect(panels.map((p) => p.id)).toEqual(panels.map((_, i) => i + 1));
      for (const p of panels) {
        expect(p.gridPos, `${p.id}`).toEqual({ h: expect.any(Number), w: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
        expect(p.gridPos.x + p.gridPos.w, `${p.id}`).toBeLessThanOrEqual(24);
      }
    });

    it('lays panels out without overlap', () => {
      for (const [i, a] of panels.entries()) {
        for (const b of panels.slice(i + 1)) {
          const apart =
            a.gridPos.x + a.gridPos.w <= b.gridPos.x || b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
            a.gridPos.y + a.gridPos.h <= b.gridPos.y || b.gridPos.y + b.gridPos.h <= a.gridPos.y;
          expect(apart, `${a.title} and ${b.title}`).toBe(true);
        }
      }
    });

    it('reads top to bottom, left to right, in the order the issue lists what it shows', () => {
      const titles = [...graphs].sort(byReadingOrder).map((p) => p.title as string);
      expect(titles).toHaveLength(READING_ORDER[kind].length);
      titles.forEach((title, i) => expect(title).toMatch(READING_ORDER[kind][i]!));
    });

    it('parses every target as PromQL over metrics that exist or that its own recording rules record', () => {
      const exprs = exprsOf(kind);
      expect(exprs.length).toBeGreaterThanOrEqual(READING_ORDER[kind].length);
      for (const { where, expr } of exprs) {
        const facts = promql(withoutGrafanaVariables(expr));
        expect(facts.errors, where).toEqual([]);
        expect(facts.metrics.length, where).toBeGreaterThan(0);
        expect(facts.metrics.filter((m) => !KNOWN_METRICS.has(m) && !recorded.has(m)), where).toEqual([]);
        expect(facts.rated.filter((m) => !CUMULATIVE_METRICS.has(m)), where).toEqual([]);
      }
    });
  });

  it('fails the metric check on a name nobody exports (the check can fail)', () => {
    const facts = promql('sum(vllm:gpu_cache_usage_perc) / aim:plan_nothing');
    expect(facts.metrics.filter((m) => !KNOWN_METRICS.has(m) && !recorded.has(m))).toEqual(['vllm:gpu_cache_usage_perc', 'aim:plan_nothing']);
  });

  it('compares the cluster with the plan\'s recorded series on every dashboard', () => {
    for (const kind of DASHBOARD_KINDS) {
      const metrics = exprsOf(kind).flatMap(({ expr }) => promql(withoutGrafanaVariables(expr)).metrics);
      expect(metrics.filter((m) => m.startsWith('aim:plan_')).length, kind).toBeGreaterThan(0);
    }
  });

  it('lists the planned models in the model variable, from the plan\'s own series', () => {
    for (const kind of ['serving', 'capacity']) {
      const variable = json[kind].templating.list.find((v: any) => v.name === 'model');
      expect(variable).toMatchObject({ type: 'query', multi: true, includeAll: true, query: 'label_values(aim:plan_model_replicas, model)' });
    }
  });

  it('draws each latency p99 against the SLO the plan records for the same bound', () => {
    const latency = graphsOf('serving').filter((p) => / p99 against SLO$/.test(p.title));
    expect(latency.map((p) => [p.targets[0].expr.match(/vllm:(\w+)_bucket/)[1], p.targets[1].expr.match(/slo="(\w+)"/)[1]])).toEqual([
      ['time_to_first_token_seconds', 'ttftSeconds'],
      ['inter_token_latency_seconds', 'itlSeconds'],
      ['e2e_request_latency_seconds', 'e2eSeconds'],
    ]);
    for (const p of latency) expect(p.targets[1].expr).toMatch(/^aim:plan_slo_seconds\{/);
  });

  it('draws the KV tokens in use (serving) and free (capacity) against the KV capacity the plan records', () => {
    const kv = (kind: string, title: RegExp) => graphsOf(kind).find((p) => title.test(p.title))!.targets.map((t: any) => promql(withoutGrafanaVariables(t.expr)).metrics);
    expect(kv('serving', /^KV cache: tokens in use/)).toEqual([['aim:kv_cache_used_tokens:sum'], ['aim:plan_kv_capacity_tokens']]);
    expect(kv('capacity', /^KV headroom/)).toEqual([['aim:kv_cache_free_tokens:sum', 'aim:plan_kv_capacity_tokens'], ['aim:plan_kv_capacity_tokens']]);
  });

  it('limits the exporter panels to planned nodes', () => {
    for (const { where, expr } of exprsOf('fleet').filter(({ expr }) => expr.includes('gpu_gfx_busy'))) {
      expect(expr, where).toContain('aim:plan_node_profile');
    }
  });

  it('is a pure function of its input', () => {
    expect(JSON.stringify(fleetDashboards(dashboardInput).map((d) => d.dashboard))).toBe(JSON.stringify(built.map((d) => d.dashboard)));
  });
});

describe('dashboardUid', () => {
  it('joins the prefix, the fleet name and the dashboard', () => {
    expect(dashboardUid('prod', 'capacity')).toBe('aim-gpu-sharing-prod-capacity');
  });

  it('shortens long fleet names to 40 characters with a hash that keeps them apart, the dashboard kept', () => {
    const a = dashboardUid('a-very-long-fleet-name-for-the-eu-west-cluster', 'serving');
    const b = dashboardUid('a-very-long-fleet-name-for-the-eu-west-cluster-2', 'serving');
    for (const uid of [a, b]) expect(uid.length).toBeLessThanOrEqual(DASHBOARD_UID_MAX);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^aim-gpu-sharing-a-very[a-z-]*-[0-9a-f]{8}-serving$/);
  });
});
