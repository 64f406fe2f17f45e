import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { compile, renderDist } from '../../cli/compile.ts';
import { schemaPath } from '../../scripts/derive-crd-schemas.ts';
import { copySpecs, ROOT } from '../cli/run.ts';

interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly spec: Record<string, unknown>;
}

function objects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(join(ROOT, file), 'utf8')).map((d) => d.toJS() as K8sObject);
}

const EXAMPLES = { argocd: objects('examples/argocd/application.yaml'), flux: objects('examples/flux/sync.yaml') };
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

function schemaErrors(object: K8sObject): string[] {
  const [group, version] = object.apiVersion.split('/') as [string, string];
  const schema = JSON.parse(readFileSync(new URL(schemaPath(group, object.kind, version), new URL('../crd-schemas/', import.meta.url)), 'utf8'));
  const validate = ajv.compile(schema);
  const { kind } = object;
  return validate(object) ? [] : (validate.errors ?? []).map((e) => `${kind} ${e.instancePath} ${e.message}`);
}

/** What synth writes to dist/bootstrap/ for the default specs with both GitOps tools set to the examples' repository. */
async function generatedBootstrap(): Promise<K8sObject[]> {
  const specs = copySpecs();
  const fleet = join(specs, 'fleet.yaml');
  const text = readFileSync(fleet, 'utf8');
  const gitops = text.slice(text.indexOf('  gitops:\n'), text.indexOf('  planning:\n'));
  const url = 'https://github.com/example/inference-fleet.git';
  writeFileSync(fleet, text.replace(gitops, `  gitops:\n    argocd:\n      repoURL: ${url}\n    flux:\n      repoURL: ${url}\n`));
  const { compiled, diagnostics } = await compile(specs);
  if (!compiled) throw new Error(JSON.stringify(diagnostics));
  return [...renderDist(compiled)].filter(([path]) => path.startsWith('bootstrap/')).flatMap(([, yaml]) => parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject));
}

describe('the Argo CD and Flux examples', { timeout: 60_000 }, () => {
  it('validate against the pinned CRDs', () => {
    for (const object of [...EXAMPLES.argocd, ...EXAMPLES.flux]) expect(schemaErrors(object)).toEqual([]);
    // The schemas can fail.
    const broken = { ...EXAMPLES.argocd[0]!, spec: { ...EXAMPLES.argocd[0]!.spec, source: { path: 7 } } };
    expect(schemaErrors(broken).length).toBeGreaterThan(0);
  });

  it('point at dist/: Argo CD syncs its *.yaml recursively but bootstrap/, Flux one stage folder per Kustomization in apply order', () => {
    const [app] = EXAMPLES.argocd;
    expect(app!.spec.source).toMatchObject({ path: 'dist', directory: { recurse: true, include: '*.yaml', exclude: 'bootstrap/*' } });
    const paths = EXAMPLES.flux.filter((o) => o.kind === 'Kustomization').map((o) => o.spec.path);
    expect(paths).toEqual(['./dist/namespaces', './dist/node-setup', './dist/serving', './dist/monitoring']);
  });

  it('are exactly what synth writes to dist/bootstrap/ for a Fleet with spec.gitops set', async () => {
    const byName = (list: readonly K8sObject[]) => [...list].sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
    expect(byName([...EXAMPLES.argocd, ...EXAMPLES.flux])).toEqual(byName(await generatedBootstrap()));
  });
});
