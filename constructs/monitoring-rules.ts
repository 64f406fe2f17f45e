import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { Model, ModelSlo } from '../api/types.ts';
import { MODEL_TARGET_LABEL } from './monitoring-targets.ts';
import { selector, VLLM_METRICS } from './monitoring-metrics.ts';
import type { RecordingRule } from './monitoring-plan.ts';

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** @default - fires on the first evaluation */
  readonly for?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: ReadonlyArray<AlertRule | RecordingRule>;
}

/** Where each alert's runbook section is: `docs/alerts.md#<alert in lower case>`. */
export const RUNBOOK_FILE = 'docs/alerts.md';

/** The `runbook` annotation of `alert`, a path in the project's repository. */
export function runbook(alert: string): string {
  return `${RUNBOOK_FILE}#${alert.toLowerCase()}`;
}

export interface PrometheusRuleProps {
  readonly name: string;
  readonly namespace: string;
  /** Labels the Prometheus Operator selects PrometheusRules by. */
  readonly selectorLabels: Readonly<Record<string, string>>;
  readonly groups: readonly RuleGroup[];
}

/** A Prometheus Operator PrometheusRule: one rule file of alert groups. */
export class PrometheusRule extends Construct {
  constructor(scope: Construct, id: string, props: PrometheusRuleProps) {
    super(scope, id);
    if (props.groups.length === 0) throw new Error(`${this.node.path}: a PrometheusRule needs at least one group`);
    const names = props.groups.map((g) => g.name);
    const repeated = names.filter((name, i) => names.indexOf(name) !== i);
    if (repeated.length) throw new Error(`${this.node.path}: group names must be unique, got ${repeated.join(', ')} twice`);
    new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.selectorLabels } },
      spec: {
        groups: props.groups.map((group) => ({
          name: group.name,
          rules: group.rules.map((rule) =>
            'record' in rule
              ? { record: rule.record, expr: rule.expr, labels: rule.labels && { ...rule.labels } }
              : {
                  alert: rule.alert,
                  expr: rule.expr,
                  for: rule.for,
                  labels: { ...rule.labels },
                  annotations: { ...rule.annotations, runbook: runbook(rule.alert) },
                },
          ),
        })),
      },
    });
  }
}

// ------------------------------------------------------------------------------- latency SLOs

/** The SLO fields of a Model and the vLLM histogram each one bounds at p99. */
export const SLO_HISTOGRAMS = [
  { field: 'ttftSeconds', metric: VLLM_METRICS.timeToFirstToken, alert: 'ModelTimeToFirstTokenSloBreach', what: 'time to first token' },
  { field: 'itlSeconds', metric: VLLM_METRICS.interTokenLatency, alert: 'ModelInterTokenLatencySloBreach', what: 'inter-token latency' },
  { field: 'e2eSeconds', metric: VLLM_METRICS.e2eRequestLatency, alert: 'ModelEndToEndLatencySloBreach', what: 'end-to-end request latency' },
] as const satisfies ReadonlyArray<{ field: keyof ModelSlo; metric: string; alert: string; what: string }>;

/**
 * Multi-window pairs (Google SRE workbook): a breach must hold over the long window to matter and
 * still hold over the short one so the alert resolves soon after recovery. The p99 is compared
 * directly instead of a bucket-ratio burn rate because `histogram_quantile` interpolates inside a
 * bucket: the SLO need not be one of vLLM's bucket bounds, and no `le` string has to match.
 */
export const SLO_WINDOWS = [
  { short: '5m', long: '1h', for: '2m', severity: 'critical' },
  { short: '30m', long: '6h', for: '15m', severity: 'warning' },
] as const;

/** `histogram_quantile(0.99, …)` of one model's histogram over `window`. */
function p99(metric: string, model: string, job: string, window: string): string {
  return `histogram_quantile(0.99, sum by (le) (rate(${selector(`${metric}_bucket`, { job, model_name: model })}[${window}])))`;
}

/**
 * One group per model with an SLO: for each bound it sets, an alert per window pair when the p99
 * exceeds the bound in both windows. `undefined` when the model has no SLO.
 */
export function modelSloGroup(model: Model, job: string): RuleGroup | undefined {
  const name = model.metadata.name;
  const slo = model.spec.slo ?? {};
  const rules: AlertRule[] = [];
  for (const { field, metric, alert, what } of SLO_HISTOGRAMS) {
    const bound = slo[field];
    if (bound === undefined) continue;
    if (!Number.isFinite(bound) || bound <= 0) throw new Error(`model ${name}: spec.slo.${field} must be a positive number of seconds, got ${bound}`);
    for (const window of SLO_WINDOWS) {
      rules.push({
        alert,
        expr: `${p99(metric, name, job, window.short)} > ${bound}\nand\n${p99(metric, name, job, window.long)} > ${bound}`,
        for: window.for,
        labels: { severity: window.severity, [MODEL_TARGET_LABEL]: name, slo: field, window: `${window.short}/${window.long}` },
        annotations: {
          summary: `${name}: p99 ${what} above its SLO of ${bound}s`,
          description: `The p99 ${what} of model ${name} has been above ${bound}s over both the last ${window.short} and the last ${window.long}.`,
        },
      });
    }
  }
  return rules.length ? { name: `aim.slo.${name}`, rules } : undefined;
}


// ----------------------------------------------------------------------------- saturation

/** KV-cache use above which new sequences start to queue or preempt others. */
export const KV_CACHE_PRESSURE = 0.9;

/** KV-cache pressure and preemptions, for every model pod the vLLM PodMonitor scrapes. */
export function saturationGroup(job: string): RuleGroup {
  const percent = Math.round(KV_CACHE_PRESSURE * 100);
  return {
    name: 'aim.model-saturation',
    rules: [
      {
        alert: 'ModelKvCacheNearlyFull',
        expr: `max by (model_name, pod) (${selector(VLLM_METRICS.kvCacheUsage, { job })}) > ${KV_CACHE_PRESSURE}`,
        for: '10m',
        labels: { severity: 'warning' },
        annotations: {
          summary: `{{ $labels.model_name }}: KV cache above ${percent}% in {{ $labels.pod }}`,
          description: `Pod {{ $labels.pod }} of model {{ $labels.model_name }} has used more than ${percent}% of its KV cache for 10 minutes; requests queue or get preempted. Raise the model's concurrency so the planner gives it a larger partition, or add replicas.`,
        },
      },
      {
        alert: 'ModelRequestsPreempted',
        expr: `sum by (model_name, pod) (rate(${selector(VLLM_METRICS.preemptions, { job })}[5m])) > 0`,
        for: '10m',
        labels: { severity: 'warning' },
        annotations: {
          summary: '{{ $labels.model_name }}: vLLM is preempting requests in {{ $labels.pod }}',
          description: 'Pod {{ $labels.pod }} of model {{ $labels.model_name }} has been preempting running requests for 10 minutes: its KV cache cannot hold the sequences it admits.',
        },
      },
    ],
  };
}
