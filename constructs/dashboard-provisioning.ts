import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

/** A ConfigMap holds at most 1 MiB of data. */
const CONFIG_MAP_MAX_BYTES = 1024 * 1024;

interface DashboardObjectProps {
  /** Object name; also the file name (`<name>.json`) in sidecar mode. */
  readonly name: string;
  readonly namespace: string;
  /** The dashboard's JSON model (it must carry its own `uid`). */
  readonly dashboard: object;
}

export interface SidecarDashboardProps extends DashboardObjectProps {
  /** Labels the Grafana dashboard sidecar watches for (kube-prometheus-stack: `grafana_dashboard: "1"`). */
  readonly sidecarLabel: Readonly<Record<string, string>>;
}

function dashboardJson(path: string, dashboard: object): string {
  const json = `${JSON.stringify(dashboard, null, 2)}\n`;
  const bytes = Buffer.byteLength(json);
  if (bytes > CONFIG_MAP_MAX_BYTES) throw new Error(`${path}: the dashboard JSON is ${bytes} bytes, more than a ConfigMap holds (${CONFIG_MAP_MAX_BYTES})`);
  return json;
}

/**
 * A dashboard for the Grafana chart's dashboard sidecar: a ConfigMap carrying the sidecar's label,
 * the JSON under a `.json` key. kube-prometheus-stack's sidecar searches every namespace; a sidecar
 * limited to its own namespace will not see it.
 */
export class SidecarDashboard extends Construct {
  constructor(scope: Construct, id: string, props: SidecarDashboardProps) {
    super(scope, id);
    if (Object.keys(props.sidecarLabel).length === 0) throw new Error(`${this.node.path}: sidecarLabel must name the label the Grafana sidecar watches`);
    new k8s.KubeConfigMap(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.sidecarLabel } },
      data: { [`${props.name}.json`]: dashboardJson(this.node.path, props.dashboard) },
    });
  }
}

export interface OperatorDashboardProps extends DashboardObjectProps {
  /** Labels of the Grafana instances (grafana-operator `Grafana` resources) to import the dashboard into. */
  readonly instanceSelector: Readonly<Record<string, string>>;
}

/**
 * A grafana-operator GrafanaDashboard (v1beta1) with the JSON inline. It lives with the fleet, not
 * with Grafana, so it allows cross-namespace import: without that the operator only matches
 * Grafana instances in the dashboard's own namespace.
 */
export class OperatorDashboard extends Construct {
  constructor(scope: Construct, id: string, props: OperatorDashboardProps) {
    super(scope, id);
    if (Object.keys(props.instanceSelector).length === 0) {
      throw new Error(`${this.node.path}: instanceSelector must name at least one label of the target Grafana instances`);
    }
    new ApiObject(this, 'Resource', {
      apiVersion: 'grafana.integreatly.org/v1beta1',
      kind: 'GrafanaDashboard',
      metadata: { name: props.name, namespace: props.namespace },
      spec: {
        instanceSelector: { matchLabels: { ...props.instanceSelector } },
        allowCrossNamespaceImport: true,
        json: dashboardJson(this.node.path, props.dashboard),
      },
    });
  }
}
