import { describe, expect, it } from 'vitest';
import { childName, INFERENCE_SERVICE_NAME_MAX, isDns1035Label, sanitizeLabelPart } from '../../constructs/names.ts';

describe('childName', () => {
  it('joins a model and a plain node name unchanged when it fits', () => {
    expect(childName('llama-8b', 'gpu-node-01')).toBe('llama-8b-gpu-node-01');
  });

  it('sanitises dotted node names and adds a hash so they cannot meet the dashed spelling', () => {
    const dotted = childName('llama-8b', 'gpu.node.01');
    expect(dotted).toMatch(/^llama-8b-gpu-node-01-[0-9a-f]{6}$/);
    expect(dotted).not.toBe(childName('llama-8b', 'gpu-node-01'));
  });

  it('truncates long names to the KServe limit and keeps them valid and distinct', () => {
    const a = childName('deepseek-r1-distill-qwen-32b', 'ip-10-0-1-23.us-west-2.compute.internal');
    const b = childName('deepseek-r1-distill-qwen-32b', 'ip-10-0-1-24.us-west-2.compute.internal');
    for (const name of [a, b]) {
      expect(name.length).toBeLessThanOrEqual(INFERENCE_SERVICE_NAME_MAX);
      expect(isDns1035Label(name, INFERENCE_SERVICE_NAME_MAX)).toBe(true);
    }
    expect(a).not.toBe(b);
  });

  it('depends only on its own model and node', () => {
    expect(childName('m', 'node-with-a-rather-long-name.example.com')).toBe(childName('m', 'node-with-a-rather-long-name.example.com'));
  });

  it('fails when the owner is not a DNS-1035 label', () => {
    expect(() => childName('8b-llama', 'n')).toThrowError('name owner must be a DNS-1035 label, got "8b-llama"');
  });
});

describe('sanitizeLabelPart', () => {
  it('lowercases and collapses every other character run into one dash', () => {
    expect(sanitizeLabelPart('GPU_Node..01.')).toBe('gpu-node-01');
  });
});
