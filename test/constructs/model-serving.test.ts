import { App, Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import type { FleetSpec, Model, Spec } from '../../api/types.ts';
import type { FleetChartsInput } from '../../constructs/fleet.ts';
import { FleetServing } from '../../constructs/fleet-serving.ts';
import { MODEL_LABEL, PROFILE_LABEL } from '../../constructs/labels.ts';
import { engineFlags, fleet, type K8sObject, LLAMA_REVISION, model, MODELS, type Placement, plan, pool, realisticInput } from './fixtures.ts';

function serve(input: FleetChartsInput): K8sObject[] {
  const chart = new Chart(new App(), 'serving', { disableResourceNameHashes: true });
  new FleetServing(chart, 'Serving', input);
  return chart.toJson() as K8sObject[];
}

const ofKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const byName = (objects: K8sObject[], name: string) => {
  const found = objects.find((o) => o.metadata.name === name);
  if (!found) throw new Error(`no object ${name} among ${objects.map((o) => o.metadata.name).join(', ')}`);
  return found;
};
const withFleet = (input: FleetChartsInput, fleetSpec: Partial<FleetSpec>): FleetChartsInput => ({
  ...input,
  spec: { ...input.spec, fleet: fleet(fleetSpec) },
});

describe('FleetServing with device plugin isolation', () => {
  const objects = serve(realisticInput());
  const isvcs = ofKind(objects, 'InferenceService');

  it('serves each replica with its own single-pod InferenceService, pinned to its node and profile', () => {
    expect(isvcs.map((o) => o.metadata.name).sort()).toEqual(['llama-70b-0', 'llama-70b-1', 'llama-8b-0', 'llama-8b-1', 'llama-8b-2', 'qwen-32b-0']);
    const llama = byName(isvcs, 'llama-8b-0');
    expect([llama.spec.predictor.minReplicas, llama.spec.predictor.maxReplicas]).toEqual([1, 1]);
    expect(llama.spec.predictor.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'gpu-node-01', [PROFILE_LABEL]: 'cpx-nps4' });
    const big = isvcs.filter((o) => o.metadata.labels?.[MODEL_LABEL] === 'llama-70b');
    expect(big.map((o) => o.spec.predictor.nodeSelector['kubernetes.io/hostname'])).toEqual(['gpu-node-02.dc1.example.com', 'gpu-node-02.dc1.example.com']);
  });

  it('recreates a replica whose plan says nothing about its rollout, and surges one the plan moves', () => {
    expect(byName(isvcs, 'llama-8b-0').spec.predictor.deploymentStrategy).toEqual({ type: 'Recreate' });
    const input = realisticInput();
    const replicas = input.plan.replicas.map((r) => (r.id === 'llama-8b#1' ? { ...r, rollout: { strategy: 'surge' as const, inputs: '0123456789abcdef' } } : r));
    const served = ofKind(serve({ ...input, plan: { ...input.plan, replicas } }), 'InferenceService');
    expect(byName(served, 'llama-8b-1').spec.predictor.deploymentStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(byName(served, 'llama-8b-0').spec.predictor.deploymentStrategy).toEqual({ type: 'Recreate' });
  });

  it('realises every placed replica exactly once, on its planned node', () => {
    const { plan: planned } = realisticInput();
    const expected = new Map<string, number>();
    for (const r of planned.replicas) expected.set(`${r.model}@${r.node}`, (expected.get(`${r.model}@${r.node}`) ?? 0) + 1);
    const actual = new Map<string, number>();
    for (const isvc of isvcs) {
      const key = `${isvc.metadata.labels![MODEL_LABEL]}@${isvc.spec.predictor.nodeSelector['kubernetes.io/hostname']}`;
      actual.set(key, (actual.get(key) ?? 0) + isvc.spec.predictor.minReplicas);
    }
    expect(actual).toEqual(expected);
  });

  it('requests the planned partitions, equal in requests and limits', () => {
    const qwen = byName(isvcs, 'qwen-32b-0').spec.predictor.model;
    expect(qwen.resources.requests).toEqual({ 'amd.com/gpu': '2', cpu: '4', memory: '27Gi' });
    expect(qwen.resources.limits).toEqual(qwen.resources.requests);
  });

  it('derives the engine flags from the plan and sizing, then appends the model’s own args', () => {
    expect(byName(isvcs, 'llama-8b-0').spec.predictor.model.args).toEqual([
      '--served-model-name=llama-8b',
      '--max-model-len=8192',
      '--tensor-parallel-size=1',
      '--gpu-memory-utilization=0.85',
      '--max-num-batched-tokens=2048',
      '--max-num-seqs=256',
      '--dtype=bfloat16',
      '--enable-prefix-caching',
    ]);
    expect(byName(isvcs, 'qwen-32b-0').spec.predictor.model.args).toEqual([
      '--served-model-name=qwen-32b',
      '--max-model-len=16384',
      '--tensor-parallel-size=2',
      '--gpu-memory-utilization=0.91',
      '--max-num-batched-tokens=2048',
      '--max-num-seqs=256',
      '--dtype=bfloat16',
      '--quantization=fp8',
      '--kv-cache-dtype=fp8',
    ]);
  });

  it('pins the Hugging Face revision in the storage URI when the spec names one', () => {
    expect(byName(isvcs, 'llama-8b-0').spec.predictor.model.storageUri).toBe(`hf://meta-llama/Llama-3.1-8B-Instruct:${LLAMA_REVISION}`);
    expect(byName(isvcs, 'qwen-32b-0').spec.predictor.model.storageUri).toBe('hf://Qwen/Qwen2.5-32B-Instruct');
  });

  it('serves each replica the checkpoint of its planned precision: a pre-quantized one pinned by its own revision, else spec.model', () => {
    const awq = 'hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4';
    const llama = model('llama-8b', { ...MODELS.llama8b.spec, precision: 'auto', allowedPrecisions: ['bf16', 'int4'], checkpoints: { int4: `${awq}:5a38f1c` } });
    const placements: Placement[] = [
      { id: 'llama-8b#0', node: 'n1', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[0, 0]] },
      { id: 'llama-8b#1', node: 'n1', precision: 'int4', memoryGiB: 8.1, gpuMemoryUtilization: 0.4, partitions: [[0, 1]] },
    ];
    const spec: Spec = { fleet: fleet(), pools: [pool('mi300x', { nodes: ['n1'] })], models: [llama] };
    const served = ofKind(serve({ spec, plan: plan([{ name: 'n1', pool: 'mi300x', profile: 'CPX-NPS4', gpus: 1 }], placements), maxModelLen: new Map([['llama-8b', 8192]]), engineFlags }), 'InferenceService');
    expect(served).toHaveLength(2);
    const byPrecision = new Map(served.map((isvc) => [isvc.spec.predictor.model.args.includes('--dtype=float16') ? 'int4' : 'bf16', isvc.spec.predictor.model]));
    expect(byPrecision.get('int4')!.storageUri).toBe(`hf://${awq}:5a38f1c`);
    expect(byPrecision.get('int4')!.env).toContainEqual({ name: 'VLLM_USE_TRITON_AWQ', value: '1' });
    expect(byPrecision.get('bf16')!.env).not.toContainEqual({ name: 'VLLM_USE_TRITON_AWQ', value: '1' });
    expect(byPrecision.get('bf16')!.storageUri).toBe(`hf://meta-llama/Llama-3.1-8B-Instruct:${LLAMA_REVISION}`);
  });

  it('fails on a checkpoint that is not <owner>/<name>, naming the field', () => {
    const llama = model('llama-8b', { ...MODELS.llama8b.spec, precision: 'int4', checkpoints: { int4: 'hugging-quants/awq/main' } });
    const placements: Placement[] = [{ id: 'llama-8b#0', node: 'n1', precision: 'int4', memoryGiB: 8.1, gpuMemoryUtilization: 0.4, partitions: [[0, 0]] }];
    const spec: Spec = { fleet: fleet(), pools: [pool('mi300x', { nodes: ['n1'] })], models: [llama] };
    const input = { spec, plan: plan([{ name: 'n1', pool: 'mi300x', profile: 'CPX-NPS4', gpus: 1 }], placements), maxModelLen: new Map([['llama-8b', 8192]]), engineFlags };
    expect(() => serve(input)).toThrowError(/spec\.checkpoints\.int4: model id must be "<owner>\/<name>", got "hugging-quants\/awq\/main"/);
  });

  it('runs under the model tier’s PriorityClass and tolerates the pool’s taints', () => {
    const llama = byName(isvcs, 'llama-8b-0').spec.predictor;
    expect(llama.priorityClassName).toBe('aim-high');
    expect(llama.tolerations).toEqual([{ key: 'amd.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(byName(isvcs, 'qwen-32b-0').spec.predictor.priorityClassName).toBe('aim-medium');
  });

  it('tolerates a taint with a value by equality', () => {
    const input = realisticInput();
    const tainted = { ...input, spec: { ...input.spec, pools: [pool('mi300x', { taints: [{ key: 'dedicated', value: 'llm', effect: 'NoExecute' }] })] } };
    expect(byName(serve(tainted), 'qwen-32b-0').spec.predictor.tolerations).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'llm', effect: 'NoExecute' },
    ]);
  });

  it('fronts every model with one Service selecting all of its pods', () => {
    const service = byName(ofKind(objects, 'Service'), 'llama-8b');
    expect(service.spec.selector).toEqual({ [MODEL_LABEL]: 'llama-8b' });
    expect(service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 8080, protocol: 'TCP' }]);
    for (const isvc of isvcs) expect(isvc.spec.predictor.labels[MODEL_LABEL]).toBe(isvc.metadata.labels![MODEL_LABEL]);
  });

  it('passes the Hugging Face token only as a Secret reference', () => {
    const env = byName(isvcs, 'llama-8b-0').spec.predictor.model.env;
    expect(env).toContainEqual({ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf-token', key: 'HF_TOKEN' } } });
    expect(byName(ofKind(objects, 'ServiceAccount'), 'aim-model-server').secrets).toEqual([{ name: 'hf-token' }]);
  });

  it('mentions no token at all when the fleet has none', () => {
    const objects = serve(withFleet(realisticInput(), { huggingFaceToken: undefined }));
    expect(JSON.stringify(objects)).not.toContain('HF_TOKEN');
    expect(byName(objects, 'aim-model-server').secrets).toBeUndefined();
  });

  it('keeps a model’s Service but creates no InferenceService when none of its replicas is placed', () => {
    const input = realisticInput();
    const idle = model('idle', { model: 'org/idle-model', replicas: 0 });
    const objects = serve({ ...input, spec: { ...input.spec, models: [...input.spec.models, idle] }, maxModelLen: new Map([...input.maxModelLen, ['idle', 4096]]) });
    expect(objects.filter((o) => o.metadata.name.startsWith('idle'))).toEqual([expect.objectContaining({ kind: 'Service', metadata: expect.objectContaining({ name: 'idle' }) })]);
  });
});

describe('FleetServing with mixed resource naming', () => {
  it('requests the partition profile’s resource and declares it to KServe', () => {
    const isvc = byName(serve(withFleet(realisticInput(), { deviceResourceNaming: 'mixed' })), 'qwen-32b-0');
    expect(isvc.spec.predictor.model.resources.limits['amd.com/cpx_nps4']).toBe('2');
    expect(isvc.spec.predictor.model.resources.limits['amd.com/gpu']).toBeUndefined();
    expect(isvc.metadata.annotations!['serving.kserve.io/gpu-resource-types']).toBe('["amd.com/cpx_nps4"]');
  });

  it('requests each replica’s own partition size on a mixed node', () => {
    const spec: Spec = { fleet: fleet({ deviceResourceNaming: 'mixed' }), pools: [pool('mi300x', { allowMixedProfiles: true })], models: [MODELS.llama8b] };
    const placements: Placement[] = [
      { id: 'llama-8b#0', node: 'n1', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.12, partitions: [[0, 0]] },
      { id: 'llama-8b#1', node: 'n1', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[1, 0]] },
      { id: 'llama-8b#2', node: 'n1', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[1, 1]] },
    ];
    const input = { spec, plan: plan([{ name: 'n1', pool: 'mi300x', profile: ['SPX-NPS1', 'CPX-NPS1'], gpus: 2 }], placements), maxModelLen: new Map([['llama-8b', 8192]]), engineFlags };
    const isvcs = ofKind(serve(input), 'InferenceService');
    const shapes = isvcs.map((o) => [Object.keys(o.spec.predictor.model.resources.limits).find((k) => k.startsWith('amd.com/')), o.spec.predictor.minReplicas]);
    expect(shapes.sort()).toEqual([['amd.com/cpx_nps1', 1], ['amd.com/cpx_nps1', 1], ['amd.com/spx_nps1', 1]]);
    expect(isvcs.map((o) => o.metadata.name)).toEqual(['llama-8b-0', 'llama-8b-1', 'llama-8b-2']);
  });

  it('fails when a mixed node must be requested with single naming', () => {
    const spec: Spec = { fleet: fleet(), pools: [pool('mi300x')], models: [MODELS.llama8b] };
    const placements: Placement[] = [{ id: 'llama-8b#0', node: 'n1', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[1, 0]] }];
    const input = { spec, plan: plan([{ name: 'n1', pool: 'mi300x', profile: ['SPX-NPS1', 'CPX-NPS1'], gpus: 2 }], placements), maxModelLen: new Map([['llama-8b', 8192]]), engineFlags };
    expect(() => serve(input)).toThrowError(
      'serving/Serving/Models/llama-8b: node n1 mixes partition profiles, which devicePlugin isolation can only request with deviceResourceNaming: mixed',
    );
  });
});

describe('FleetServing with env isolation', () => {
  const objects = serve(withFleet(realisticInput(), { isolation: 'env' }));
  const isvcs = ofKind(objects, 'InferenceService');

  it('creates one single-pod InferenceService per replica', () => {
    expect(isvcs.map((o) => o.metadata.name).sort()).toEqual(['llama-70b-0', 'llama-70b-1', 'llama-8b-0', 'llama-8b-1', 'llama-8b-2', 'qwen-32b-0']);
    for (const isvc of isvcs) expect([isvc.spec.predictor.minReplicas, isvc.spec.predictor.maxReplicas]).toEqual([1, 1]);
  });

  it('points each pod at its exact planned partitions', () => {
    const visible = (name: string) =>
      Object.fromEntries(
        byName(isvcs, name)
          .spec.predictor.model.env.filter((e: { name: string }) => e.name.endsWith('_VISIBLE_DEVICES'))
          .map((e: { name: string; value: string }) => [e.name, e.value]),
      );
    expect(visible('llama-8b-0')).toEqual({ ROCR_VISIBLE_DEVICES: '0', HIP_VISIBLE_DEVICES: '0' });
    expect(visible('llama-8b-1')).toEqual({ ROCR_VISIBLE_DEVICES: '1', HIP_VISIBLE_DEVICES: '0' });
    expect(visible('llama-8b-2')).toEqual({ ROCR_VISIBLE_DEVICES: '8', HIP_VISIBLE_DEVICES: '0' });
    expect(visible('qwen-32b-0')).toEqual({ ROCR_VISIBLE_DEVICES: '16,17', HIP_VISIBLE_DEVICES: '0,1' });
    expect(visible('llama-70b-1')).toEqual({ ROCR_VISIBLE_DEVICES: '1', HIP_VISIBLE_DEVICES: '0' });
  });

  it('requests no device plugin resource and mounts only the GPU device nodes', () => {
    for (const isvc of isvcs) {
      const { predictor } = isvc.spec;
      expect(Object.keys(predictor.model.resources.limits).sort()).toEqual(['cpu', 'memory']);
      expect(predictor.volumes).toEqual([
        { name: 'kfd', hostPath: { path: '/dev/kfd', type: 'CharDevice' } },
        { name: 'dri', hostPath: { path: '/dev/dri', type: 'Directory' } },
      ]);
      expect(predictor.model.volumeMounts).toEqual([{ name: 'kfd', mountPath: '/dev/kfd' }, { name: 'dri', mountPath: '/dev/dri' }]);
    }
  });

  it('fails when a model’s env would override the isolation variables', () => {
    const input = withFleet(realisticInput(), { isolation: 'env' });
    const sneaky = model('llama-8b', { ...MODELS.llama8b.spec, env: { HIP_VISIBLE_DEVICES: '0,1,2,3' } });
    expect(() => serve({ ...input, spec: { ...input.spec, models: [MODELS.llama70b, sneaky, MODELS.qwen32b] } })).toThrowError(
      'serving/Serving/Models/llama-8b: spec.env must not set HIP_VISIBLE_DEVICES: the compiler sets them',
    );
  });
});

describe('FleetServing names', () => {
  it('keeps every existing object unchanged when another model and node are added', () => {
    const before = realisticInput();
    const extra = model('mistral-24b', { model: 'mistralai/Mistral-Small-3.2-24B-Instruct-2506' });
    const layouts = [
      { name: 'gpu-node-01', pool: 'mi300x', profile: 'CPX-NPS4' as const, gpus: 8 },
      { name: 'gpu-node-00', pool: 'mi300x', profile: 'QPX-NPS4' as const, gpus: 8 },
      { name: 'gpu-node-02.dc1.example.com', pool: 'mi300x', profile: 'SPX-NPS1' as const, gpus: 8 },
    ];
    const placements: Placement[] = [
      ...before.plan.replicas.map((r) => ({ ...r, partitions: r.partitions.map((p) => [p.gpu, p.partition] as const) })),
      { id: 'mistral-24b#0', node: 'gpu-node-00', precision: 'bf16', memoryGiB: 47, gpuMemoryUtilization: 0.95, partitions: [[0, 0], [0, 1]] },
    ];
    const after: FleetChartsInput = {
      ...before,
      spec: { ...before.spec, models: [...before.spec.models, extra] },
      plan: plan(layouts, placements),
      maxModelLen: new Map([...before.maxModelLen, ['mistral-24b', 8192]]),
    };
    const afterObjects = new Map(serve(after).map((o) => [`${o.kind}/${o.metadata.name}`, o]));
    const beforeObjects = serve(before);
    for (const object of beforeObjects) expect(afterObjects.get(`${object.kind}/${object.metadata.name}`)).toEqual(object);
    expect(afterObjects.size).toBe(beforeObjects.length + 2);
  });

  it('fails when two models’ derived names meet', () => {
    // Replica a#1 is InferenceService a-1, whose Service KServe may name a-1: model a-1's Service.
    const spec: Spec = { fleet: fleet(), pools: [pool('p')], models: [model('a', { model: 'o/a' }), model('a-1', { model: 'o/ab' })] };
    const placements: Placement[] = [
      { id: 'a#0', node: 'c', precision: 'bf16', memoryGiB: 10, gpuMemoryUtilization: 0.5, partitions: [[0, 0]] },
      { id: 'a#1', node: 'c', precision: 'bf16', memoryGiB: 10, gpuMemoryUtilization: 0.5, partitions: [[1, 0]] },
      { id: 'a-1#0', node: 'c', precision: 'bf16', memoryGiB: 10, gpuMemoryUtilization: 0.5, partitions: [[2, 0]] },
    ];
    const layouts = [{ name: 'c', pool: 'p', profile: 'SPX-NPS1' as const, gpus: 4 }];
    expect(() => serve({ spec, plan: plan(layouts, placements), maxModelLen: new Map([['a', 4096], ['a-1', 4096]]), engineFlags })).toThrowError(
      /both need the name "Service\/a-1"/,
    );
  });
});

describe('FleetServing validation', () => {
  const withModel = (replacement: Model): FleetChartsInput => {
    const input = realisticInput();
    return { ...input, spec: { ...input.spec, models: input.spec.models.map((m) => (m.metadata.name === replacement.metadata.name ? replacement : m)) } };
  };

  it('fails when the vLLM image is not pinned by digest', () => {
    expect(() => serve(withFleet(realisticInput(), { images: { vllm: 'vllm/vllm-openai-rocm:latest', partitioner: 'p' } }))).toThrowError(
      'serving/Serving/Runtime/Vllm: the vLLM image must be pinned by digest (…@sha256:<64 hex>), got "vllm/vllm-openai-rocm:latest"',
    );
  });

  it('fails when a model asks for a runtime the fleet has no image for', () => {
    expect(() => serve(withModel(model('qwen-32b', { ...MODELS.qwen32b.spec, runtime: 'sglang' })))).toThrowError(
      'serving/Serving/Models/qwen-32b: runtime "sglang" is not supported yet: the fleet has no image for it, only images.vllm',
    );
  });

  it('fails when the token Secret key is one KServe’s storage initializer does not read', () => {
    expect(() => serve(withFleet(realisticInput(), { huggingFaceToken: { name: 'hf', key: 'token' } }))).toThrowError(
      'serving/Serving/Runtime/ServiceAccount: KServe\'s storage initializer reads the Hugging Face token only from the Secret key "HF_TOKEN", got key "token" of Secret "hf"',
    );
  });

  it('fails when a model carries a token in plain env', () => {
    expect(() => serve(withModel(model('qwen-32b', { ...MODELS.qwen32b.spec, env: { HF_TOKEN: 'hf_abc' } })))).toThrowError(
      'serving/Serving/Models/qwen-32b: spec.env must not set HF_TOKEN: the compiler sets them',
    );
  });

  it('fails when a model’s args repeat a derived flag, in any spelling', () => {
    for (const args of [['--tensor-parallel-size=2'], ['--max_model_len', '4096'], ['-tp', '2']]) {
      expect(() => serve(withModel(model('qwen-32b', { ...MODELS.qwen32b.spec, args })))).toThrowError(/spec\.args must not repeat --(tensor-parallel-size|max-model-len): the compiler derives them/);
    }
  });

  it('fails when the model id is not an owner/name pair', () => {
    expect(() => serve(withModel(model('qwen-32b', { ...MODELS.qwen32b.spec, model: 'qwen-32b' })))).toThrowError(
      'serving/Serving/Models/qwen-32b: spec.model: model id must be "<owner>/<name>", got "qwen-32b"',
    );
  });

  it('fails when a model has no resolved max model length', () => {
    expect(() => serve({ ...realisticInput(), maxModelLen: new Map() })).toThrowError('serving/Serving: no resolved maxModelLen for model "llama-70b"');
  });

  it('fails when a replica is placed on a node the plan does not describe', () => {
    const input = realisticInput();
    const replicas = input.plan.replicas.map((r) => (r.id === 'qwen-32b#0' ? { ...r, node: 'gone' } : r));
    expect(() => serve({ ...input, plan: { ...input.plan, replicas } })).toThrowError(
      'serving/Serving/Models/qwen-32b: replica qwen-32b#0 is placed on node "gone", which the plan does not have',
    );
  });
});
