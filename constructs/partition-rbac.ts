import { type ApiObject, Chart, JsonPatch } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

export interface PartitionRbacProps {
  /** Name of the ServiceAccount, the ClusterRole and their binding; the Roles add a suffix. */
  readonly name: string;
  /** Namespace of the ServiceAccount and of the Events the script creates. */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The only nodes the script may read and patch. */
  readonly nodeNames: readonly string[];
  /** Where the device plugin pods the script restarts run. */
  readonly devicePluginNamespace: string;
  /** The gpu-operator backend reads the Warning Events of DCM's pod there, to say why DCM failed. @default false */
  readonly readDcmEvents?: boolean;
}

const RBAC_GROUP = 'rbac.authorization.k8s.io';

/**
 * The ServiceAccount of the node partitioning DaemonSet and exactly the permissions its script uses,
 * `scripts/partition-node.sh` or `scripts/dcm-node.sh` (the same set: DCM's node label is a patch of
 * the Node, and its pods are listed like the operands): every rule below names the kubectl call it
 * exists for.
 */
export class PartitionRbac extends Construct {
  public readonly serviceAccountName: string;

  constructor(scope: Construct, id: string, props: PartitionRbacProps) {
    super(scope, id);
    const { name, namespace } = props;
    const labels = { ...props.labels };
    this.serviceAccountName = name;
    const subjects = [{ kind: 'ServiceAccount', name, namespace }];

    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: { name, namespace, labels } });

    const clusterRole = new k8s.KubeClusterRole(this, 'ClusterRole', {
      metadata: { name, labels },
      rules: [
        {
          // `kubectl get node` reads labels, taints and allocatable; `kubectl label|annotate|taint|
          // cordon|uncordon node` get and then patch. Only the plan's nodes; NodeSelfPatchPolicy
          // narrows the patch to the pod's own node.
          apiGroups: [''],
          resources: ['nodes'],
          resourceNames: [...props.nodeNames].sort(),
          verbs: ['get', 'patch'],
        },
        {
          // `kubectl get pods --all-namespaces --field-selector spec.nodeName=NODE`: the pods holding
          // GPUs on the node, in any namespace; `kubectl get pods -n MODELS -l MODEL`: moved replicas.
          apiGroups: [''],
          resources: ['pods'],
          verbs: ['list'],
        },
        {
          // `kubectl create --raw .../pods/NAME/eviction`: the drain, which PodDisruptionBudgets govern.
          apiGroups: [''],
          resources: ['pods/eviction'],
          verbs: ['create'],
        },
      ],
    });
    const clusterRoleBinding = new k8s.KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
      metadata: { name, labels },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
      subjects,
    });
    // A chart's namespace is stamped on every object, cluster-scoped ones too (cdk8s-core#731).
    for (const clusterScoped of [clusterRole, clusterRoleBinding]) withoutChartNamespace(clusterScoped);

    const eventsRole = `${name}-events`;
    new k8s.KubeRole(this, 'EventsRole', {
      metadata: { name: eventsRole, namespace, labels },
      rules: [
        {
          // `kubectl create -f -` of the Node Events (repartitioning, partitioned, every failure),
          // written to this namespace so that no cluster-wide write on events is needed.
          apiGroups: [''],
          resources: ['events'],
          verbs: ['create'],
        },
        {
          // The fleet-wide lock: `kubectl get lease`, `kubectl create -f -` of a free slot,
          // `kubectl replace -f -` to take an expired one or release it (resourceVersion-checked).
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'create', 'update'],
        },
      ],
    });
    new k8s.KubeRoleBinding(this, 'EventsRoleBinding', {
      metadata: { name: eventsRole, namespace, labels },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: eventsRole },
      subjects,
    });

    const devicePluginRole = `${name}-device-plugin`;
    new k8s.KubeRole(this, 'DevicePluginRole', {
      metadata: { name: devicePluginRole, namespace: props.devicePluginNamespace, labels },
      rules: [
        {
          // `kubectl delete pod -l SELECTOR --field-selector spec.nodeName=NODE` lists the device
          // plugin pods of the node and deletes them, so they rediscover the partitions; with the
          // gpu-operator backend `kubectl get pods -l ...` also finds the node's DCM pod and waits
          // for the deleted operands to be gone.
          apiGroups: [''],
          resources: ['pods'],
          verbs: ['list', 'delete'],
        },
        // `kubectl get events --field-selector involvedObject.name=DCM_POD,type=Warning`: DCM writes
        // why it failed to Events on its own pod, which a failure message then quotes.
        ...(props.readDcmEvents ? [{ apiGroups: [''], resources: ['events'], verbs: ['list'] }] : []),
      ],
    });
    new k8s.KubeRoleBinding(this, 'DevicePluginRoleBinding', {
      metadata: { name: devicePluginRole, namespace: props.devicePluginNamespace, labels },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: devicePluginRole },
      subjects,
    });
  }
}

/** A chart's namespace is stamped on every object, cluster-scoped ones too (cdk8s-core#731): drop it. */
export function withoutChartNamespace(object: ApiObject): void {
  if (Chart.of(object).namespace !== undefined) object.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
}
