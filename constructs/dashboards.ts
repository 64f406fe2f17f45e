import { createHash } from 'node:crypto';
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { PARTITION_STATE_LABEL, PARTITIONING_TAINT_KEY, PROFILE_LABEL } from './labels.ts';
import { kubeStateLabel } from './monitoring-drift.ts';
import {
  AMD_RESOURCE_REGEX,
  EXPORTER_LABELS,
  EXPORTER_METRICS,
  KUBE_STATE_METRICS,
  OBSERVED_METRICS,
  PLAN_METRICS,
  selector,
  VLLM_METRICS,
} from './monitoring-metrics.ts';
import { KV_CACHE_PRESSURE, SLO_HISTOGRAMS } from './monitoring-rules.ts';

/** Grafana accepts dashboard uids of at most 40 characters. */
export const DASHBOARD_UID_MAX = 40;
const UID_PREFIX = 'aim-gpu-sharing-';

/** The three dashboards, in the order users read them. */
export const DASHBOARD_KINDS = ['fleet', 'serving', 'capacity'] as const;
export type DashboardKind = (typeof DASHBOARD_KINDS)[number];

const TITLES: Readonly<Record<DashboardKind, string>> = {
  fleet: 'Fleet and partitions',
  serving: 'Model serving',
  capacity: 'Capacity',
};

/**
 * `aim-gpu-sharing-<fleet>-<kind>`, shortened with a hash of the fleet name when that exceeds 40
 * characters; stable for a fleet, so bookmarks and links survive every synth.
 */
export function dashboardUid(fleetName: string, kind: DashboardKind): string {
  const plain = `${UID_PREFIX}${fleetName}-${kind}`;
  if (plain.length <= DASHBOARD_UID_MAX) return plain;
  const hash = createHash('sha256').update(fleetName).digest('hex').slice(0, 8);
  const room = DASHBOARD_UID_MAX - hash.length - kind.length - 2;
  return `${`${UID_PREFIX}${fleetName}`.slice(0, room).replace(/-+$/, '')}-${hash}-${kind}`;
}

export interface DashboardInput {
  readonly fleetName: string;
  /** `job` of the vLLM PodMonitor's series. */
  readonly vllmJob: string;
  /** `job` of the device metrics exporter PodMonitor's series. */
  readonly exporterJob: string;
}

const DATASOURCE_VARIABLE = 'datasource';
const MODEL_VARIABLE = 'model';
/** Every panel queries the data source the `datasource` variable selects. */
const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: `\${${DATASOURCE_VARIABLE}}` };
const MIB = 1024 * 1024;

type Query = prometheus.DataqueryBuilder;
const query = (expr: string, legend: string, refId = 'A'): Query => new prometheus.DataqueryBuilder().expr(expr).legendFormat(legend).range().refId(refId);
/** A query read once, at the end of the range, as a table. */
const instant = (expr: string, refId = 'A'): Query =>
  new prometheus.DataqueryBuilder().expr(expr).legendFormat('__auto').instant().format(prometheus.PromQueryFormat.Table).refId(refId);

/** Builds one dashboard: ids are assigned in order, and the SDK lays panels out left to right, top to bottom. */
/** Grid rows of every panel: the layout tests and the pictures rely on one height. */
const PANEL_HEIGHT = 8;

/** The setters the SDK's panel builders (timeseries, table, stat, bargauge) share. */
type PanelFrame = timeseries.PanelBuilder | table.PanelBuilder | stat.PanelBuilder | bargauge.PanelBuilder;

class Layout {
  private nextId = 1;
  readonly builder: dashboard.DashboardBuilder;

  constructor(input: DashboardInput, kind: DashboardKind, withModels: boolean) {
    this.builder = new dashboard.DashboardBuilder(`AIM GPU sharing: ${TITLES[kind]} (${input.fleetName})`)
      .uid(dashboardUid(input.fleetName, kind))
      .tags(['aim-gpu-sharing', kind])
      .readonly()
      .refresh('1m')
      .time({ from: 'now-6h', to: 'now' })
      .timezone('browser')
      // Grafana reads `annotations.list`; the SDK's default container has none.
      .annotations([])
      .withVariable(new dashboard.DatasourceVariableBuilder(DATASOURCE_VARIABLE).label('Data source').type('prometheus'));
    if (withModels) {
      // The planned models, from the plan's own series: a model that serves nothing is still listed.
      this.builder.withVariable(
        new dashboard.QueryVariableBuilder(MODEL_VARIABLE)
          .label('Model')
          .datasource(DATASOURCE)
          .query(`label_values(${PLAN_METRICS.modelReplicas}, model)`)
          .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
          .sort(dashboard.VariableSort.AlphabeticalAsc)
          .multi(true)
          .includeAll(true)
          .allValue('.*'),
      );
    }
  }

  row(title: string): this {
    this.builder.withRow(new dashboard.RowBuilder(title).id(this.nextId++));
    return this;
  }

  graph(title: string, unit: string, span: number, targets: readonly Query[], configure?: (panel: timeseries.PanelBuilder) => void): this {
    const panel = this.framed(new timeseries.PanelBuilder(), title, span, unit)
      .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom))
      .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
    return this.add(panel, targets, configure);
  }

  table(title: string, span: number, targets: readonly Query[]): this {
    const panel = this.framed(new table.PanelBuilder(), title, span)
      // One row per label set, the queries' values side by side (Grafana's "Merge" transformation).
      .withTransformation({ id: 'merge', options: {} })
      .withTransformation({ id: 'organize', options: { excludeByName: { Time: true } } });
    return this.add(panel, targets);
  }

  stat(title: string, unit: string, span: number, targets: readonly Query[]): this {
    const panel = this.framed(new stat.PanelBuilder(), title, span, unit)
      .graphMode(common.BigValueGraphMode.Area)
      .colorMode(common.BigValueColorMode.None)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false));
    return this.add(panel, targets);
  }

  bars(title: string, unit: string, span: number, targets: readonly Query[]): this {
    const panel = this.framed(new bargauge.PanelBuilder(), title, span, unit)
      .min(0)
      .orientation(common.VizOrientation.Horizontal)
      .displayMode(common.BarGaugeDisplayMode.Basic)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false));
    return this.add(panel, targets);
  }

  /** What every panel shares: the next id, its title, the data source variable, the grid cell. */
  private framed<P extends PanelFrame>(panel: P, title: string, span: number, unit?: string): P {
    panel.id(this.nextId++).title(title).datasource(DATASOURCE);
    if (unit !== undefined) panel.unit(unit);
    panel.height(PANEL_HEIGHT).span(span);
    return panel;
  }

  private add<P extends PanelFrame>(panel: P, targets: readonly Query[], configure?: (panel: P) => void): this {
    for (const target of targets) panel.withTarget(target);
    configure?.(panel);
    this.builder.withPanel(panel);
    return this;
  }

  build(): dashboard.Dashboard {
    return this.builder.build();
  }
}

/** Green below `limit`, red from it, drawn as a line. */
function thresholdLine(panel: timeseries.PanelBuilder, limit: number): void {
  panel
    .thresholds(
      new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
        { value: null, color: 'green' },
        { value: limit, color: 'red' },
      ]),
    )
    .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Line));
}

/** Series whose legend starts with "plan" are drawn dashed: the plan next to what the cluster does. */
function dashedPlan(panel: timeseries.PanelBuilder): void {
  panel.overrideByRegexp('^plan.*', [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }]);
}

/**
 * Fleet and partitions: per node, the plan against what the cluster reports (profile label,
 * partitioner state: its label, the cordon and the mode-change taint; allocatable partitions;
 * partitions per mode from the exporter), then partition utilisation and the memory vLLM uses
 * against what the plan lets it take.
 */
export function fleetDashboard(input: DashboardInput): dashboard.Dashboard {
  const exporter = (metric: string) => selector(metric, { job: input.exporterJob });
  const planned = `on (${EXPORTER_LABELS.hostname}) ${PLAN_METRICS.nodeProfile}`;
  const profile = kubeStateLabel(PROFILE_LABEL);
  const state = kubeStateLabel(PARTITION_STATE_LABEL);
  const amd = selector(KUBE_STATE_METRICS.nodeAllocatable, { resource: { regex: AMD_RESOURCE_REGEX } });
  // vLLM's `up` carries the pod, model and node of each serving pod; the exporter names the pod using each partition.
  const podModel = `max by (pod, model, node) (${selector('up', { job: input.vllmJob })})`;
  return new Layout(input, 'fleet', false)
    .row('Plan against the cluster, per node')
    .table('Profile per node: planned and labelled', 12, [
      instant(`max by (node, pool, profile) (${PLAN_METRICS.nodeProfile})`, 'A'),
      instant(`max by (node, ${profile}, ${state}) (${selector(KUBE_STATE_METRICS.nodeLabels, { [profile]: { regex: '.+' } })})`, 'B'),
    ])
    .graph('Allocatable partitions against planned, per node', 'short', 12, [
      query(`sum by (node) (${amd})`, 'allocatable {{node}}', 'A'),
      query(`sum by (node) (${PLAN_METRICS.partitions})`, 'plan {{node}}', 'B'),
      query(`${PLAN_METRICS.partitionsUsed}`, 'plan held {{node}}', 'C'),
    ], dashedPlan)
    .table('Partitioner state per node', 12, [
      instant(`max by (node, ${state}) (${selector(KUBE_STATE_METRICS.nodeLabels, { [state]: { regex: '.+' } })}) and on (node) ${PLAN_METRICS.nodeProfile}`, 'A'),
      instant(`max by (node) (${KUBE_STATE_METRICS.nodeUnschedulable}) and on (node) ${PLAN_METRICS.nodeProfile}`, 'B'),
      instant(`max by (node, effect) (${selector(KUBE_STATE_METRICS.nodeTaint, { key: PARTITIONING_TAINT_KEY })})`, 'C'),
    ])
    .graph('Partitions per mode: exporter against plan', 'short', 12, [
      query(OBSERVED_METRICS.partitions, '{{hostname}} {{gpu_compute_partition_type}}-{{gpu_memory_partition_type}}', 'A'),
      query(PLAN_METRICS.partitions, 'plan {{hostname}} {{gpu_compute_partition_type}}-{{gpu_memory_partition_type}}', 'B'),
    ], dashedPlan)
    .row('Use')
    .graph('Partition utilisation (compute busy, mean over partitions)', 'percent', 12, [
      query(`avg by (${EXPORTER_LABELS.hostname}) (${exporter(EXPORTER_METRICS.gfxBusy)} and ${planned})`, '{{hostname}}'),
    ], (panel) => panel.min(0).max(100))
    .graph('Memory used against planned, per model and node', 'bytes', 12, [
      // The exporter reports VRAM in MB (MiB, as amd-smi does); each partition names the pod using it.
      query(`sum by (model, node) (${exporter(EXPORTER_METRICS.usedVram)} * ${MIB} * on (pod) group_left (model, node) ${podModel})`, '{{model}} on {{node}}', 'A'),
      query(PLAN_METRICS.memoryBytes, 'plan {{model}} on {{node}}', 'B'),
    ], dashedPlan)
    .build();
}

/**
 * Model serving, per model: throughput, p99 TTFT, inter-token and end-to-end latency against the
 * SLO lines the plan records, the KV-cache tokens in use against the capacity the plan gives the
 * model and the busiest pod's share against the pressure line, queue length, preemptions.
 */
export function servingDashboard(input: DashboardInput): dashboard.Dashboard {
  const planned = { regex: `$${MODEL_VARIABLE}` };
  const vllm = (metric: string) => selector(metric, { job: input.vllmJob, model: planned });
  const layout = new Layout(input, 'serving', true)
    .row('Throughput')
    .graph('Throughput: tokens per second', 'short', 24, [
      query(`sum by (model) (rate(${vllm(VLLM_METRICS.generationTokens)}[$__rate_interval]))`, '{{model}} generated', 'A'),
      query(`sum by (model) (rate(${vllm(VLLM_METRICS.promptTokens)}[$__rate_interval]))`, '{{model}} prompt', 'B'),
    ])
    .row('Latency p99 (dashed: SLO)');
  for (const { field, metric, what } of SLO_HISTOGRAMS) {
    layout.graph(`${what[0]!.toUpperCase()}${what.slice(1)} p99 against SLO`, 's', 8, [
      query(`histogram_quantile(0.99, sum by (le, model) (rate(${vllm(`${metric}_bucket`)}[$__rate_interval])))`, '{{model}}', 'A'),
      query(selector(PLAN_METRICS.sloSeconds, { model: { regex: `$${MODEL_VARIABLE}` }, slo: field }), 'plan SLO {{model}}', 'B'),
    ], dashedPlan);
  }
  return layout
    .row('Saturation')
    .graph('KV cache: tokens in use against the plan\'s capacity', 'short', 12, [
      query(`sum by (model) (${selector(OBSERVED_METRICS.kvUsedTokens, { model: planned })})`, '{{model}} in use', 'A'),
      query(`sum by (model) (${selector(PLAN_METRICS.kvCapacityTokens, { model: planned })})`, 'plan capacity {{model}}', 'B'),
    ], (panel) => {
      panel.min(0);
      dashedPlan(panel);
    })
    .graph('KV cache usage (busiest pod)', 'percentunit', 12, [query(`max by (model) (${vllm(VLLM_METRICS.kvCacheUsage)})`, '{{model}}')], (panel) => {
      panel.min(0).max(1);
      thresholdLine(panel, KV_CACHE_PRESSURE);
    })
    .graph('Queue length: requests waiting', 'short', 12, [
      query(`sum by (model) (${vllm(VLLM_METRICS.requestsWaiting)})`, '{{model}} waiting', 'A'),
      query(`sum by (model) (${vllm(VLLM_METRICS.requestsRunning)})`, '{{model}} running', 'B'),
    ])
    .graph('Preemptions per second', 'short', 12, [query(`sum by (model) (rate(${vllm(VLLM_METRICS.preemptions)}[$__rate_interval]))`, '{{model}}')])
    .build();
}

/**
 * Capacity: GPUs the plan uses against its lower bound, KV-cache headroom in tokens (free in the
 * serving pods, against the plan's capacity), replicas the plan could
 * not place, free partitions per pool and profile, and each model's replicas per node (spread).
 */
export function capacityDashboard(input: DashboardInput): dashboard.Dashboard {
  const model = { regex: `$${MODEL_VARIABLE}` };
  const capacity = `sum by (model) (${selector(PLAN_METRICS.kvCapacityTokens, { model })})`;
  return new Layout(input, 'capacity', true)
    .row('GPUs and KV cache')
    .stat('GPUs used against lower bound', 'short', 12, [
      query(PLAN_METRICS.gpusUsed, 'used', 'A'),
      query(PLAN_METRICS.gpusLowerBound, 'lower bound', 'B'),
      query(PLAN_METRICS.gpus, 'in the fleet', 'C'),
    ])
    // A model with no serving pod has no free KV tokens, whatever the plan gives it.
    .graph('KV headroom: free KV tokens per model against the plan\'s capacity', 'short', 12, [
      query(`sum by (model) (${selector(OBSERVED_METRICS.kvFreeTokens, { model })})\nor\n0 * ${capacity}`, '{{model}} free', 'A'),
      query(capacity, 'plan capacity {{model}}', 'B'),
    ], (panel) => {
      panel.min(0);
      dashedPlan(panel);
    })
    .row('Placement')
    .bars('Unschedulable replicas per model', 'short', 12, [query(selector(PLAN_METRICS.unschedulable, { model }), '{{model}}')])
    .bars('Free partitions per pool and profile', 'short', 12, [
      query(
        `sum by (pool, ${EXPORTER_LABELS.computePartition}, ${EXPORTER_LABELS.memoryPartition}) (${PLAN_METRICS.partitionsFree})`,
        '{{pool}} {{gpu_compute_partition_type}}-{{gpu_memory_partition_type}}',
      ),
    ])
    .table('Replicas per node per model: planned and serving', 24, [
      instant(selector(PLAN_METRICS.replicas, { model }), 'A'),
      instant(selector(OBSERVED_METRICS.servingPods, { model }), 'B'),
    ])
    .build();
}

const BUILDERS: Readonly<Record<DashboardKind, (input: DashboardInput) => dashboard.Dashboard>> = {
  fleet: fleetDashboard,
  serving: servingDashboard,
  capacity: capacityDashboard,
};

/** The fleet's dashboards in reading order, each with its uid. */
export function fleetDashboards(input: DashboardInput): Array<{ kind: DashboardKind; uid: string; dashboard: dashboard.Dashboard }> {
  return DASHBOARD_KINDS.map((kind) => ({ kind, uid: dashboardUid(input.fleetName, kind), dashboard: BUILDERS[kind](input) }));
}
