import { describe, expect, it } from 'vitest';
import { logicalDeviceIndices, partitionResourceName } from '../../constructs/gpu-devices.ts';
import { plan } from './fixtures.ts';

const cpxNode = plan([{ name: 'n1', pool: 'p', profile: 'CPX-NPS4', gpus: 8 }], []).nodes[0]!;
const mixedNode = plan([{ name: 'n2', pool: 'p', profile: ['SPX-NPS1', 'CPX-NPS1', 'CPX-NPS1'], gpus: 3 }], []).nodes[0]!;

describe('logicalDeviceIndices', () => {
  it('counts every partition of the GPUs before the replica’s GPU', () => {
    expect(logicalDeviceIndices(cpxNode, [{ gpu: 0, partition: 3 }])).toEqual([3]);
    expect(logicalDeviceIndices(cpxNode, [{ gpu: 2, partition: 6 }, { gpu: 2, partition: 7 }])).toEqual([22, 23]);
    expect(logicalDeviceIndices(cpxNode, [{ gpu: 7, partition: 7 }])).toEqual([63]);
  });

  it('uses each GPU’s own partition count on a mixed node', () => {
    expect(logicalDeviceIndices(mixedNode, [{ gpu: 2, partition: 0 }])).toEqual([9]);
  });

  it('fails when the plan names a partition the node does not have', () => {
    expect(() => logicalDeviceIndices(cpxNode, [{ gpu: 1, partition: 8 }])).toThrowError('GPU 1 of node n1 has no partition 8');
    expect(() => logicalDeviceIndices(cpxNode, [{ gpu: 9, partition: 0 }])).toThrowError('node n1 has no GPU 9');
  });
});

describe('partitionResourceName', () => {
  it('is amd.com/gpu with single naming', () => {
    expect(partitionResourceName(cpxNode, [{ gpu: 0, partition: 0 }], 'single')).toBe('amd.com/gpu');
  });

  it('is the lowercased profile of the partitions’ GPU with mixed naming', () => {
    expect(partitionResourceName(cpxNode, [{ gpu: 0, partition: 0 }], 'mixed')).toBe('amd.com/cpx_nps4');
    expect(partitionResourceName(mixedNode, [{ gpu: 0, partition: 0 }], 'mixed')).toBe('amd.com/spx_nps1');
    expect(partitionResourceName(mixedNode, [{ gpu: 1, partition: 0 }, { gpu: 2, partition: 0 }], 'mixed')).toBe('amd.com/cpx_nps1');
  });

  it('fails when one replica’s partitions are advertised under different resources', () => {
    expect(() => partitionResourceName(mixedNode, [{ gpu: 0, partition: 0 }, { gpu: 1, partition: 0 }], 'mixed')).toThrowError(
      'partitions 0/0, 1/0 on node n2 span resources amd.com/cpx_nps1, amd.com/spx_nps1',
    );
  });
});
