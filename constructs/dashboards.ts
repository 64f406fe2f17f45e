import { createHash } from 'node:crypto';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type { Model } from '../api/types.ts';
import { EXPORTER_LABELS, EXPORTER_METRICS, alternation, selector, VLLM_METRICS } from './monitoring-metrics.ts';
import { KV_CACHE_PRESSURE, SLO_HISTOGRAMS } from './monitoring-rules.ts';
import { MODEL_TARGET_LABEL } from './monitoring-targets.ts';

/** Grafana accepts dashboard uids of at most 40 characters. */
export const DASHBOARD_UID_MAX = 40;
const UID_PREFIX = 'aim-gpu-sharing-';

/** `aim-gpu-sharing-<fleet>`, shortened with a hash of the fleet name when that exceeds 40 characters. */
export function dashboardUid(fleetName: string): string {
  const plain = `${UID_PREFIX}${fleetName}`;
  if (plain.length <= DASHBOARD_UID_MAX) return plain;
  const hash = createHash('sha256').update(fleetName).digest('hex').slice(0, 8);
  return `${plain.slice(0, DASHBOARD_UID_MAX - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

export interface FleetDashboardInput {
  readonly fleetName: string;
  /** The fleet's models; those with an SLO get its bounds drawn on the latency panels. */
  readonly models: readonly Model[];
  /** The planned GPU nodes, whose exporter series the partition panels show. */
  readonly nodes: readonly string[];
  /** `job` of the vLLM PodMonitor's series. */
  readonly vllmJob: string;
  /** `job` of the device metrics exporter PodMonitor's series. */
  readonly exporterJob: string;
}

const DATASOURCE_VARIABLE = 'datasource';
const MODEL_VARIABLE = 'model';
/** Every panel queries the data source the `datasource` variable selects. */
const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: `\${${DATASOURCE_VARIABLE}}` };

/**
 * The fleet's Grafana dashboard (classic JSON model, built with grafana-foundation-sdk):
 * partitions per node from the AMD exporter, then per-model saturation and traffic from vLLM,
 * then p99 latencies with each model's SLO drawn as a threshold line. Panel ids are assigned in
 * order and the SDK lays panels out on the grid, so the JSON is a pure function of the input.
 */
export function fleetDashboard(input: FleetDashboardInput): dashboard.Dashboard {
  if (input.nodes.length === 0) throw new Error('the fleet dashboard needs at least one planned node');
  let nextId = 1;
  const id = (): number => nextId++;
  const gpu = (metric: string) => selector(metric, { job: input.exporterJob, [EXPORTER_LABELS.hostname]: { regex: alternation(input.nodes) } });
  const vllm = (metric: string) => selector(metric, { job: input.vllmJob, model_name: { regex: `$${MODEL_VARIABLE}` } });
  const query = (expr: string, legend: string, refId = 'A') =>
    new prometheus.DataqueryBuilder().expr(expr).legendFormat(legend).range().refId(refId);
  const graph = (title: string, unit: string) =>
    new timeseries.PanelBuilder()
      .id(id())
      .title(title)
      .datasource(DATASOURCE)
      .unit(unit)
      .height(8)
      .span(8)
      .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom))
      .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
  const row = (title: string) => new dashboard.RowBuilder(title).id(id());

  const builder = new dashboard.DashboardBuilder(`AIM GPU sharing: ${input.fleetName}`)
    .uid(dashboardUid(input.fleetName))
    .tags(['aim-gpu-sharing', 'vllm', 'amd-gpu'])
    .readonly()
    .refresh('1m')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    // Grafana reads `annotations.list`; the SDK's default container has none.
    .annotations([])
    .withVariable(new dashboard.DatasourceVariableBuilder(DATASOURCE_VARIABLE).label('Data source').type('prometheus'))
    .withVariable(
      new dashboard.QueryVariableBuilder(MODEL_VARIABLE)
        .label('Model')
        .datasource(DATASOURCE)
        .query(`label_values(${selector(VLLM_METRICS.requestsRunning, { job: input.vllmJob })}, model_name)`)
        .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
        .sort(dashboard.VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*'),
    );

  builder.withRow(row('GPU partitions'));
  builder.withPanel(
    graph('Partition compute busy per node (mean over partitions)', 'percent')
      .min(0)
      .max(100)
      .withTarget(query(`avg by (${EXPORTER_LABELS.hostname}) (${gpu(EXPORTER_METRICS.gfxBusy)})`, `{{${EXPORTER_LABELS.hostname}}}`)),
  );
  builder.withPanel(
    graph('GPU memory used per node', 'percentunit')
      .min(0)
      .max(1)
      .withTarget(
        query(
          `sum by (${EXPORTER_LABELS.hostname}) (${gpu(EXPORTER_METRICS.usedVram)}) / sum by (${EXPORTER_LABELS.hostname}) (${gpu(EXPORTER_METRICS.totalVram)})`,
          `{{${EXPORTER_LABELS.hostname}}}`,
        ),
      ),
  );
  builder.withPanel(
    new stat.PanelBuilder()
      .id(id())
      .title('Partitions per node and mode')
      .datasource(DATASOURCE)
      .height(8)
      .span(8)
      .graphMode(common.BigValueGraphMode.None)
      .colorMode(common.BigValueColorMode.None)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
      .withTarget(
        query(
          `count by (${EXPORTER_LABELS.hostname}, ${EXPORTER_LABELS.computePartition}, ${EXPORTER_LABELS.memoryPartition}) (${gpu(EXPORTER_METRICS.totalVram)})`,
          `{{${EXPORTER_LABELS.hostname}}} {{${EXPORTER_LABELS.computePartition}}}-{{${EXPORTER_LABELS.memoryPartition}}}`,
        ).instant(),
      ),
  );

  builder.withRow(row('Models'));
  builder.withPanel(
    graph('KV cache usage (busiest pod)', 'percentunit')
      .min(0)
      .max(1)
      .thresholds(thresholdSteps(KV_CACHE_PRESSURE))
      .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Line))
      .withTarget(query(`max by (model_name) (${vllm(VLLM_METRICS.kvCacheUsage)})`, '{{model_name}}')),
  );
  builder.withPanel(graph('Requests running', 'short').withTarget(query(`sum by (model_name) (${vllm(VLLM_METRICS.requestsRunning)})`, '{{model_name}}')));
  builder.withPanel(graph('Requests waiting', 'short').withTarget(query(`sum by (model_name) (${vllm(VLLM_METRICS.requestsWaiting)})`, '{{model_name}}')));
  builder.withPanel(
    graph('Serving pods', 'short')
      .span(12)
      .withTarget(
        query(
          `count by (${MODEL_TARGET_LABEL}) (${selector('up', { job: input.vllmJob, [MODEL_TARGET_LABEL]: { regex: `$${MODEL_VARIABLE}` } })} == 1)`,
          `{{${MODEL_TARGET_LABEL}}}`,
        ),
      ),
  );
  builder.withPanel(
    graph('Generated tokens per second', 'short')
      .span(12)
      .withTarget(query(`sum by (model_name) (rate(${vllm(VLLM_METRICS.generationTokens)}[$__rate_interval]))`, '{{model_name}}')),
  );

  builder.withRow(row('Latency p99 (lines: SLOs)'));
  for (const { field, metric, what } of SLO_HISTOGRAMS) {
    const panel = graph(`p99 ${what}`, 's').withTarget(
      query(`histogram_quantile(0.99, sum by (le, model_name) (rate(${vllm(`${metric}_bucket`)}[$__rate_interval])))`, '{{model_name}}'),
    );
    for (const model of input.models) {
      const bound = model.spec.slo?.[field];
      if (bound === undefined) continue;
      panel.overrideByName(model.metadata.name, [
        { id: 'thresholds', value: thresholdSteps(bound).build() },
        { id: 'custom.thresholdsStyle', value: { mode: common.GraphThresholdsStyleMode.Line } },
      ]);
    }
    builder.withPanel(panel);
  }
  return builder.build();
}

/** Green below `limit`, red from it. */
function thresholdSteps(limit: number): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
    { value: null, color: 'green' },
    { value: limit, color: 'red' },
  ]);
}
