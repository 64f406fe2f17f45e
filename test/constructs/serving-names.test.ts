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
  it('finds a model named like another model’s replica: its Service is that InferenceService’s', () => {
    expect(collisions(specTexts({ models: `${MODEL}${second('llama-8b-1')}` }))).toEqual([
      'specs/models.yaml:12:9: error: metadata.name: models "llama-8b" and "llama-8b-1" could both need the name Service/llama-8b-1 (object names join the model name and the replica ordinal); rename one of them',
    ]);
  });

  it('finds the same meeting with env isolation, which names objects the same way', () => {
    const fleet = `${FLEET}  isolation: env\n`;
    expect(collisions(specTexts({ fleet, models: `${MODEL}${second('llama-8b-1')}` }))).toHaveLength(1);
  });

  it('finds nothing where a replica ordinal beyond the model’s replicas would be needed', () => {
    // llama-8b has 2 replicas (ordinals 0 and 1): llama-8b-2 cannot meet it.
    expect(collisions(specTexts({ models: `${MODEL}${second('llama-8b-2')}` }))).toEqual([]);
  });

  it('finds nothing in names that cannot meet', () => {
    expect(collisions(specTexts({ models: `${MODEL}${second('qwen')}` }))).toEqual([]);
  });
});
