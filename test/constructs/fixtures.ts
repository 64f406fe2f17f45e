import { App } from 'cdk8s';
import type { ComputeMode, FleetSpec, MemoryMode, Precision, Spec } from '../../api/types.ts';
import { buildFleetCharts, type FleetChartsInput } from '../../constructs/fleet.ts';
import type { Plan, PlanNode, PlanReplica } from '../../planner/types.ts';

/** Hand-made specs and plans for construct tests (the real pipeline is tested end to end elsewhere). */

import { fleet, model, pool } from '../support/resources.ts';

export { fleet, model, PARTITIONER_IMAGE, pool, VLLM_IMAGE } from '../support/resources.ts';

/** Partitions per MI300X GPU in each compute mode. */
const PARTITIONS: Readonly<Record<ComputeMode, number>> = { SPX: 1, DPX: 2, TPX: 3, QPX: 4, CPX: 8 };

export interface NodeLayout {
  readonly name: string;
  readonly pool: string;
  /** One profile for the whole node, or one per GPU (a mixed node). */
  readonly profile: `${ComputeMode}-${MemoryMode}` | ReadonlyArray<`${ComputeMode}-${MemoryMode}`>;
  readonly gpus: number;
}

export interface Placement {
  readonly id: string;
  readonly node: string;
  readonly precision: Precision;
  readonly memoryGiB: number;
  readonly gpuMemoryUtilization: number;
  /** `[gpu, partition]` pairs; tensor parallelism is their count. */
  readonly partitions: ReadonlyArray<readonly [number, number]>;
  /** The replica's KV cache in tokens; absent as for a model known only by its memory. */
  readonly kvCacheTokens?: number;
}

/** A plan with the given nodes and placements (partitions point back at their replicas). */
export function plan(layouts: readonly NodeLayout[], placements: readonly Placement[]): Plan {
  const holder = new Map<string, string>();
  for (const p of placements) for (const [g, i] of p.partitions) holder.set(`${p.node}/${g}/${i}`, p.id);
  const nodes: PlanNode[] = layouts.map((layout) => {
    const profiles = Array.from({ length: layout.gpus }, (_, g) => (typeof layout.profile === 'string' ? layout.profile : layout.profile[g]!));
    const gpus = profiles.map((name, g) => {
      const [compute, memory] = name.split('-') as [ComputeMode, MemoryMode];
      const count = PARTITIONS[compute];
      return {
        index: g,
        profile: { compute, memory },
        partitions: Array.from({ length: count }, (_, i) => {
          const replica = holder.get(`${layout.name}/${g}/${i}`);
          return { index: i, memoryGiB: 192 / count, computeUnits: 304 / count, ...(replica ? { replica } : {}) };
        }),
      };
    });
    return { name: layout.name, pool: layout.pool, gpu: 'MI300X', profile: gpus[0]!.profile, mixed: new Set(profiles).size > 1, gpus };
  });
  const replicas: PlanReplica[] = [...placements]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((p) => ({
      id: p.id,
      model: p.id.split('#')[0]!,
      node: p.node,
      precision: p.precision,
      tensorParallel: p.partitions.length,
      memoryGiB: p.memoryGiB,
      gpuMemoryUtilization: p.gpuMemoryUtilization,
      maxNumBatchedTokens: 2048,
      maxNumSeqs: 256,
      partitions: p.partitions.map(([gpu, partition]) => ({ gpu, partition })),
      ...(p.kvCacheTokens === undefined ? {} : { kvCacheTokens: p.kvCacheTokens }),
    }));
  return {
    apiVersion: 'gpusharing.aim/v1alpha1',
    kind: 'Plan',
    nodes,
    replicas,
    unschedulable: [],
    models: [],
    summary: {
      gpus: nodes.reduce((n, node) => n + node.gpus.length, 0),
      gpusUsed: 0, lowerBound: 0, nodesUsed: nodes.length, replicas: replicas.length, placed: replicas.length,
      kvCacheGiB: 0, kvHeadroomGiB: 0, replicaMoves: 0, profileChanges: 0, spreadGpus: 0, optimizer: 'heuristic',
    },
  };
}

/** Stands in for sizing's `engineFlags` (tokens as sizing emits them). */
export function engineFlags(_model: string, precision: Precision): string[] {
  if (precision === 'fp8') return ['--dtype', 'bfloat16', '--quantization', 'fp8', '--kv-cache-dtype', 'fp8'];
  return ['--dtype', precision === 'fp16' || precision === 'int4' ? 'float16' : 'bfloat16'];
}

export const LLAMA_REVISION = '0e9e39f249a16976918f6564b8830bc894c89659';

export const MODELS = {
  llama8b: model('llama-8b', {
    model: 'meta-llama/Llama-3.1-8B-Instruct',
    revision: LLAMA_REVISION,
    precision: 'bf16',
    replicas: 3,
    priority: 'high',
    args: ['--enable-prefix-caching'],
    env: { VLLM_ROCM_USE_AITER: '1' },
  }),
  qwen32b: model('qwen-32b', { model: 'Qwen/Qwen2.5-32B-Instruct', precision: 'fp8', tensorParallel: 2 }),
  llama70b: model('llama-70b', { model: 'meta-llama/Llama-3.3-70B-Instruct', precision: 'bf16', replicas: 2, priority: 'critical' }),
};

/** A realistic fleet: a CPX-NPS4 node packing small models and an SPX node for a large one. */
export function realisticInput(fleetSpec: Partial<FleetSpec> = {}): FleetChartsInput {
  const spec: Spec = {
    fleet: fleet(fleetSpec),
    pools: [pool('mi300x', { nodes: ['gpu-node-01', 'gpu-node-02.dc1.example.com'] })],
    models: [MODELS.llama70b, MODELS.llama8b, MODELS.qwen32b],
  };
  const layouts: NodeLayout[] = [
    { name: 'gpu-node-01', pool: 'mi300x', profile: 'CPX-NPS4', gpus: 8 },
    { name: 'gpu-node-02.dc1.example.com', pool: 'mi300x', profile: 'SPX-NPS1', gpus: 8 },
  ];
  const placements: Placement[] = [
    { id: 'llama-8b#0', node: 'gpu-node-01', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[0, 0]] },
    { id: 'llama-8b#1', node: 'gpu-node-01', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[0, 1]] },
    { id: 'llama-8b#2', node: 'gpu-node-01', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[1, 0]] },
    { id: 'qwen-32b#0', node: 'gpu-node-01', precision: 'fp8', memoryGiB: 41.2, gpuMemoryUtilization: 0.91, partitions: [[2, 0], [2, 1]] },
    { id: 'llama-70b#0', node: 'gpu-node-02.dc1.example.com', precision: 'bf16', memoryGiB: 150.3, gpuMemoryUtilization: 0.83, partitions: [[0, 0]] },
    { id: 'llama-70b#1', node: 'gpu-node-02.dc1.example.com', precision: 'bf16', memoryGiB: 150.3, gpuMemoryUtilization: 0.83, partitions: [[1, 0]] },
  ];
  return { spec, plan: plan(layouts, placements), maxModelLen: new Map([['llama-8b', 8192], ['qwen-32b', 16384], ['llama-70b', 8192]]), engineFlags };
}

/** A small fleet for the reviewable YAML snapshot: one node, two models, Argo CD only. */
export function smallInput(): FleetChartsInput {
  const spec: Spec = {
    fleet: fleet({ gitops: { argocd: fleet().spec.gitops.argocd } }),
    pools: [pool('mi300x', { nodes: ['gpu-node-01'] })],
    models: [MODELS.llama8b, MODELS.qwen32b],
  };
  const placements: Placement[] = [
    { id: 'llama-8b#0', node: 'gpu-node-01', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[0, 0]] },
    { id: 'llama-8b#1', node: 'gpu-node-01', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[0, 1]] },
    { id: 'qwen-32b#0', node: 'gpu-node-01', precision: 'fp8', memoryGiB: 41.2, gpuMemoryUtilization: 0.91, partitions: [[1, 0], [1, 1]] },
  ];
  return {
    spec,
    plan: plan([{ name: 'gpu-node-01', pool: 'mi300x', profile: 'CPX-NPS4', gpus: 2 }], placements),
    maxModelLen: new Map([['llama-8b', 8192], ['qwen-32b', 16384]]),
    engineFlags,
  };
}

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly spec?: any;
  readonly [key: string]: any;
}

/** Builds the fleet's charts and returns each chart's objects by chart id, in chart order. */
export function synthFleet(input: FleetChartsInput): Map<string, K8sObject[]> {
  const app = new App({ recordConstructMetadata: false });
  buildFleetCharts(app, input);
  return new Map(app.charts.map((chart) => [chart.node.id, chart.toJson() as K8sObject[]]));
}
