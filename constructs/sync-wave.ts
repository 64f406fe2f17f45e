import { ApiObject } from 'cdk8s';
import type { IConstruct } from 'constructs';

export const SYNC_WAVE_ANNOTATION = 'argocd.argoproj.io/sync-wave';

/**
 * Puts every Kubernetes object under `scope` into Argo CD sync wave `wave`. Waves are applied per
 * stage (a chart or one part of it), never object by object, so the ordering policy lives in
 * `fleet.ts` alone. Call it once the subtree is complete: objects added later are not annotated.
 */
export function applySyncWave(scope: IConstruct, wave: number): void {
  if (!Number.isInteger(wave)) throw new Error(`${scope.node.path}: sync wave must be an integer, got ${wave}`);
  for (const child of scope.node.findAll()) {
    if (ApiObject.isApiObject(child)) child.metadata.addAnnotation(SYNC_WAVE_ANNOTATION, String(wave));
  }
}
