import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';

/** A folder of the rendered tree that Flux applies as one Kustomization. */
export interface FluxStage {
  /** The folder name (a chart id), also the Kustomization's name suffix. */
  readonly id: string;
  /**
   * How long Flux waits for the stage's objects to become ready before it reports failure.
   * @default - Flux's default, the interval
   */
  readonly timeout?: string;
  /**
   * CEL health checks for custom resources whose readiness kstatus cannot read.
   * @default - none
   */
  readonly healthCheckExprs?: ReadonlyArray<{ readonly apiVersion: string; readonly kind: string; readonly current: string }>;
  /**
   * Id of an earlier stage this one waits for.
   * @default - the stage before it
   */
  readonly after?: string;
}

export interface FluxSyncProps {
  /** Prefix of the GitRepository and Kustomization names. */
  readonly name: string;
  /** Namespace Flux runs in. */
  readonly namespace: string;
  readonly interval: string;
  readonly repoURL: string;
  /** Branch, `refs/…` name, or 40-hex commit. */
  readonly revision: string;
  /** Folder of the rendered tree in the repository. */
  readonly path: string;
  /** Stage folders in apply order. */
  readonly stages: readonly FluxStage[];
}

/** The GitRepository `ref` for a revision: a full commit SHA pins, `refs/…` names a ref, else a branch. */
export function gitRef(revision: string): Record<string, string> {
  if (/^[0-9a-f]{40}$/.test(revision)) return { commit: revision };
  if (revision.startsWith('refs/')) return { name: revision };
  return { branch: revision };
}

/**
 * A Flux GitRepository and one Kustomization per stage folder, chained: each depends on the one
 * before (or the earlier stage it names in `after`), and every one waits for its objects to be ready
 * (`wait: true`), so models are created only once the nodes are partitioned and the runtime exists.
 * `prune` removes what left git.
 */
export class FluxSync extends Construct {
  public readonly kustomizationNames: readonly string[];

  constructor(scope: Construct, id: string, props: FluxSyncProps) {
    super(scope, id);
    if (props.stages.length === 0) throw new Error(`${this.node.path}: at least one stage is needed`);
    const root = props.path.replace(/^\.(\/|$)/, '').replace(/\/+$/, '');
    new ApiObject(this, 'GitRepository', {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: props.name, namespace: props.namespace },
      spec: { interval: props.interval, url: props.repoURL, ref: gitRef(props.revision) },
    });
    const names: string[] = [];
    for (const stage of props.stages) {
      const name = `${props.name}-${stage.id}`;
      if (stage.after !== undefined && !names.includes(`${props.name}-${stage.after}`)) {
        throw new Error(`${this.node.path}: stage ${stage.id} waits for ${stage.after}, which is not an earlier stage`);
      }
      const previous = stage.after === undefined ? names.at(-1) : `${props.name}-${stage.after}`;
      new ApiObject(this, stage.id, {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name, namespace: props.namespace },
        spec: {
          interval: props.interval,
          sourceRef: { kind: 'GitRepository', name: props.name },
          path: `./${root ? `${root}/` : ''}${stage.id}`,
          prune: true,
          wait: true,
          timeout: stage.timeout,
          dependsOn: previous ? [{ name: previous }] : undefined,
          healthCheckExprs: stage.healthCheckExprs?.map((check) => ({ ...check })),
        },
      });
      names.push(name);
    }
    this.kustomizationNames = names;
  }
}
