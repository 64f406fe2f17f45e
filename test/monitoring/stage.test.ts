import { Testing, Yaml } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { OperatorDashboard, SidecarDashboard } from '../../constructs/dashboard-provisioning.ts';
import { BOOTSTRAP_CHART_ID, STAGES } from '../../constructs/fleet.ts';
import { FluxSync } from '../../constructs/flux-sync.ts';
import { MODEL_LABEL } from '../../constructs/labels.ts';
import { PrometheusRule } from '../../constructs/monitoring-rules.ts';
import { DeviceMetricsExporterPodMonitor } from '../../constructs/monitoring-targets.ts';
import { SERVING_PORT_NAME } from '../../constructs/serving-runtime.ts';
import { SYNC_WAVE_ANNOTATION } from '../../constructs/sync-wave.ts';
import { type K8sObject, synthFleet } from '../constructs/fixtures.ts';
import { monitoredInput, monitoringObjects } from './fixtures.ts';

const objects = monitoringObjects(monitoredInput())!;
const kindAndName = (list: readonly K8sObject[]) => list.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);

describe('monitoring stage', () => {
  it('adds a monitoring chart in the wave right after the namespaces, before serving (alerts are up when models are not)', () => {
    const charts = synthFleet(monitoredInput());
    expect([...charts.keys()]).toEqual([STAGES.namespaces.id, STAGES.nodeSetup.id, STAGES.serving.id, STAGES.monitoring.id, BOOTSTRAP_CHART_ID]);
    const waves = (id: string) => charts.get(id)!.map((o) => Number(o.metadata.annotations?.[SYNC_WAVE_ANNOTATION]));
    for (const wave of waves(STAGES.monitoring.id)) {
      expect(wave).toBe(Math.max(...waves(STAGES.namespaces.id)) + 1);
      expect(wave).toBeLessThan(Math.min(...waves(STAGES.serving.id)));
    }
  });

  it('makes the monitoring Kustomization depend on the namespaces alone, not on node setup or serving', () => {
    const kustomizations = synthFleet(monitoredInput()).get(BOOTSTRAP_CHART_ID)!.filter((o) => o.kind === 'Kustomization');
    expect(kustomizations.at(-1)!.spec).toMatchObject({ path: `./dist/${STAGES.monitoring.id}`, dependsOn: [{ name: `prod-${STAGES.namespaces.id}` }] });
  });

  it('emits no monitoring chart and no monitoring Kustomization when monitoring is disabled', () => {
    const charts = synthFleet(monitoredInput({ enabled: false }));
    expect(charts.has(STAGES.monitoring.id)).toBe(false);
    const paths = charts.get(BOOTSTRAP_CHART_ID)!.filter((o) => o.kind === 'Kustomization').map((k) => k.spec.path);
    expect(paths).not.toContain(`./dist/${STAGES.monitoring.id}`);
  });

  it('emits the PodMonitors, rules and dashboard in the model and system namespaces', () => {
    expect(kindAndName(objects)).toEqual([
      'PodMonitor/aim-models/aim-vllm',
      'PodMonitor/aim-system/aim-gpu-metrics-exporter',
      'PrometheusRule/aim-models/aim-model-health',
      'PrometheusRule/aim-models/llama-8b-slo',
      'PrometheusRule/aim-models/qwen-32b-slo',
      'PrometheusRule/aim-system/aim-gpu-plan',
      'ConfigMap/aim-system/aim-gpu-sharing-prod-fleet',
      'ConfigMap/aim-system/aim-gpu-sharing-prod-serving',
      'ConfigMap/aim-system/aim-gpu-sharing-prod-capacity',
    ]);
  });

  it('labels every PodMonitor and PrometheusRule with the Fleet\'s prometheusSelector', () => {
    const custom = monitoringObjects(monitoredInput({ prometheusSelector: { prometheus: 'gpu-fleet', team: 'ml' } }))!;
    const selected = custom.filter((o) => o.kind === 'PodMonitor' || o.kind === 'PrometheusRule');
    expect(selected).toHaveLength(6);
    for (const o of selected) expect(o.metadata.labels).toMatchObject({ prometheus: 'gpu-fleet', team: 'ml' });
    for (const o of selected) expect(o.metadata.labels).not.toHaveProperty('release');
  });

  it('scrapes every model pod on the runtime\'s named port, copying the model label', () => {
    const vllm = objects.find((o) => o.metadata.name === 'aim-vllm')!;
    expect(vllm.spec.selector).toEqual({ matchExpressions: [{ key: MODEL_LABEL, operator: 'Exists' }] });
    expect(vllm.spec.namespaceSelector).toEqual({ matchNames: ['aim-models'] });
    const [endpoint] = vllm.spec.podMetricsEndpoints;
    expect(endpoint).toMatchObject({ port: SERVING_PORT_NAME, path: '/metrics' });
    expect(endpoint.relabelings).toContainEqual({ action: 'replace', sourceLabels: ['__meta_kubernetes_pod_label_gpusharing_aim_model'], targetLabel: 'model' });

    const serving = synthFleet(monitoredInput()).get(STAGES.serving.id)!;
    const runtime = serving.find((o) => o.kind === 'ServingRuntime')!;
    expect(runtime.spec.containers[0].ports.map((p: any) => p.name)).toContain(endpoint.port);
    for (const isvc of serving.filter((o) => o.kind === 'InferenceService')) expect(isvc.metadata.labels).toHaveProperty(MODEL_LABEL);
  });

  it('scrapes the AMD device metrics exporter the GPU Operator runs in kube-amd-gpu', () => {
    const exporter = objects.find((o) => o.metadata.name === 'aim-gpu-metrics-exporter')!;
    expect(exporter.spec).toEqual({
      selector: { matchLabels: { 'app.kubernetes.io/name': 'metrics-exporter' } },
      namespaceSelector: { matchNames: ['kube-amd-gpu'] },
      podMetricsEndpoints: [{ port: 'exporter-port', path: '/metrics', honorLabels: true }],
    });
  });
});

describe('dashboard provisioning', () => {
  const UIDS = ['aim-gpu-sharing-prod-fleet', 'aim-gpu-sharing-prod-serving', 'aim-gpu-sharing-prod-capacity'];

  it('ships each dashboard as a ConfigMap with the sidecar label and a .json key named by its uid', () => {
    const custom = monitoringObjects(monitoredInput({ grafana: 'sidecar', grafanaSidecarLabel: { grafana_dashboard: 'gpu' } }))!;
    const configMaps = custom.filter((o) => o.kind === 'ConfigMap');
    expect(configMaps.map((c) => c.metadata.name)).toEqual(UIDS);
    for (const configMap of configMaps) {
      expect(configMap.metadata.labels).toMatchObject({ grafana_dashboard: 'gpu' });
      expect(Object.keys(configMap.data)).toEqual([`${configMap.metadata.name}.json`]);
      expect(JSON.parse(configMap.data[`${configMap.metadata.name}.json`]).uid).toBe(configMap.metadata.name);
      expect(Buffer.byteLength(Yaml.stringify(configMap))).toBeLessThan(262144);
    }
    expect(custom.filter((o) => o.kind === 'GrafanaDashboard')).toEqual([]);
  });

  it('ships each dashboard as a GrafanaDashboard selecting the Fleet\'s Grafana instances in operator mode', () => {
    const custom = monitoringObjects(monitoredInput({ grafana: 'operator', grafanaInstanceSelector: { dashboards: 'platform' } }))!;
    const crs = custom.filter((o) => o.kind === 'GrafanaDashboard');
    expect(crs.map((cr) => cr.metadata.name)).toEqual(UIDS);
    for (const cr of crs) {
      expect(cr.apiVersion).toBe('grafana.integreatly.org/v1beta1');
      expect(cr.metadata.namespace).toBe('aim-system');
      expect(cr.spec.instanceSelector).toEqual({ matchLabels: { dashboards: 'platform' } });
      expect(cr.spec.allowCrossNamespaceImport).toBe(true);
      expect(JSON.parse(cr.spec.json).uid).toBe(cr.metadata.name);
    }
    expect(custom.filter((o) => o.kind === 'ConfigMap')).toEqual([]);
  });

  it('ships no dashboard when the Fleet provisions Grafana itself', () => {
    const custom = monitoringObjects(monitoredInput({ grafana: 'none' }))!;
    expect(custom.filter((o) => o.kind === 'ConfigMap' || o.kind === 'GrafanaDashboard')).toEqual([]);
    expect(custom.filter((o) => o.kind === 'PrometheusRule')).toHaveLength(4);
  });
});

describe('monitoring construct errors', () => {
  it('fails when the exporter selector is empty', () => {
    expect(() => new DeviceMetricsExporterPodMonitor(Testing.chart(), 'Exporter', { namespace: 'a', selectorLabels: {}, exporterSelector: {} })).toThrow(
      'test/Exporter: exporterSelector must name at least one label, an empty selector matches every pod',
    );
  });

  it('fails when the sidecar label or the Grafana instance selector is empty', () => {
    const dashboard = { uid: 'x' };
    expect(() => new SidecarDashboard(Testing.chart(), 'Sidecar', { name: 'd', namespace: 'a', dashboard, sidecarLabel: {} })).toThrow(
      'test/Sidecar: sidecarLabel must name the label the Grafana sidecar watches',
    );
    expect(() => new OperatorDashboard(Testing.chart(), 'Operator', { name: 'd', namespace: 'a', dashboard, instanceSelector: {} })).toThrow(
      'test/Operator: instanceSelector must name at least one label of the target Grafana instances',
    );
  });

  it('fails when a dashboard outgrows a ConfigMap', () => {
    const dashboard = { uid: 'x', description: 'x'.repeat(1024 * 1024) };
    expect(() => new SidecarDashboard(Testing.chart(), 'Sidecar', { name: 'd', namespace: 'a', dashboard, sidecarLabel: { a: '1' } })).toThrow(
      /^test\/Sidecar: the dashboard JSON is \d+ bytes, more than a ConfigMap holds \(1048576\)$/,
    );
  });

  it('fails when a PrometheusRule has no group or repeats a group name', () => {
    expect(() => new PrometheusRule(Testing.chart(), 'Rule', { name: 'r', namespace: 'a', selectorLabels: {}, groups: [] })).toThrow(
      'test/Rule: a PrometheusRule needs at least one group',
    );
    const group = { name: 'g', rules: [] };
    expect(() => new PrometheusRule(Testing.chart(), 'Rule', { name: 'r', namespace: 'a', selectorLabels: {}, groups: [group, group] })).toThrow(
      'test/Rule: group names must be unique, got g twice',
    );
  });

  it('fails synth when a model\'s SLO bound is not positive', () => {
    const input = monitoredInput();
    const [first, ...rest] = input.spec.models;
    const broken = { ...input, spec: { ...input.spec, models: [{ ...first!, spec: { ...first!.spec, slo: { itlSeconds: -1 } } }, ...rest] } };
    expect(() => synthFleet(broken)).toThrow('model llama-70b: spec.slo.itlSeconds must be a positive number of seconds, got -1');
  });
});

describe('monitoring output', () => {
  it('matches the reviewed YAML of the monitored fixture fleet', async () => {
    await expect(Yaml.stringify(...objects)).toMatchFileSnapshot('./__snapshots__/monitoring.yaml');
  });

  it('is deterministic', () => {
    expect(Yaml.stringify(...monitoringObjects(monitoredInput())!)).toBe(Yaml.stringify(...objects));
  });
});

describe('Flux stage order', () => {
  it('refuses a stage that waits for a later or unknown stage', () => {
    const props = { name: 'p', namespace: 'flux-system', interval: '10m', repoURL: 'https://x/y.git', revision: 'main', path: 'dist' };
    expect(() => new FluxSync(Testing.chart(), 'Flux', { ...props, stages: [{ id: 'a', after: 'b' }, { id: 'b' }] })).toThrow(
      'test/Flux: stage a waits for b, which is not an earlier stage',
    );
  });
});
