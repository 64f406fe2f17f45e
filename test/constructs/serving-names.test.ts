import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../api/diagnostics.ts';
import { loadSpecTexts } from '../../api/load.ts';
import { servingNameCollisions } from '../../constructs/serving-names.ts';
import { FLEET, MODEL, POOL, specTexts } from '../api/helpers.ts';

/** Two models whose object names could meet used to pass validate and fail synth (FleetServing) with no position. */
function collisions(texts: ReturnType<typeof specTexts>): string[] {
  const { spec, diagnostics } = loadSpecTexts(texts);
  if (!spec) throw new Error(diagnostics.map(formatDiagnostic).join('\n'));
  return servingNameCollisions(spec).map(formatDiagnostic);
}

const second = (name: string, replicas = 1) =>
  `---\n${MODEL.replace('name: llama-8b', `name: ${name}`).replace('replicas: 2', `replicas: ${replicas}`)}`;

describe('servingNameCollisions', () => {
  it('finds a model and node pair whose joined name another pair also gives', () => {
    const pools = POOL.replace('[gpu-node-01, gpu-node-02]', '[gpu-node-01, 8b-gpu-node-01]');
    expect(collisions(specTexts({ pools, models: `${MODEL}${second('llama')}` }))).toEqual([
      'specs/models.yaml:4:9: error: metadata.name: models "llama" and "llama-8b" could both need the name InferenceService/llama-8b-gpu-node-01 (object names join the model and node names); rename one of them',
    ]);
  });

  it('finds, with env isolation, a model named like another model’s replica', () => {
    const fleet = `${FLEET}  isolation: env\n`;
    expect(collisions(specTexts({ fleet, models: `${MODEL}${second('llama-8b-1')}` }))).toEqual([
      'specs/models.yaml:12:9: error: metadata.name: models "llama-8b" and "llama-8b-1" could both need the name Service/llama-8b-1 (object names join the model and node names); rename one of them',
    ]);
  });

  it('finds nothing in names that cannot meet', () => {
    expect(collisions(specTexts({ models: `${MODEL}${second('qwen')}` }))).toEqual([]);
  });
});
