import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../api/diagnostics.ts';
import { loadSpecTexts } from '../../api/load.ts';
import type { Spec } from '../../api/types.ts';
import { checkModels, resolveModel } from '../../sizing/check.ts';
import { catalog } from './fixtures.ts';

const DIGEST = `@sha256:${'0'.repeat(64)}`;

const FLEET = `apiVersion: gpusharing.aim/v1alpha1
kind: Fleet
metadata:
  name: lab
spec:
  images:
    vllm: docker.io/vllm/vllm-openai-rocm:v0.19.0${DIGEST}
    partitioner: registry.example.com/partitioner:0.1.0${DIGEST}
`;

const POOLS = `apiVersion: gpusharing.aim/v1alpha1
kind: NodePool
metadata:
  name: mi300x
spec:
  gpu: MI300X
  nodes: [gpu-node-01]
---
apiVersion: gpusharing.aim/v1alpha1
kind: NodePool
metadata:
  name: apu
spec:
  gpu: MI300A
  nodes: [apu-node-01]
  profiles: [SPX-NPS1]
`;

/** Loads the fleet, the pools and `models` (as `specs/models.yaml`) through the real spec loader. */
function load(models: string, fleet = FLEET, pools = POOLS): Spec {
  const loaded = loadSpecTexts([
    { file: 'specs/fleet.yaml', text: fleet },
    { file: 'specs/pools.yaml', text: pools },
    { file: 'specs/models.yaml', text: models },
  ]);
  if (!loaded.spec) throw new Error(loaded.diagnostics.map(formatDiagnostic).join('\n'));
  return loaded.spec;
}

function modelDoc(name: string, spec: string): string {
  return `apiVersion: gpusharing.aim/v1alpha1\nkind: Model\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
}

const check = (models: string) => checkModels(load(models), catalog).map(formatDiagnostic);

describe('checkModels', () => {
  it('accepts catalog models, overrides and custom architectures', () => {
    const models = [
      modelDoc('llama', '  model: meta-llama/Llama-3.1-8B-Instruct\n  tensorParallel: 8\n  pools: [mi300x]\n'),
      modelDoc('private', '  model: acme/private-13b\n  memoryGiB: 30\n'),
      modelDoc(
        'custom',
        '  model: acme/custom-7b\n  architecture:\n    numHiddenLayers: 32\n    hiddenSize: 4096\n    numAttentionHeads: 32\n' +
          '    numKeyValueHeads: 8\n    vocabSize: 32000\n    paramsTotal: 7000000000\n    maxPositionEmbeddings: 4096\n',
      ),
    ].join('---\n');
    expect(check(models)).toEqual([]);
  });

  it('fails on a memoryGiB below the weights of a catalog model, at the lightest precision it may be planned at', () => {
    expect(check(modelDoc('llama', '  model: meta-llama/Llama-3.1-8B-Instruct\n  memoryGiB: 1\n'))).toEqual([
      'specs/models.yaml:7:14: error: spec.memoryGiB: 1 GiB cannot hold the weights of meta-llama/Llama-3.1-8B-Instruct: 14.96 GiB at bf16 (memoryGiB is the whole replica: weights, KV cache and runtime)',
    ]);
    const auto = '  model: meta-llama/Llama-3.1-8B-Instruct\n  precision: auto\n  allowedPrecisions: [bf16, fp8]\n';
    expect(check(modelDoc('llama', `${auto}  memoryGiB: 8\n`))).toEqual([
      'specs/models.yaml:9:14: error: spec.memoryGiB: 8 GiB cannot hold the weights of meta-llama/Llama-3.1-8B-Instruct: 8.46 GiB at fp8 (memoryGiB is the whole replica: weights, KV cache and runtime)',
    ]);
    expect(check(modelDoc('llama', `${auto}  memoryGiB: 9\n`))).toEqual([]);
  });

  it('fails on an unknown model at spec.model, suggesting the catalog id', () => {
    const models = modelDoc('llama', '  replicas: 1\n  model: meta-llama/Llama-3.1-8B\n');
    expect(check(models)).toEqual([
      'specs/models.yaml:7:10: error: spec.model: unknown model "meta-llama/Llama-3.1-8B"; add sizing/models/meta-llama__Llama-3.1-8B.json ' +
        'or give spec.architecture or spec.memoryGiB (did you mean "meta-llama/Llama-3.1-8B-Instruct"?)',
    ]);
  });

  it('fails on a tensor parallelism that does not divide the attention heads, at spec.tensorParallel', () => {
    const models = modelDoc('qwen', '  model: Qwen/Qwen2.5-0.5B-Instruct\n  tensorParallel: 4\n');
    expect(check(models)).toEqual([
      'specs/models.yaml:7:19: error: spec.tensorParallel: tensor parallelism 4 does not divide the 14 attention heads of Qwen/Qwen2.5-0.5B-Instruct',
    ]);
  });

  it('fails on a tensor parallelism no node of the model pools can hold', () => {
    const models = modelDoc('llama', '  model: meta-llama/Llama-3.1-8B-Instruct\n  pools: [apu]\n  tensorParallel: 8\n');
    expect(check(models)).toEqual([
      'specs/models.yaml:8:19: error: spec.tensorParallel: tensor parallelism 8 needs 8 partitions on one node, but the nodes of apu have at most 4',
    ]);
  });

  it('fails on a maxModelLen beyond the model context', () => {
    const models = modelDoc('tiny', '  model: TinyLlama/TinyLlama-1.1B-Chat-v1.0\n  maxModelLen: 4096\n');
    expect(check(models)).toEqual([
      'specs/models.yaml:7:16: error: spec.maxModelLen: 4096 tokens exceed the 2048-token context of TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    ]);
  });

  it('fails on a custom architecture whose heads do not divide', () => {
    const models = modelDoc(
      'custom',
      '  model: acme/custom\n  architecture:\n    numHiddenLayers: 2\n    hiddenSize: 100\n    numAttentionHeads: 3\n' +
        '    numKeyValueHeads: 2\n    vocabSize: 10\n    paramsTotal: 1000\n    maxPositionEmbeddings: 64\n',
    );
    expect(check(models).map((line) => line.split(': error: ')[1]!.split(':')[0])).toEqual([
      'spec.architecture.headDim',
      'spec.architecture.numKeyValueHeads',
    ]);
  });
});

describe('checkModels: what vLLM refuses', () => {
  const llama = modelDoc('llama', '  model: meta-llama/Llama-3.1-8B-Instruct\n');
  const fleetWith = (image: string, version?: string) =>
    FLEET.replace(`docker.io/vllm/vllm-openai-rocm:v0.19.0${DIGEST}`, `${image}${DIGEST}`) + (version ? `    vllmVersion: "${version}"\n` : '');
  const checkFleet = (fleet: string) => checkModels(load(llama, fleet), catalog).map(formatDiagnostic);

  it('fails on a vLLM release older than 0.17.0, from the tag or declared, at the field that names it', () => {
    expect(checkFleet(fleetWith('docker.io/rocm/vllm:rocm6.4.1_vllm_0.9.1_20250715'))).toEqual([
      'specs/fleet.yaml:7:11: error: spec.images.vllm: vLLM 0.9.1 (image tag) is older than 0.17.0, the oldest release this compiler sizes for ' +
        '(its activation constants, and layer-wise loading of online-quantized fp8 weights)',
    ]);
    expect(checkFleet(fleetWith('docker.io/vllm/vllm-openai-rocm', '0.16.0'))[0]).toMatch(/^specs\/fleet.yaml:9:18: error: spec.images.vllmVersion: vLLM 0.16.0 \(declared\) is older/);
    expect(checkFleet(fleetWith('docker.io/vllm/vllm-openai-rocm:v0.19.0'))).toEqual([]);
    expect(checkFleet(fleetWith('docker.io/vllm/vllm-openai-rocm', '0.17.0'))).toEqual([]);
  });

  it('warns when neither the image nor the Fleet names the vLLM release the sizing assumes', () => {
    expect(checkFleet(fleetWith('docker.io/vllm/vllm-openai-rocm'))).toEqual([
      'specs/fleet.yaml:7:11: warning: spec.images.vllm: the image names no vLLM release and spec.images.vllmVersion is not set: ' +
        'sizing assumes vLLM 0.19.0; set spec.images.vllmVersion to the release the image holds',
    ]);
    expect(checkFleet(fleetWith('docker.io/vllm/vllm-openai-rocm', '0.19.0'))).toEqual([]);
  });

  it('fails when the declared release disagrees with the image tag', () => {
    expect(checkFleet(fleetWith('docker.io/vllm/vllm-openai-rocm:v0.19.0', '0.18.0'))).toEqual([
      'specs/fleet.yaml:9:18: error: spec.images.vllmVersion: vLLM 0.18.0 disagrees with the image tag, which names 0.19.0',
    ]);
  });

  it('fails on a model vLLM no longer serves, with the reason, at spec.model', () => {
    const vision = modelDoc('vision', '  model: meta-llama/Llama-3.2-11B-Vision-Instruct\n');
    expect(check(vision)).toEqual([
      'specs/models.yaml:6:10: error: spec.model: meta-llama/Llama-3.2-11B-Vision-Instruct cannot be served: vLLM removed the Mllama ' +
        '(Llama 3.2 Vision) encoder-decoder architecture in v0.10.2 (vllm-project/vllm PR #24907); no supported release can serve it',
    ]);
  });

  it('fails on fp16 and int4 for Gemma 3, at the precision or the allowed precision that asks for it', () => {
    expect(check(modelDoc('gemma', '  model: google/gemma-3-27b-it\n  precision: fp16\n'))).toEqual([
      'specs/models.yaml:7:14: error: spec.precision: vLLM refuses float16 for gemma3 models such as google/gemma-3-27b-it (numerical instability); use bf16',
    ]);
    const auto = check(
      modelDoc('gemma', '  model: google/gemma-3-27b-it\n  precision: auto\n  allowedPrecisions: [bf16, int4]\n  checkpoints:\n    int4: acme/gemma-3-27b-it-AWQ\n'),
    );
    expect(auto).toHaveLength(1);
    expect(auto[0]).toMatch(/^specs\/models.yaml:8:\d+: error: spec.allowedPrecisions.1: int4 \(AWQ\/GPTQ\) runs on ROCm with float16 activations only/);
    expect(check(modelDoc('gemma', '  model: google/gemma-3-27b-it\n'))).toEqual([]);
  });

  it('fails on an int4 tensor parallelism that splits a quantization group, at spec.tensorParallel', () => {
    const qwen = modelDoc('qwen', '  model: Qwen/Qwen2.5-72B-Instruct\n  precision: int4\n  tensorParallel: 2\n  checkpoints:\n    int4: Qwen/Qwen2.5-72B-Instruct-AWQ\n');
    expect(check(qwen)).toEqual([
      'specs/models.yaml:8:19: error: spec.tensorParallel: int4 at tensor parallelism 2: a row-parallel layer of Qwen/Qwen2.5-72B-Instruct has 29568 inputs, ' +
        '14784 per rank, not a multiple of the 128-wide quantization groups',
    ]);
  });

  it('takes an allocatable memory on APU pools only, within the APU', () => {
    const pools = (gpu: string, gib: number) =>
      `apiVersion: gpusharing.aim/v1alpha1\nkind: NodePool\nmetadata:\n  name: p\nspec:\n  gpu: ${gpu}\n  nodes: [n1]\n  allocatableMemoryGiB: ${gib}\n`;
    const checkPools = (text: string) => checkModels(load(llama, FLEET, text), catalog).map(formatDiagnostic);
    expect(checkPools(pools('MI300A', 120))).toEqual([]);
    expect(checkPools(pools('MI300A', 130))).toEqual(['specs/pools.yaml:8:25: error: spec.allocatableMemoryGiB: 130 GiB exceeds the 128 GiB of an MI300A']);
    expect(checkPools(pools('MI300X', 96))[0]).toMatch(/MI300X allocates all of its 192 GiB; only APUs \(MI300A\) take an allocatable limit/);
  });
});

describe('resolveModel', () => {
  it('takes the catalog entry of spec.model', () => {
    const [llama] = load(modelDoc('llama', '  model: meta-llama/Llama-3.1-8B-Instruct\n')).models;
    expect(resolveModel(llama!, catalog)).toBe(catalog.get('meta-llama/Llama-3.1-8B-Instruct'));
  });

  it('builds the facts from spec.architecture, with its defaults, over the catalog', () => {
    const spec =
      '  model: meta-llama/Llama-3.1-8B-Instruct\n  architecture:\n    numHiddenLayers: 16\n    hiddenSize: 2048\n' +
      '    numAttentionHeads: 32\n    numKeyValueHeads: 8\n    vocabSize: 128256\n    paramsTotal: 1235814400\n    maxPositionEmbeddings: 131072\n';
    const [model] = load(modelDoc('small', spec)).models;
    expect(resolveModel(model!, catalog)).toMatchObject({
      id: 'meta-llama/Llama-3.1-8B-Instruct',
      headDim: 64,
      paramsKept16bit: 128256 * 2048,
      dtype: 'bf16',
      kvLayers: 16,
    });
  });

  it('is undefined for an unknown model without architecture', () => {
    const [model] = load(modelDoc('x', '  model: acme/x\n  memoryGiB: 10\n')).models;
    expect(resolveModel(model!, catalog)).toBeUndefined();
  });
});
