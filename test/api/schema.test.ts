import { describe, expect, it } from 'vitest';
import { loadSpecTexts } from '../../api/load.ts';
import { API_VERSION, CHECKPOINT_PRECISIONS, GPU_PRODUCTS, PRECISIONS, PRIORITIES, TENSOR_PARALLEL_DEGREES } from '../../api/types.ts';
import schema from '../../api/v1alpha1.schema.json' with { type: 'json' };
import { GPU_CATALOG } from '../../hardware/gpus.ts';
import { FLEET, MODEL, POOL } from './helpers.ts';

interface SchemaNode {
  readonly type?: string;
  readonly properties?: Record<string, SchemaNode>;
  readonly additionalProperties?: boolean | SchemaNode;
  readonly items?: SchemaNode;
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly description?: string;
  readonly $ref?: string;
  readonly [keyword: string]: unknown;
}

const root = schema as unknown as SchemaNode & { definitions: Record<string, SchemaNode> };
const definitions = root.definitions;

/** Every subschema with the JSON pointer it sits at. */
function* subschemas(node: SchemaNode, at = '#'): Generator<[string, SchemaNode]> {
  yield [at, node];
  for (const [keyword, value] of Object.entries(node)) {
    if (keyword === 'properties' || keyword === 'definitions') {
      for (const [name, child] of Object.entries(value as Record<string, SchemaNode>)) yield* subschemas(child, `${at}/${keyword}/${name}`);
    } else if (keyword === 'allOf') {
      for (const [index, child] of (value as SchemaNode[]).entries()) yield* subschemas(child, `${at}/allOf/${index}`);
    } else if (['items', 'additionalProperties', 'propertyNames', 'if', 'then'].includes(keyword) && typeof value === 'object') {
      yield* subschemas(value as SchemaNode, `${at}/${keyword}`);
    }
  }
}

/** The kind rules' if/then only narrow fields already declared elsewhere. */
const declared = [...subschemas(root)].filter(([at]) => !/\/(if|then)(\/|$)/.test(at));

describe('v1alpha1.schema.json', () => {
  it('rejects unknown fields in every mapping that has fields', () => {
    const open = declared.filter(([, node]) => node.properties && node.additionalProperties !== false).map(([at]) => at);
    expect(open).toEqual([]);
  });

  it('describes every field', () => {
    const undocumented = declared.flatMap(([at, node]) =>
      Object.entries(node.properties ?? {})
        .filter(([, child]) => !child.description)
        .map(([name]) => `${at}/${name}`),
    );
    expect(undocumented).toEqual([]);
  });

  it('lists the same apiVersion, products, precisions, priorities and degrees as api/types.ts', () => {
    const model = definitions.ModelSpec!.properties!;
    expect(root.properties!.apiVersion!.const).toBe(API_VERSION);
    expect(definitions.NodePoolSpec!.properties!.gpu!.enum).toEqual(GPU_PRODUCTS);
    expect(definitions.Precision!.enum).toEqual(PRECISIONS);
    expect(model.precision!.enum).toEqual([...PRECISIONS, 'auto']);
    expect(Object.keys(model.checkpoints!.properties!)).toEqual(CHECKPOINT_PRECISIONS);
    expect(model.priority!.enum).toEqual(PRIORITIES);
    expect(model.tensorParallel!.enum).toEqual(['auto', ...TENSOR_PARALLEL_DEGREES]);
  });

  it('lists every partition profile of the GPU catalog, and no other', () => {
    const inCatalog = new Set(Object.values(GPU_CATALOG).flatMap((gpu) => gpu.profiles.map((p) => p.name)));
    const inSchema = definitions.NodePoolSpec!.properties!.profiles!.items!.enum!;
    expect([...inSchema].sort()).toEqual([...inCatalog].sort());
  });

  it('states the defaults the loader applies', () => {
    const fleet = `${FLEET}  gitops:\n    argocd: {repoURL: https://example.com/fleet.git}\n    flux: {repoURL: https://example.com/fleet.git}\n  huggingFaceToken: {name: hf-token}\n`;
    const spec = loadSpecTexts([
      { file: 'fleet.yaml', text: fleet },
      { file: 'pools.yaml', text: POOL },
      { file: 'models.yaml', text: `${MODEL.replace('  replicas: 2\n', '')}  architecture: {numHiddenLayers: 32, hiddenSize: 4096, numAttentionHeads: 32, numKeyValueHeads: 8, vocabSize: 128256, paramsTotal: 8030261248, maxPositionEmbeddings: 131072}\n  spread: {}\n` },
    ]).spec!;
    const resolved: Record<string, unknown> = { FleetSpec: spec.fleet.spec, NodePoolSpec: spec.pools[0]!.spec, ModelSpec: spec.models[0]!.spec };
    const checked: string[] = [];
    const compare = (node: SchemaNode, value: unknown, at: string) => {
      for (const [name, child] of Object.entries(node.properties ?? {})) {
        const resolvedValue = (value as Record<string, unknown> | undefined)?.[name];
        // A section's `default: {}` means "may be left out"; its fields carry the real defaults.
        if (child.default !== undefined && !child.properties) {
          expect(resolvedValue, `${at}.${name}`).toEqual(child.default);
          checked.push(`${at}.${name}`);
        }
        const target = child.items ?? child;
        compare(target, child.items ? (resolvedValue as unknown[])[0] : resolvedValue, `${at}.${name}`);
      }
    };
    for (const [name, value] of Object.entries(resolved)) compare(definitions[name]!, value, name);
    compare(definitions.Metadata!, spec.models[0]!.metadata, 'Metadata');
    expect(checked).toContain('FleetSpec.gitops.flux.interval');
    expect(checked).toContain('ModelSpec.allowedPrecisions');
    expect(checked).toContain('FleetSpec.huggingFaceToken.key');
    expect(checked).toContain('ModelSpec.spread.topologyKey');
    expect(checked.length).toBeGreaterThan(25);
  });
});
