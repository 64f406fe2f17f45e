import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { withoutChartNamespace } from './partition-rbac.ts';

export interface NodeSelfPatchPolicyProps {
  /** Name of the policy and its binding. */
  readonly name: string;
  /** The DaemonSet's ServiceAccount, whose pods may change only the Node they run on. */
  readonly serviceAccount: { readonly name: string; readonly namespace: string };
  readonly labels: Readonly<Record<string, string>>;
}

/** The claim a pod-bound service-account token carries (Kubernetes 1.30+, on by default from 1.32). */
export const NODE_NAME_CLAIM = 'authentication.kubernetes.io/node-name';

/**
 * RBAC can name the plan's nodes but not "the node this pod runs on". A ValidatingAdmissionPolicy
 * can: a pod-bound token carries its node's name in the user's extra info (KEP-4193), so a
 * DaemonSet pod may label, annotate, taint and cordon only its own Node. Requests without the
 * claim (an older API server, or a token not bound to a pod) are denied too: fail closed.
 */
export class NodeSelfPatchPolicy extends Construct {
  constructor(scope: Construct, id: string, props: NodeSelfPatchPolicyProps) {
    super(scope, id);
    const { name, labels } = props;
    const username = `system:serviceaccount:${props.serviceAccount.namespace}:${props.serviceAccount.name}`;
    const policy = new ApiObject(this, 'Policy', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name, labels: { ...labels } },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          // kubectl label/annotate/taint/cordon all PATCH the Node, an UPDATE to admission.
          resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'] }],
        },
        matchConditions: [{ name: 'node-partitioner', expression: `request.userInfo.username == '${username}'` }],
        validations: [
          {
            expression: `'${NODE_NAME_CLAIM}' in request.userInfo.extra && object.metadata.name in request.userInfo.extra['${NODE_NAME_CLAIM}']`,
            message: `${username} may change only the Node its pod runs on`,
            reason: 'Forbidden',
          },
        ],
      },
    });
    const binding = new ApiObject(this, 'Binding', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name, labels: { ...labels } },
      spec: { policyName: name, validationActions: ['Deny'] },
    });
    for (const clusterScoped of [policy, binding]) withoutChartNamespace(clusterScoped);
  }
}
