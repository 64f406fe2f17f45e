import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { STAGES } from '../../constructs/fleet.ts';
import { schemaPath, strictSchema } from '../../scripts/derive-crd-schemas.ts';
import { type K8sObject, realisticInput, synthFleet } from './fixtures.ts';

/**
 * Every custom resource the charts emit validates against the strict JSON Schema derived from its
 * pinned CRD (`npm run schemas`), plus the KServe webhook rules the CRDs do not carry. The
 * InferenceService schema takes seconds to compile, so this is the only file that compiles it.
 */

const SCHEMA_DIR = new URL('../crd-schemas/', import.meta.url);
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const compiled = new Map<string, ValidateFunction>();

/** Groups served by Kubernetes itself: typed through cdk8s-plus-28's generated classes instead. */
function isBuiltIn(apiVersion: string): boolean {
  if (!apiVersion.includes('/')) return true;
  const group = apiVersion.split('/')[0]!;
  return ['apps', 'batch', 'policy', 'autoscaling'].includes(group) || group.endsWith('.k8s.io');
}

function validatorFor(apiVersion: string, kind: string): ValidateFunction {
  const key = `${apiVersion}/${kind}`;
  let validate = compiled.get(key);
  if (!validate) {
    const [group, version] = apiVersion.split('/') as [string, string];
    const file = new URL(schemaPath(group, kind, version), SCHEMA_DIR);
    validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')));
    compiled.set(key, validate);
  }
  return validate;
}

function schemaErrors(object: K8sObject): string[] {
  const validate = validatorFor(object.apiVersion, object.kind);
  if (validate(object)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

/** The fixture fleet in every serving mode, so each field combination the charts can emit is seen. */
const variants = {
  devicePlugin: synthFleet(realisticInput()),
  mixed: synthFleet(realisticInput({ deviceResourceNaming: 'mixed' })),
  env: synthFleet(realisticInput({ isolation: 'env' })),
};
// The monitoring stage's kinds are validated in test/monitoring (the PrometheusRule schema needs Go regex syntax).
const customResources = Object.entries(variants).flatMap(([variant, charts]) =>
  [...charts].filter(([chart]) => chart !== STAGES.monitoring.id).flatMap(([chart, objects]) =>
    objects.filter((o) => !isBuiltIn(o.apiVersion)).map((o) => ({ where: `${variant}:${chart}/${o.kind}/${o.metadata.name}`, object: o })),
  ),
);

describe('custom resources against the pinned CRDs', () => {
  // Compiling the InferenceService schema takes seconds: once, up front, for every kind seen.
  beforeAll(() => {
    for (const { object } of customResources) validatorFor(object.apiVersion, object.kind);
  }, 60_000);

  it('emits every custom kind the bootstrap and serving stages need', () => {
    const kinds = new Set(customResources.map(({ object }) => `${object.apiVersion}/${object.kind}`));
    expect([...kinds].sort()).toEqual([
      'argoproj.io/v1alpha1/Application',
      'kustomize.toolkit.fluxcd.io/v1/Kustomization',
      'serving.kserve.io/v1alpha1/ServingRuntime',
      'serving.kserve.io/v1beta1/InferenceService',
      'source.toolkit.fluxcd.io/v1/GitRepository',
    ]);
  });

  it('validates every custom resource strictly', () => {
    const failures = customResources.map(({ where, object }) => ({ where, errors: schemaErrors(object) })).filter((f) => f.errors.length);
    expect(failures).toEqual([]);
  });

  it('rejects a misspelt field and a wrongly typed one (the schemas are strict)', () => {
    const isvc = structuredClone(customResources.find(({ object }) => object.kind === 'InferenceService')!.object) as any;
    isvc.spec.predictor.model.storageURI = isvc.spec.predictor.model.storageUri;
    isvc.spec.predictor.minReplicas = '1';
    expect(schemaErrors(isvc)).toEqual([
      '/spec/predictor/minReplicas must be integer {"type":"integer"}',
      '/spec/predictor/model must NOT have additional properties {"additionalProperty":"storageURI"}',
    ]);
  });
});

describe('KServe webhook rules', () => {
  const all = Object.values(variants).flatMap((charts) => [...charts.values()].flat());
  const isvcs = all.filter((o) => o.kind === 'InferenceService');
  const runtimes = all.filter((o) => o.kind === 'ServingRuntime');

  it('names InferenceServices as DNS-1035 labels of at most 53 characters', () => {
    for (const isvc of isvcs) {
      expect(isvc.metadata.name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
      expect(isvc.metadata.name.length).toBeLessThanOrEqual(53);
    }
  });

  it('runs Standard mode without an autoscaler', () => {
    for (const isvc of isvcs) {
      expect(isvc.metadata.annotations).toMatchObject({ 'serving.kserve.io/deploymentMode': 'Standard', 'serving.kserve.io/autoscalerClass': 'none' });
      expect(isvc.spec.predictor.minReplicas).toBe(isvc.spec.predictor.maxReplicas);
    }
  });

  it('references a ServingRuntime emitted in the same namespace', () => {
    const emitted = new Set(runtimes.map((r) => `${r.metadata.namespace}/${r.metadata.name}`));
    for (const isvc of isvcs) expect(emitted).toContain(`${isvc.metadata.namespace}/${isvc.spec.predictor.model.runtime}`);
  });

  it('keeps KServe from rewriting the runtime image', () => {
    for (const runtime of runtimes) {
      expect(runtime.metadata.annotations?.['serving.kserve.io/server-type']).toBeUndefined();
      expect(['kserve-vllmserver', 'kserve-huggingfaceserver']).not.toContain(runtime.metadata.name);
      for (const c of runtime.spec.containers) expect(c.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    }
  });

  it('requests at most one GPU resource, equal in requests and limits', () => {
    for (const isvc of isvcs) {
      const { requests, limits } = isvc.spec.predictor.model.resources;
      const gpus = Object.keys(limits).filter((k) => k.startsWith('amd.com/'));
      expect(gpus.length).toBeLessThanOrEqual(1);
      expect(requests).toEqual(limits);
    }
  });

  it('downloads from Hugging Face with an owner/name URI and an optional commit', () => {
    for (const isvc of isvcs) expect(isvc.spec.predictor.model.storageUri).toMatch(/^hf:\/\/[^/]+\/[^/:]+(:[0-9a-f]{7,40})?$/);
  });
});

describe('strictSchema', () => {
  it('applies the openapi2jsonschema transforms', () => {
    const crd = {
      type: 'object',
      description: 'root',
      properties: {
        description: { type: 'string', description: 'a field named description' },
        port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }], description: 'port' },
        values: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { a: { type: 'string' } } },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    };
    expect(strictSchema(crd)).toEqual({
      type: 'object',
      additionalProperties: false,
      properties: {
        description: { type: 'string' },
        port: { 'x-kubernetes-int-or-string': true, oneOf: [{ type: 'string' }, { type: 'integer' }] },
        values: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { a: { type: 'string' } } },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    });
  });
});
