import { diagnostic } from './diagnostics.ts';
import { COMPILER_OWNED_ENV, derivedFlagOf, DERIVED_ENGINE_FLAGS, imagePinning, RESERVED_NAMESPACES, urlCredentials } from './reserved.ts';
import type { Diagnostic, Fleet, Model } from './types.ts';
import type { DocumentSource } from './yaml-source.ts';

/**
 * Rules on values that reach manifests and command lines: what the compiler owns, what
 * Kubernetes reserves, what must not be committed. A construct that met one of these would refuse
 * at synth with no position; here each is an error at the value to change, found by `validate`.
 */

type Loaded<R> = R & { readonly source: DocumentSource };

export function fleetSafetyChecks(fleet: Loaded<Fleet>): Diagnostic[] {
  return [...namespaceChecks(fleet), ...imageChecks(fleet), ...gitUrlChecks(fleet)];
}

export function modelSafetyChecks(model: Loaded<Model>): Diagnostic[] {
  return [...envChecks(model), ...argsChecks(model)];
}

function namespaceChecks(fleet: Loaded<Fleet>): Diagnostic[] {
  const { namespace, systemNamespace } = fleet.spec;
  const found: Diagnostic[] = [];
  for (const [path, name] of [['spec.namespace', namespace], ['spec.systemNamespace', systemNamespace]] as const) {
    if (!RESERVED_NAMESPACES.includes(name)) continue;
    const message = `"${name}" is reserved by Kubernetes; the fleet's namespaces get a privileged Pod Security label, use a namespace of their own`;
    found.push(diagnostic(fleet.source.at(path), 'error', path, message));
  }
  if (namespace === systemNamespace) {
    // Written or defaulted, one of them is the field to change; point at the one written last.
    const path = fleet.source.has('spec.systemNamespace') ? 'spec.systemNamespace' : 'spec.namespace';
    const message = `model serving and node setup need different namespaces, both are "${namespace}" (node setup runs privileged; model pods must not share its RBAC)`;
    found.push(diagnostic(fleet.source.at(path), 'error', path, message));
  }
  return found;
}

/**
 * vLLM image: an error unless pinned by digest, because KServe rewrites the image of a runtime it
 * recognises unless it is, and with AMD GPUs it rewrites to a CPU image. Partitioner image: an
 * error when floating (untagged or `:latest`: a privileged DaemonSet would run whatever the tag
 * points at when a node restarts), a warning with a tag only (the README asks for a digest).
 */
function imageChecks(fleet: Loaded<Fleet>): Diagnostic[] {
  const { vllm, partitioner } = fleet.spec.images;
  const at = (name: string) => fleet.source.at(`spec.images.${name}`);
  const found: Diagnostic[] = [];
  if (imagePinning(vllm) !== 'digest') {
    found.push(diagnostic(at('vllm'), 'error', 'spec.images.vllm', 'must be pinned by digest (name[:tag]@sha256:<64 hex>): KServe rewrites unpinned vLLM images, to a CPU image on AMD GPUs'));
  }
  const pinning = imagePinning(partitioner);
  if (pinning === 'floating') {
    const message = 'must be pinned by a digest (name[:tag]@sha256:<64 hex>) or at least a tag other than latest: the privileged partition DaemonSet would run whatever the tag points at next';
    found.push(diagnostic(at('partitioner'), 'error', 'spec.images.partitioner', message));
  } else if (pinning === 'tag') {
    found.push(diagnostic(at('partitioner'), 'warning', 'spec.images.partitioner', 'image is not pinned by digest (name:tag@sha256:…); the manifests change meaning when the tag moves'));
  }
  return found;
}

function gitUrlChecks(fleet: Loaded<Fleet>): Diagnostic[] {
  const found: Diagnostic[] = [];
  for (const tool of ['argocd', 'flux'] as const) {
    const url = fleet.spec.gitops[tool]?.repoURL;
    const what = url === undefined ? undefined : urlCredentials(url);
    if (!what) continue;
    const path = `spec.gitops.${tool}.repoURL`;
    const secret = tool === 'argocd' ? 'an Argo CD repository Secret' : "the GitRepository's spec.secretRef";
    const message = `must not embed credentials (found ${what}): the URL is committed and applied in plain text; give ${secret} instead`;
    found.push(diagnostic(fleet.source.at(path), 'error', path, message));
  }
  return found;
}

function envChecks(model: Loaded<Model>): Diagnostic[] {
  return Object.keys(model.spec.env).flatMap((name) => {
    const why = Object.hasOwn(COMPILER_OWNED_ENV, name) ? COMPILER_OWNED_ENV[name] : undefined;
    if (!why) return [];
    const path = `spec.env.${name}`;
    return [diagnostic(model.source.keyAt(path), 'error', path, `${name} is reserved: ${why}`)];
  });
}

function argsChecks(model: Loaded<Model>): Diagnostic[] {
  return model.spec.args.flatMap((arg, index) => {
    const flag = derivedFlagOf(arg);
    if (!flag) return [];
    const path = `spec.args.${index}`;
    return [diagnostic(model.source.at(path), 'error', path, `${flag} is derived by the compiler (${DERIVED_ENGINE_FLAGS[flag]}); change the spec field instead of overriding it`)];
  });
}
