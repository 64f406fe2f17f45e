import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { MODEL_LABEL } from './labels.ts';
import { SERVING_PORT_NAME } from './serving-runtime.ts';

export const METRICS_PATH = '/metrics';
export const VLLM_POD_MONITOR_NAME = 'aim-vllm';
export const EXPORTER_POD_MONITOR_NAME = 'aim-gpu-metrics-exporter';

/** Target labels the vLLM PodMonitor adds to every series it scrapes (`up` included). */
export const MODEL_TARGET_LABEL = 'model';
export const NODE_TARGET_LABEL = 'node';

/**
 * Where the AMD GPU Operator runs the Device Metrics Exporter: the operator's default namespace,
 * the one node setup also assumes for the device plugin.
 */
export const DEFAULT_EXPORTER_NAMESPACE = 'kube-amd-gpu';
/**
 * The label the GPU Operator puts on every exporter pod, whatever its DeviceConfig is called
 * (ROCm/gpu-operator `internal/metricsexporter`: `app.kubernetes.io/name: metrics-exporter` plus
 * `daemonset-name: <DeviceConfig>`).
 */
export const DEFAULT_EXPORTER_SELECTOR: Readonly<Record<string, string>> = { 'app.kubernetes.io/name': 'metrics-exporter' };
/**
 * The exporter container's port name; its number is DeviceConfig `metricsExporter.port`
 * (default 5000). With `rbacConfig.enable` the port is kube-rbac-proxy's and needs TLS and a
 * token, which this PodMonitor does not configure.
 */
export const DEFAULT_EXPORTER_PORT = 'exporter-port';

/** The `job` label Prometheus Operator gives a PodMonitor's targets when it sets no `jobLabel`. */
export function podMonitorJob(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Prometheus's service-discovery name for a pod label (every character outside `[a-zA-Z0-9_]` becomes `_`). */
function podLabelMeta(label: string): string {
  return `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

export interface VllmPodMonitorProps {
  /** Namespace of the model pods; the PodMonitor lives there too. */
  readonly namespace: string;
  /** Labels the Prometheus Operator selects PodMonitors by (e.g. `release: kube-prometheus-stack`). */
  readonly selectorLabels: Readonly<Record<string, string>>;
}

/**
 * Scrapes vLLM's `/metrics` (same port as its OpenAI API) on every model pod: pods are selected by
 * the presence of the model label, so each new model is scraped without a new object. The model
 * and node names are copied onto every series, `up` included, which is how the availability rules
 * count a model's serving pods.
 */
export class VllmPodMonitor extends Construct {
  public readonly name = VLLM_POD_MONITOR_NAME;
  /** The `job` label of the scraped series. */
  public readonly job: string;

  constructor(scope: Construct, id: string, props: VllmPodMonitorProps) {
    super(scope, id);
    this.job = podMonitorJob(props.namespace, this.name);
    new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: { name: this.name, namespace: props.namespace, labels: { ...props.selectorLabels } },
      spec: {
        selector: { matchExpressions: [{ key: MODEL_LABEL, operator: 'Exists' }] },
        namespaceSelector: { matchNames: [props.namespace] },
        podMetricsEndpoints: [
          {
            port: SERVING_PORT_NAME,
            path: METRICS_PATH,
            relabelings: [
              { action: 'replace', sourceLabels: [podLabelMeta(MODEL_LABEL)], targetLabel: MODEL_TARGET_LABEL },
              { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: NODE_TARGET_LABEL },
            ],
          },
        ],
      },
    });
  }
}

export interface DeviceMetricsExporterPodMonitorProps {
  /** Namespace the PodMonitor object lives in (the fleet's system namespace). */
  readonly namespace: string;
  /** Labels the Prometheus Operator selects PodMonitors by. */
  readonly selectorLabels: Readonly<Record<string, string>>;
  /**
   * Namespace of the exporter pods.
   * @default DEFAULT_EXPORTER_NAMESPACE (`kube-amd-gpu`)
   */
  readonly exporterNamespace?: string;
  /**
   * Labels selecting the exporter pods.
   * @default DEFAULT_EXPORTER_SELECTOR (`app.kubernetes.io/name: metrics-exporter`)
   */
  readonly exporterSelector?: Readonly<Record<string, string>>;
  /**
   * Name of the exporter's container port.
   * @default DEFAULT_EXPORTER_PORT (`exporter-port`)
   */
  readonly exporterPort?: string;
}

/**
 * Scrapes the AMD Device Metrics Exporter the GPU Operator runs on each GPU node. The partition
 * rules select on this PodMonitor's `job`, so a second scrape of the same exporter (the operator's
 * own ServiceMonitor, if enabled) does not double their counts. `honorLabels` keeps the exporter's
 * `pod`/`namespace`/`container` labels, which name the workload using each partition, instead of
 * renaming them to `exported_*` under the exporter pod's own.
 */
export class DeviceMetricsExporterPodMonitor extends Construct {
  public readonly name = EXPORTER_POD_MONITOR_NAME;
  /** The `job` label of the scraped series. */
  public readonly job: string;

  constructor(scope: Construct, id: string, props: DeviceMetricsExporterPodMonitorProps) {
    super(scope, id);
    const exporterSelector = props.exporterSelector ?? DEFAULT_EXPORTER_SELECTOR;
    if (Object.keys(exporterSelector).length === 0) {
      throw new Error(`${this.node.path}: exporterSelector must name at least one label, an empty selector matches every pod`);
    }
    this.job = podMonitorJob(props.namespace, this.name);
    new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: { name: this.name, namespace: props.namespace, labels: { ...props.selectorLabels } },
      spec: {
        selector: { matchLabels: { ...exporterSelector } },
        namespaceSelector: { matchNames: [props.exporterNamespace ?? DEFAULT_EXPORTER_NAMESPACE] },
        podMetricsEndpoints: [{ port: props.exporterPort ?? DEFAULT_EXPORTER_PORT, path: METRICS_PATH, honorLabels: true }],
      },
    });
  }
}
