import { GPU_CATALOG, findProfile } from '../hardware/gpus.ts';
import { capacityChecks } from './capacity.ts';
import { diagnostic, where } from './diagnostics.ts';
import { minAvailableChecks } from './min-available.ts';
import { dcmPoolChecks } from './partitioning-checks.ts';
import { fleetSafetyChecks, modelSafetyChecks } from './safety-checks.ts';
import { didYouMean } from './suggest.ts';
import type { Diagnostic, Fleet, GpuProduct, Model, NodePool, Precision, SourceLocation } from './types.ts';
import type { DocumentSource } from './yaml-source.ts';

/**
 * Rules that span documents, or that need the GPU catalog, checked after each document passed the
 * schema. Every finding points at the value it is about.
 */

export type Kind = 'Fleet' | 'NodePool' | 'Model';

/** A document whose kind and name could be read, valid or not: enough to check names. */
export interface Declaration {
  readonly kind: Kind;
  readonly name: string;
  readonly source: DocumentSource;
  /** The document as written, for references that are checked even when other fields are invalid. */
  readonly value: unknown;
}

/** A resolved resource with the source map it was loaded from. */
export type Loaded<R> = R & { readonly source: DocumentSource };

export interface CrossCheckInput {
  /** In file order, then document order: of two duplicates, the second is the one reported. */
  readonly declarations: readonly Declaration[];
  /** Documents that passed the schema, resolved. */
  readonly fleets: readonly Loaded<Fleet>[];
  readonly pools: readonly Loaded<NodePool>[];
  readonly models: readonly Loaded<Model>[];
  /**
   * False when some document could not be read far enough to know what it declares; then
   * "missing" findings (no Fleet, unknown pool) would be guesses and are left out.
   */
  readonly complete: boolean;
  /** Where a finding about the directory as a whole is reported. */
  readonly origin: SourceLocation;
}

export function crossCheck(input: CrossCheckInput): Diagnostic[] {
  const fleet = input.fleets.length === 1 ? input.fleets[0] : undefined;
  return [
    ...countChecks(input),
    ...duplicateNames(input.declarations),
    ...nodesInOnePool(input.pools),
    ...input.pools.flatMap((pool) => poolChecks(pool, fleet)),
    ...input.pools.flatMap((pool) => dcmPoolChecks(pool, fleet)),
    ...modelPools(input),
    ...input.models.flatMap((model) => precisionChecks(model, input.pools)),
    ...input.models.flatMap(checkpointChecks),
    ...input.models.flatMap(runtimeChecks),
    ...input.models.flatMap(minAvailableChecks),
    ...(fleet ? fleetSafetyChecks(fleet) : []),
    ...input.models.flatMap(modelSafetyChecks),
    // With no NodePool, or one that failed its checks, the partitions are unknown; those errors stop the run anyway.
    ...(input.complete && input.pools.length > 0 && input.pools.length === input.declarations.filter((d) => d.kind === 'NodePool').length
      ? capacityChecks(input.models, input.pools)
      : []),
  ];
}

function countChecks({ declarations, complete, origin }: CrossCheckInput): Diagnostic[] {
  const fleets = declarations.filter((d) => d.kind === 'Fleet');
  const found: Diagnostic[] = fleets.slice(1).map((extra) =>
    diagnostic(extra.source.at('kind'), 'error', 'kind', `a second Fleet "${extra.name}"; exactly one is allowed (the first is at ${where(fleets[0]!.source.at('kind'))})`),
  );
  if (!complete) return found;
  if (fleets.length === 0) found.push(diagnostic(origin, 'error', '', 'no Fleet found; exactly one Fleet resource is required'));
  if (!declarations.some((d) => d.kind === 'NodePool')) found.push(diagnostic(origin, 'error', '', 'no NodePool found; at least one is required'));
  return found;
}

function duplicateNames(declarations: readonly Declaration[]): Diagnostic[] {
  const first = new Map<string, Declaration>();
  const found: Diagnostic[] = [];
  for (const declaration of declarations) {
    if (declaration.kind === 'Fleet') continue; // a second Fleet is an error whatever its name
    const key = `${declaration.kind}/${declaration.name}`;
    const earlier = first.get(key);
    if (!earlier) {
      first.set(key, declaration);
      continue;
    }
    const message = `duplicate ${declaration.kind} name "${declaration.name}" (first defined at ${where(earlier.source.at('metadata.name'))})`;
    found.push(diagnostic(declaration.source.at('metadata.name'), 'error', 'metadata.name', message));
  }
  return found;
}

function nodesInOnePool(pools: readonly Loaded<NodePool>[]): Diagnostic[] {
  const owner = new Map<string, { pool: Loaded<NodePool>; index: number }>();
  const found: Diagnostic[] = [];
  for (const pool of pools) {
    pool.spec.nodes.forEach((node, index) => {
      const earlier = owner.get(node);
      if (!earlier) {
        owner.set(node, { pool, index });
        return;
      }
      const path = `spec.nodes.${index}`;
      const message = `node "${node}" is already in NodePool "${earlier.pool.metadata.name}" (${where(earlier.pool.source.at(`spec.nodes.${earlier.index}`))})`;
      found.push(diagnostic(pool.source.at(path), 'error', path, message));
    });
  }
  return found;
}

function poolChecks(pool: Loaded<NodePool>, fleet: Fleet | undefined): Diagnostic[] {
  const { gpu, profiles, allowMixedProfiles } = pool.spec;
  const found: Diagnostic[] = [];
  profiles.forEach((profile, index) => {
    if (findProfile(gpu, profile)) return;
    const path = `spec.profiles.${index}`;
    const valid = GPU_CATALOG[gpu].profiles.map((p) => p.name).join(', ');
    found.push(diagnostic(pool.source.at(path), 'error', path, `${profile} is not a partition profile of ${gpu}; must be one of: ${valid}`));
  });
  if (allowMixedProfiles && fleet?.spec.deviceResourceNaming === 'single') {
    const path = 'spec.allowMixedProfiles';
    const message = `requires the Fleet's deviceResourceNaming: mixed (${where(fleet.source.at('spec.deviceResourceNaming'))}); with single naming the AMD device plugin refuses nodes whose GPUs have different profiles`;
    found.push(diagnostic(pool.source.at(path), 'error', path, message));
  }
  return found;
}

/** Read from the documents as written, so a reference is checked even when the Model has other errors. */
function modelPools({ declarations, complete }: CrossCheckInput): Diagnostic[] {
  if (!complete) return [];
  const known = [...new Set(declarations.filter((d) => d.kind === 'NodePool').map((d) => d.name))].sort();
  const knownSet = new Set(known);
  const found: Diagnostic[] = [];
  for (const model of declarations.filter((d) => d.kind === 'Model')) {
    const pools = (model.value as { spec?: { pools?: unknown } }).spec?.pools;
    if (!Array.isArray(pools)) continue;
    pools.forEach((pool: unknown, index) => {
      if (typeof pool !== 'string' || knownSet.has(pool)) return;
      const path = `spec.pools.${index}`;
      const hint = didYouMean(pool, known) || ` (NodePools: ${known.join(', ') || 'none'})`;
      found.push(diagnostic(model.source.at(path), 'error', path, `unknown NodePool "${pool}"${hint}`));
    });
  }
  return found;
}

/**
 * The model's precision must run on every product it may be placed on; with `precision: auto`,
 * so must each allowed precision. Products that say the same thing are named in one finding.
 */
function precisionChecks(model: Loaded<Model>, pools: readonly Loaded<NodePool>[]): Diagnostic[] {
  const placeable = new Set(model.spec.pools);
  const products = [...new Set(pools.filter((p) => placeable.has(p.metadata.name)).map((p) => p.spec.gpu))].sort();
  const { precision, allowedPrecisions } = model.spec;
  if (precision === undefined) return [];
  if (precision !== 'auto') return supportFindings(model, 'spec.precision', precision, products, true);
  const written = model.source.has('spec.allowedPrecisions');
  // A slower-but-working precision in the default list is the project's choice, not worth a warning.
  return allowedPrecisions.flatMap((p, index) => supportFindings(model, `spec.allowedPrecisions.${index}`, p, products, written));
}

function supportFindings(model: Loaded<Model>, path: string, precision: Precision, products: readonly GpuProduct[], warn: boolean): Diagnostic[] {
  const byNote = new Map<string, { support: 'warning' | 'unsupported'; products: GpuProduct[] }>();
  for (const product of products) {
    const { support, note } = GPU_CATALOG[product].precisions[precision];
    if (support === 'native' || (support === 'warning' && !warn)) continue;
    const group = byNote.get(`${support} ${note}`) ?? { support, products: [] };
    group.products.push(product);
    byNote.set(`${support} ${note}`, group);
  }
  return [...byNote.entries()].map(([key, { support, products: names }]) => {
    const note = key.slice(support.length + 1);
    const message = support === 'unsupported' ? `${precision} cannot run on ${names.join(', ')}: ${note}` : `${precision} on ${names.join(', ')}: ${note}`;
    return diagnostic(model.source.at(path), support === 'unsupported' ? 'error' : 'warning', path, message);
  });
}

/**
 * vLLM quantizes to FP8 on load but not to INT4: AWQ/GPTQ weights come from a checkpoint
 * quantized beforehand, whose `quantization_config` vLLM reads. Without one the 16-bit weights
 * would load, four times the memory the plan gave the replica. (INT8 needs one too, but no
 * product runs it; `precisionChecks` says so.)
 */
function checkpointChecks(model: Loaded<Model>): Diagnostic[] {
  const { precision, allowedPrecisions, checkpoints } = model.spec;
  if (checkpoints.int4 !== undefined) return [];
  const message = 'int4 needs a pre-quantized AWQ/GPTQ checkpoint: set spec.checkpoints.int4';
  const paths = [
    ...(precision === 'int4' ? ['spec.precision'] : []),
    ...(model.source.has('spec.allowedPrecisions')
      ? allowedPrecisions.flatMap((p, index) => (p === 'int4' ? [`spec.allowedPrecisions.${index}`] : []))
      : []),
  ];
  return paths.map((path) => diagnostic(model.source.at(path), 'error', path, message));
}

/** The schema reserves `sglang`, but the Fleet has an image for vLLM only; say so before synth. */
function runtimeChecks(model: Loaded<Model>): Diagnostic[] {
  const { runtime } = model.spec;
  if (runtime === 'vllm') return [];
  const message = `runtime "${runtime}" is not supported yet: the fleet has no image for it, only images.vllm`;
  return [diagnostic(model.source.at('spec.runtime'), 'error', 'spec.runtime', message)];
}
