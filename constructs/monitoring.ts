import { Construct } from 'constructs';
import type { Spec } from '../api/types.ts';
import type { Plan } from '../planner/types.ts';
import { OperatorDashboard, SidecarDashboard } from './dashboard-provisioning.ts';
import { fleetDashboards } from './dashboards.ts';
import { availabilityGroup, observedGroup, partitionGroup, placementGroup } from './monitoring-drift.ts';
import { planRecordingRules } from './monitoring-plan.ts';
import { modelSloGroup, PrometheusRule, saturationGroup } from './monitoring-rules.ts';
import { DeviceMetricsExporterPodMonitor, VllmPodMonitor } from './monitoring-targets.ts';

export const MODEL_HEALTH_RULE_NAME = 'aim-model-health';
export const GPU_PLAN_RULE_NAME = 'aim-gpu-plan';

/** Name of a model's SLO PrometheusRule. */
export function sloRuleName(model: string): string {
  return `${model}-slo`;
}

export interface FleetMonitoringProps {
  readonly spec: Spec;
  readonly plan: Plan;
}

/**
 * Everything that watches the fleet, for the Prometheus Operator and Grafana:
 * - PodMonitors for vLLM (model namespace) and the AMD device metrics exporter (system namespace);
 * - PrometheusRules: per-model latency SLOs, model saturation and availability against the plan
 *   (model namespace); the plan itself as recording rules, the observed cluster in the plan's terms,
 *   partition drift from the plan and unplaced replicas (system namespace);
 * - three dashboards (fleet and partitions, model serving, capacity), as sidecar ConfigMaps or
 *   GrafanaDashboards, in the system namespace (none when the Fleet says `grafana: none`).
 * PodMonitors and PrometheusRules carry the Fleet's `prometheusSelector` labels.
 */
export class FleetMonitoring extends Construct {
  constructor(scope: Construct, id: string, props: FleetMonitoringProps) {
    super(scope, id);
    const { fleet, models } = props.spec;
    const monitoring = fleet.spec.monitoring;
    const selectorLabels = monitoring.prometheusSelector;
    const modelNamespace = fleet.spec.namespace;
    const systemNamespace = fleet.spec.systemNamespace;

    const vllm = new VllmPodMonitor(this, 'VllmPodMonitor', { namespace: modelNamespace, selectorLabels });
    const exporter = new DeviceMetricsExporterPodMonitor(this, 'ExporterPodMonitor', { namespace: systemNamespace, selectorLabels });

    new PrometheusRule(this, 'ModelHealth', {
      name: MODEL_HEALTH_RULE_NAME,
      namespace: modelNamespace,
      selectorLabels,
      groups: [saturationGroup(vllm.job), availabilityGroup()],
    });
    const slos = new Construct(this, 'Slos');
    for (const model of models) {
      const group = modelSloGroup(model, vllm.job);
      if (!group) continue;
      new PrometheusRule(slos, model.metadata.name, { name: sloRuleName(model.metadata.name), namespace: modelNamespace, selectorLabels, groups: [group] });
    }
    new PrometheusRule(this, 'GpuPlan', {
      name: GPU_PLAN_RULE_NAME,
      namespace: systemNamespace,
      selectorLabels,
      groups: [
        { name: 'aim.plan', rules: planRecordingRules(models, props.plan) },
        observedGroup(vllm.job, exporter.job),
        partitionGroup(exporter.job),
        placementGroup(props.plan),
      ],
    });

    if (monitoring.grafana === 'none') return;
    const dashboards = new Construct(this, 'Dashboards');
    for (const { kind, uid, dashboard } of fleetDashboards({ fleetName: fleet.metadata.name, vllmJob: vllm.job, exporterJob: exporter.job })) {
      if (monitoring.grafana === 'sidecar') {
        new SidecarDashboard(dashboards, kind, { name: uid, namespace: systemNamespace, dashboard, sidecarLabel: monitoring.grafanaSidecarLabel });
      } else {
        new OperatorDashboard(dashboards, kind, { name: uid, namespace: systemNamespace, dashboard, instanceSelector: monitoring.grafanaInstanceSelector });
      }
    }
  }
}
