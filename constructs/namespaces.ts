import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

export interface FleetNamespacesProps {
  /** Namespace of the model servers. */
  readonly modelNamespace: string;
  /** Namespace of node partition setup. */
  readonly systemNamespace: string;
}

const POD_SECURITY_ENFORCE = 'pod-security.kubernetes.io/enforce';

/**
 * The fleet's namespaces, with the Pod Security level their pods need stated explicitly, so a
 * cluster whose default is `baseline` or `restricted` does not reject them at admission:
 * - the system namespace runs the privileged partitioner (amd-smi, driver reload);
 * - model pods run with `seccompProfile: Unconfined` (AMD's guidance for ROCm: the HSA runtime's
 *   NUMA memory-policy syscalls are outside the runtime default profile) and, with env isolation,
 *   mount `/dev/kfd` and `/dev/dri` from the host; both are outside `baseline`.
 * Everything else a privileged level would allow is ruled out by the objects themselves (and
 * asserted in tests): no privileged model containers, no host network, all capabilities dropped.
 */
export class FleetNamespaces extends Construct {
  constructor(scope: Construct, id: string, props: FleetNamespacesProps) {
    super(scope, id);
    if (props.modelNamespace === props.systemNamespace) {
      throw new Error(`${this.node.path}: model and system namespaces must differ, both are "${props.modelNamespace}"`);
    }
    for (const [childId, name] of [['Models', props.modelNamespace], ['System', props.systemNamespace]] as const) {
      new k8s.KubeNamespace(this, childId, { metadata: { name, labels: { [POD_SECURITY_ENFORCE]: 'privileged' } } });
    }
  }
}
