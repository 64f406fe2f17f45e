import { diagnostic } from '../api/diagnostics.ts';
import type { Diagnostic, Model, ModelArchitecture, NodePool, Spec } from '../api/types.ts';
import { largestPartitionsPerNode, modelPools, tensorParallelProblem } from './candidates.ts';
import { modelFileName, suggestModelId, type ModelCatalog } from './model-catalog.ts';
import { GIB } from './estimate.ts';
import { weightBytes } from './precision.ts';
import type { ModelInfo } from './types.ts';

/**
 * Sizing checks of every Model against the catalog and its pools, each positioned at the field
 * to change. Run after the spec loader (which checks pool names and precision support) and
 * before `sizeDemands`, which assumes both passed.
 */
export function checkModels(spec: Spec, catalog: ModelCatalog): Diagnostic[] {
  return spec.models.flatMap((model) => checkModel(model, spec, catalog));
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
    numHiddenLayers: a.numHiddenLayers,
    hiddenSize: a.hiddenSize,
    numAttentionHeads: a.numAttentionHeads,
    numKeyValueHeads: a.numKeyValueHeads,
    headDim: a.headDim ?? a.hiddenSize / a.numAttentionHeads,
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
  const pools = modelPools(model, spec);
  return [
    ...architectureProblems(s.architecture, at),
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

/**
 * The closest catalog id, said plainly when it is a model of another size: a typo of
 * "Llama-3.1-8B" must not silently become "Llama-3.1-70B".
 */
function didYouMean(id: string, suggestion: string | undefined): string {
  if (!suggestion) return '';
  const wanted = sizesIn(id);
  const found = sizesIn(suggestion);
  if (wanted === found) return ` (did you mean "${suggestion}"?)`;
  const sizes = wanted && found ? `: ${found} parameters, not ${wanted}` : '';
  return ` (the closest catalog model, "${suggestion}", is a different model${sizes})`;
}

/** Parameter-count tokens of a model id (`8B`, `1.5B`, `70B`), not active-expert ones like `A3B`. */
function sizesIn(id: string): string {
  return [...id.matchAll(/(?<![A-Za-z.\d])(\d+(?:\.\d+)?)[bB](?![A-Za-z\d])/g)].map((m) => `${m[1]}B`).join('+');
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
