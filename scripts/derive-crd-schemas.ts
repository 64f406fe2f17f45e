/**
 * Derives strict JSON Schemas from the pinned upstream CRDs (`../shared/schemas/`, relative to the
 * project root) into `test/crd-schemas/<group>/<kind>_<version>.json`, the way kubeconform's
 * openapi2jsonschema does: every served version's `openAPIV3Schema`, descriptions stripped,
 * `additionalProperties: false` on every object that lists `properties` (so a misspelt field fails
 * instead of being pruned by the API server), and int-or-string nodes as `oneOf [string, integer]`.
 *
 * The outputs are committed: tests read only them, never the shared folder. Run `npm run schemas`
 * after bumping a CRD pin.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The CRDs whose kinds the compiler emits or the examples show. */
const CRD_FILES = [
  'kserve/serving.kserve.io_inferenceservices.yaml',
  'kserve/serving.kserve.io_servingruntimes.yaml',
  'argo-cd/application-crd.yaml',
  'flux/source.toolkit.fluxcd.io_gitrepositories.yaml',
  'flux/kustomize.toolkit.fluxcd.io_kustomizations.yaml',
  'prometheus-operator/monitoring.coreos.com_podmonitors.yaml',
  'prometheus-operator/monitoring.coreos.com_prometheusrules.yaml',
  'grafana-operator/grafana.integreatly.org_grafanadashboards.yaml',
  // Not emitted: the README's DeviceConfig example (the gpu-operator backend) is checked against it.
  'amd-gpu-operator/amd.com_deviceconfigs.yaml',
] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface CrdVersion {
  readonly name: string;
  readonly served: boolean;
  readonly schema?: { readonly openAPIV3Schema?: JsonObject };
}

interface Crd {
  readonly kind: string;
  readonly spec: { readonly group: string; readonly names: { readonly kind: string }; readonly versions: readonly CrdVersion[] };
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Applies the openapi2jsonschema transforms to one schema node and, recursively, its children. */
export function strictSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(strictSchema);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description') continue;
    // `properties` maps field names to schemas: a field may itself be called `description`.
    out[key] = key === 'properties' && isObject(value)
      ? Object.fromEntries(Object.entries(value).map(([field, schema]) => [field, strictSchema(schema)]))
      : strictSchema(value);
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    delete out.anyOf;
    out.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  if (isObject(out.properties) && out.additionalProperties === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

/** Recursively sorted keys, so regenerating from the same CRDs is byte-identical. */
function sortKeys(node: Json): Json {
  if (Array.isArray(node)) return node.map(sortKeys);
  if (!isObject(node)) return node;
  return Object.fromEntries(Object.keys(node).sort().map((key) => [key, sortKeys(node[key] as Json)]));
}

/** `<group>/<kind>_<version>.json`, kind lowercased (the kubeconform/CRDs-catalog layout). */
export function schemaPath(group: string, kind: string, version: string): string {
  return join(group, `${kind.toLowerCase()}_${version}.json`);
}

function derive(crdFile: string): Array<{ path: string; schema: Json }> {
  const docs = parseAllDocuments(readFileSync(crdFile, 'utf8')).map((doc) => doc.toJS() as Crd);
  return docs
    .filter((doc) => doc?.kind === 'CustomResourceDefinition')
    .flatMap((crd) =>
      crd.spec.versions
        .filter((version) => version.served)
        .map((version) => {
          const schema = version.schema?.openAPIV3Schema;
          if (!schema) throw new Error(`${crdFile}: version ${version.name} has no openAPIV3Schema`);
          return { path: schemaPath(crd.spec.group, crd.spec.names.kind, version.name), schema: sortKeys(strictSchema(schema)) };
        }),
    );
}

function main(): void {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const sourceDir = resolve(root, '../shared/schemas');
  const outDir = join(root, 'test/crd-schemas');
  rmSync(outDir, { recursive: true, force: true });
  for (const file of CRD_FILES) {
    for (const { path, schema } of derive(join(sourceDir, file))) {
      const target = join(outDir, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, `${JSON.stringify(schema, null, 1)}\n`);
      console.error(`wrote ${join('test/crd-schemas', path)}`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
