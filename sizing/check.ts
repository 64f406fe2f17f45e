import { diagnostic } from '../api/diagnostics.ts';
import type { Diagnostic, Model, ModelArchitecture, NodePool, Precision, Spec } from '../api/types.ts';
import { GPU_CATALOG } from '../hardware/gpus.ts';
import { largestPartitionsPerNode, modelPools, tensorParallelProblem } from './candidates.ts';
import { compareVersions, fleetEngine, formatVersion, MINIMUM_ENGINE_VERSION, parseEngineVersion, versionFromImage } from './engine.ts';
import { didYouMean, modelFileName, suggestModelId, type ModelCatalog } from './model-catalog.ts';
import { GIB } from './estimate.ts';
import { int4TensorParallelProblem, nativePrecision, precisionProblem, weightBytes } from './precision.ts';
import type { ModelInfo } from './types.ts';

/**
 * Sizing checks of every Model against the catalog and its pools, each positioned at the field
 * to change. Run after the spec loader (which checks pool names and precision support) and
 * before `sizeDemands`, which assumes both passed.
 */
export function checkModels(spec: Spec, catalog: ModelCatalog): Diagnostic[] {
  return [...checkEngine(spec), ...spec.pools.flatMap(checkPool), ...spec.models.flatMap((model) => checkModel(model, spec, catalog))];
}

/** `allocatableMemoryGiB` only where the catalog has an allocation cap (APUs), and within the memory. */
function checkPool(pool: NodePool): Diagnostic[] {
  const allocatable = pool.spec.allocatableMemoryGiB;
  if (allocatable === undefined) return [];
  const product = GPU_CATALOG[pool.spec.gpu];
  const path = 'spec.allocatableMemoryGiB';
  const at = (message: string) => [diagnostic(pool.source.at(path), 'error', path, message)];
  if (product.allocatableMemoryGiB === undefined) return at(`${product.name} allocates all of its ${product.memoryGiB} GiB; only APUs (MI300A) take an allocatable limit`);
  if (allocatable > product.memoryGiB) return at(`${allocatable} GiB exceeds the ${product.memoryGiB} GiB of an ${product.name}`);
  return [];
}

/**
 * The fleet's vLLM release: the one declared must agree with the image tag when both name one,
 * and it must be one the engine constants cover (`sizing/engine.ts`).
 */
function checkEngine(spec: Spec): Diagnostic[] {
  const { fleet } = spec;
  const images = fleet.spec.images;
  const declaredAt = 'spec.images.vllmVersion';
  const tagged = versionFromImage(images.vllm);
  const declared = images.vllmVersion;
  if (declared !== undefined && tagged !== undefined && compareVersions(parseEngineVersion(declared)!, parseEngineVersion(tagged)!) !== 0) {
    return [diagnostic(fleet.source.at(declaredAt), 'error', declaredAt, `vLLM ${declared} disagrees with the image tag, which names ${tagged}`)];
  }
  const engine = fleetEngine(images);
  if (engine.origin === 'calibrated default') {
    // No surprise: an image pinned by digest alone names no release, and the engine constants
    // (activation, non-torch memory, batch defaults) depend on it.
    return [
      diagnostic(
        fleet.source.at('spec.images.vllm'),
        'warning',
        'spec.images.vllm',
        `the image names no vLLM release and spec.images.vllmVersion is not set: sizing assumes vLLM ${formatVersion(engine.version)}; ` +
          'set spec.images.vllmVersion to the release the image holds',
      ),
    ];
  }
  if (compareVersions(engine.version, MINIMUM_ENGINE_VERSION) >= 0) return [];
  const path = engine.origin === 'declared' ? declaredAt : 'spec.images.vllm';
  return [
    diagnostic(
      fleet.source.at(path),
      'error',
      path,
      `vLLM ${formatVersion(engine.version)} (${engine.origin}) is older than ${formatVersion(MINIMUM_ENGINE_VERSION)}, the oldest release this compiler sizes for ` +
        '(its activation constants, and layer-wise loading of online-quantized fp8 weights)',
    ),
  ];
}

/**
 * The architecture facts a Model is sized with: built from `spec.architecture` when given (it
 * overrides the catalog), else the catalog entry of `spec.model`; undefined when neither exists.
 */
export function resolveModel(model: Model, catalog: ModelCatalog): ModelInfo | undefined {
  const architecture = model.spec.architecture;
  return architecture ? fromArchitecture(model.spec.model, architecture) : catalog.get(model.spec.model);
}

function fromArchitecture(id: string, a: ModelArchitecture): ModelInfo {
  return {
    id,
    family: 'custom',
    architecture: 'custom',
    modelType: 'custom',
    numHiddenLayers: a.numHiddenLayers,
    hiddenSize: a.hiddenSize,
    numAttentionHeads: a.numAttentionHeads,
    numKeyValueHeads: a.numKeyValueHeads,
    headDim: a.headDim ?? a.hiddenSize / a.numAttentionHeads,
    // Not part of spec.architecture: the int4 group-size check is skipped.
    intermediateSizes: [],
    vocabSize: a.vocabSize,
    maxPositionEmbeddings: a.maxPositionEmbeddings,
    dtype: a.dtype ?? 'bf16',
    paramsTotal: a.paramsTotal,
    paramsActive: a.paramsTotal,
    paramsKept16bit: a.paramsKept16bit ?? a.vocabSize * a.hiddenSize,
    multimodal: false,
    moe: null,
    mla: null,
    slidingWindow: null,
    kvLayers: a.numHiddenLayers,
    source: { config: 'spec.architecture' },
  };
}

function checkModel(model: Model, spec: Spec, catalog: ModelCatalog): Diagnostic[] {
  const at: At = (path, message) => diagnostic(model.source.at(path), 'error', path, message);
  const info = resolveModel(model, catalog);
  const { spec: s } = model;
  if (!info) {
    if (s.memoryGiB !== undefined) return [];
    const suggestion = suggestModelId(s.model, catalog.keys());
    return [
      at(
        'spec.model',
        `unknown model "${s.model}"; add sizing/models/${modelFileName(s.model)} or give spec.architecture or spec.memoryGiB` +
          didYouMean(s.model, suggestion),
      ),
    ];
  }
  if (info.unsupported) return [at('spec.model', `${info.id} cannot be served: ${info.unsupported.reason}`)];
  const pools = modelPools(model, spec);
  return [
    ...architectureProblems(s.architecture, at),
    ...precisionProblems(model, info, at),
    ...(s.tensorParallel === 'auto' ? [] : tensorParallelProblems(s.tensorParallel, info, pools, at)),
    ...memoryProblems(model, info, at),
    ...(s.maxModelLen !== undefined && s.maxModelLen > info.maxPositionEmbeddings
      ? [at('spec.maxModelLen', `${s.maxModelLen} tokens exceed the ${info.maxPositionEmbeddings}-token context of ${info.id}`)]
      : []),
  ];
}

type At = (path: string, message: string) => Diagnostic;

/**
 * `memoryGiB` overrides the sizing, but not arithmetic: a replica holds at least its weights, at
 * the smallest precision it may be planned at. Less would pass planning and fail at load time.
 */
function memoryProblems(model: Model, info: ModelInfo, at: At): Diagnostic[] {
  const { memoryGiB, precision, allowedPrecisions } = model.spec;
  if (memoryGiB === undefined) return [];
  const candidates = precision === 'auto' ? allowedPrecisions : [precision ?? info.dtype];
  const [lightest] = candidates
    .map((p) => ({ precision: p, gib: weightBytes(info, p) / GIB }))
    .sort((a, b) => a.gib - b.gib);
  if (!lightest || memoryGiB >= lightest.gib) return [];
  const message = `${memoryGiB} GiB cannot hold the weights of ${info.id}: ${lightest.gib.toFixed(2)} GiB at ${lightest.precision} (memoryGiB is the whole replica: weights, KV cache and runtime)`;
  return [at('spec.memoryGiB', message)];
}

/** Precisions the Model asks for that vLLM refuses for its family, or that cannot split its layers at the requested degree. */
function precisionProblems(model: Model, info: ModelInfo, at: At): Diagnostic[] {
  const s = model.spec;
  const asked: [string, Precision][] =
    s.precision === 'auto'
      ? s.allowedPrecisions.map((p, i) => [`spec.allowedPrecisions.${i}`, p])
      : [['spec.precision', s.precision ?? nativePrecision(info)]];
  const problems = asked.flatMap(([path, precision]) => {
    const problem = precisionProblem(info, precision);
    return problem ? [at(path, problem)] : [];
  });
  if (s.tensorParallel !== 'auto' && asked.some(([, p]) => p === 'int4')) {
    const problem = int4TensorParallelProblem(info, s.tensorParallel);
    if (problem) problems.push(at('spec.tensorParallel', problem));
  }
  return problems;
}

function architectureProblems(a: ModelArchitecture | undefined, at: At): Diagnostic[] {
  if (!a) return [];
  const problems: Diagnostic[] = [];
  if (a.headDim === undefined && a.hiddenSize % a.numAttentionHeads !== 0) {
    problems.push(
      at('spec.architecture.headDim', `required: hiddenSize ${a.hiddenSize} is not a multiple of the ${a.numAttentionHeads} attention heads`),
    );
  }
  if (a.numAttentionHeads % a.numKeyValueHeads !== 0) {
    problems.push(
      at('spec.architecture.numKeyValueHeads', `${a.numKeyValueHeads} key-value heads do not divide the ${a.numAttentionHeads} attention heads`),
    );
  }
  return problems;
}

function tensorParallelProblems(tensorParallel: number, info: ModelInfo, pools: readonly NodePool[], at: At): Diagnostic[] {
  const problems: Diagnostic[] = [];
  const shardProblem = tensorParallelProblem(info, tensorParallel);
  if (shardProblem) problems.push(at('spec.tensorParallel', shardProblem));
  const limit = largestPartitionsPerNode(pools);
  if (tensorParallel > limit) {
    const names = pools.map((p) => p.metadata.name).join(', ');
    problems.push(
      at('spec.tensorParallel', `tensor parallelism ${tensorParallel} needs ${tensorParallel} partitions on one node, but the nodes of ${names} have at most ${limit}`),
    );
  }
  return problems;
}
