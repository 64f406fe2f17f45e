import { describe, expect, it } from 'vitest';
import { profileLabelValue } from '../../constructs/labels.ts';
import {
  nodePartitionProfile,
  partitionPlanProblems,
  partitionProfilesData,
} from '../../constructs/partition-profiles.ts';
import { nodePool, planNode, uniformNode } from './fixtures.ts';

const CONTEXT = { deviceResourceNaming: 'single', isolation: 'devicePlugin', replicas: [] } as const;

describe('nodePartitionProfile', () => {
  it('counts the partitions of every GPU from the catalog', () => {
    expect(nodePartitionProfile(uniformNode('apu-1', 'mi300a', 'CPX-NPS1', 4, 'MI300A'), CONTEXT)).toMatchObject({
      profile: 'CPX-NPS1',
      partitions: 24,
    });
    expect(nodePartitionProfile(planNode('gpu-a', 'mi300x', ['SPX-NPS1', 'QPX-NPS1', 'CPX-NPS1']), CONTEXT)).toEqual({
      label: profileLabelValue(planNode('gpu-a', 'mi300x', ['SPX-NPS1', 'QPX-NPS1', 'CPX-NPS1'])),
      profile: 'mixed',
      partitions: 13,
      gpus: ['SPX-NPS1', 'QPX-NPS1', 'CPX-NPS1'],
      allocatable: { 'amd.com/gpu': 13 },
      replicas: {},
    });
  });

  it('expects the allocatable the device plugin advertises under each naming, and none without it', () => {
    const node = planNode('gpu-a', 'mi300x', ['SPX-NPS1', 'CPX-NPS1', 'CPX-NPS1']);
    expect(nodePartitionProfile(node, CONTEXT).allocatable).toEqual({ 'amd.com/gpu': 17 });
    expect(nodePartitionProfile(node, { ...CONTEXT, deviceResourceNaming: 'mixed' }).allocatable).toEqual({ 'amd.com/cpx_nps1': 16, 'amd.com/spx_nps1': 1 });
    expect(nodePartitionProfile(node, { ...CONTEXT, isolation: 'env' }).allocatable).toEqual({});
  });

  it('lists the ordinals of the replicas placed on the node, by model, sorted', () => {
    const replica = (id: string, node: string) => ({ id, model: id.split('#')[0]!, node, precision: 'bf16', tensorParallel: 1, memoryGiB: 1, gpuMemoryUtilization: 0.5, maxNumBatchedTokens: 2048, maxNumSeqs: 256, partitions: [] }) as const;
    const replicas = [replica('b#0', 'gpu-a'), replica('a#0', 'gpu-a'), replica('a#1', 'gpu-b'), replica('a#2', 'gpu-a')];
    expect(nodePartitionProfile(uniformNode('gpu-a', 'mi300x', 'SPX-NPS1'), { ...CONTEXT, replicas }).replicas).toEqual({ a: [0, 2], b: [0] });
    expect(nodePartitionProfile(uniformNode('gpu-b', 'mi300x', 'SPX-NPS1'), { ...CONTEXT, replicas }).replicas).toEqual({ a: [1] });
  });

  it('labels a uniform node with its lower-case profile', () => {
    expect(nodePartitionProfile(uniformNode('gpu-a', 'mi300x', 'SPX-NPS1'), CONTEXT).label).toBe('spx-nps1');
  });
});

describe('partitionProfilesData', () => {
  it('keys one JSON line per node, sorted by node name', () => {
    const data = partitionProfilesData([uniformNode('gpu-b', 'p', 'SPX-NPS1', 1), uniformNode('gpu-a', 'p', 'CPX-NPS4', 1)], CONTEXT);
    expect(data).toEqual({
      'gpu-a': '{"label":"cpx-nps4","profile":"CPX-NPS4","partitions":8,"gpus":["CPX-NPS4"],"allocatable":{"amd.com/gpu":8},"replicas":{}}',
      'gpu-b': '{"label":"spx-nps1","profile":"SPX-NPS1","partitions":1,"gpus":["SPX-NPS1"],"allocatable":{"amd.com/gpu":1},"replicas":{}}',
    });
  });
});

describe('partitionPlanProblems', () => {
  const pools = [nodePool('mi300x', ['gpu-a', 'GPU_B'])];

  it('finds nothing wrong with a consistent plan', () => {
    expect(partitionPlanProblems(pools, [uniformNode('gpu-a', 'mi300x', 'CPX-NPS4')])).toEqual([]);
  });

  it('fails when GPUs are missing, out of order or the node name is not a hostname', () => {
    const node = uniformNode('GPU_B', 'mi300x', 'SPX-NPS1', 2);
    const reordered = { ...node, gpus: [...node.gpus].reverse() };
    expect(partitionPlanProblems(pools, [reordered, { ...uniformNode('gpu-a', 'mi300x', 'SPX-NPS1'), gpus: [] }])).toEqual([
      'node "GPU_B": not a valid kubernetes.io/hostname',
      'node "GPU_B": GPU at position 0 has index 1; GPUs must be listed 0..n-1',
      'node "GPU_B": GPU at position 1 has index 0; GPUs must be listed 0..n-1',
      'node "gpu-a": has no GPUs',
    ]);
  });
});
