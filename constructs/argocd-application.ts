import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';

/** The in-cluster API server as Argo CD names it. */
export const IN_CLUSTER = 'https://kubernetes.default.svc';

export interface ArgoCdApplicationProps {
  readonly name: string;
  /** Namespace Argo CD runs in. */
  readonly namespace: string;
  readonly project: string;
  readonly repoURL: string;
  readonly revision: string;
  /** Folder of the rendered tree in the repository (each stage is a sub-folder). */
  readonly path: string;
  /** Glob (relative to `path`) of files that are not stage manifests, e.g. the bootstrap folder. */
  readonly exclude: string;
}

/**
 * One Argo CD Application syncing the whole rendered tree. Stage order comes from the objects'
 * sync waves, so one Application is enough. Only `*.yaml` is read: a directory source would also
 * apply `.json` files. Server-side apply because InferenceServices can outgrow
 * the client-side last-applied annotation; dry runs are skipped for kinds whose CRDs (KServe) are
 * installed outside this Application. No resources finalizer: deleting the Application must not
 * delete every model and node setup with it.
 */
export class ArgoCdApplication extends Construct {
  constructor(scope: Construct, id: string, props: ArgoCdApplicationProps) {
    super(scope, id);
    new ApiObject(this, 'Resource', {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: props.name, namespace: props.namespace },
      spec: {
        project: props.project,
        source: {
          repoURL: props.repoURL,
          targetRevision: props.revision,
          path: props.path,
          directory: { recurse: true, include: '*.yaml', exclude: props.exclude },
        },
        destination: { server: IN_CLUSTER },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          syncOptions: ['ServerSideApply=true', 'SkipDryRunOnMissingResource=true'],
        },
      },
    });
  }
}
