import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../api/diagnostics.ts';
import type { LoadResult } from '../../api/load.ts';

/** The spec fixtures, relative to the working directory so that messages read like the CLI's. */
export const FIXTURES = path.relative(process.cwd(), fileURLToPath(new URL('../fixtures/specs', import.meta.url)));

export function lines(result: LoadResult): string[] {
  return result.diagnostics.map(formatDiagnostic);
}

/** A minimal valid spec as one text per kind, for tests that change one thing. */
export const FLEET = `apiVersion: gpusharing.aim/v1alpha1
kind: Fleet
metadata:
  name: lab
spec:
  images:
    vllm: docker.io/vllm/vllm-openai-rocm:v0.19.0@sha256:4b1f7c1a9d3e5f2b8c6a0d4e7f9b1c3a5d7e9f0b2c4d6e8f1a3b5c7d9e0f2a4b
    partitioner: ghcr.io/aim-gpu-sharing/partitioner:0.1.0@sha256:0c2e4a6b8d1f3e5a7c9b0d2f4a6c8e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c
`;

export const POOL = `apiVersion: gpusharing.aim/v1alpha1
kind: NodePool
metadata:
  name: mi300x
spec:
  gpu: MI300X
  nodes: [gpu-node-01, gpu-node-02]
`;

export const MODEL = `apiVersion: gpusharing.aim/v1alpha1
kind: Model
metadata:
  name: llama-8b
spec:
  model: meta-llama/Llama-3.1-8B-Instruct
  replicas: 2
`;

/** `fleet.yaml`, `pools.yaml` and `models.yaml` with the given texts (the valid ones by default). */
export function specTexts(overrides: { fleet?: string; pools?: string; models?: string } = {}) {
  return [
    { file: 'specs/fleet.yaml', text: overrides.fleet ?? FLEET },
    { file: 'specs/models.yaml', text: overrides.models ?? MODEL },
    { file: 'specs/pools.yaml', text: overrides.pools ?? POOL },
  ];
}
