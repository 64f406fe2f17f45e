import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GPU_OPERATOR } from '../../api/resolve.ts';
import { compile, renderDist } from '../../cli/compile.ts';
import { DCM_CONFIGMAP_NAME } from '../../constructs/dcm-profiles.ts';
import { PARTITIONING_TAINT_KEY } from '../../constructs/labels.ts';
import { dcmConfigProblems } from '../../hardware/dcm.ts';
import { schemaPath } from '../../scripts/derive-crd-schemas.ts';
import { aimGpu, copySpecs, ROOT, tempDir } from '../cli/run.ts';

// Parsed YAML; tests reach into it by path.
type Manifest = any;

const EXAMPLE: Manifest = parse(readFileSync(join(ROOT, 'examples/gpu-operator/deviceconfig.yaml'), 'utf8'));
const SCHEMA = JSON.parse(readFileSync(new URL(schemaPath('amd.com', 'DeviceConfig', 'v1alpha1'), new URL('../crd-schemas/', import.meta.url)), 'utf8'));

/** `dist/` for the default specs with the given partitioning section, as path → objects. */
async function distWith(partitioning: string): Promise<Map<string, Manifest[]>> {
  const specs = copySpecs();
  appendFileSync(join(specs, 'fleet.yaml'), partitioning);
  const { compiled, diagnostics } = await compile(specs);
  if (!compiled) throw new Error(JSON.stringify(diagnostics));
  return new Map([...renderDist(compiled)].map(([path, yaml]) => [path, parseAllDocuments(yaml).map((d) => d.toJS())]));
}

describe('the GPU Operator DeviceConfig example (gpu-operator backend)', { timeout: 60_000 }, () => {
  it('validates against the pinned DeviceConfig CRD, which can fail', () => {
    const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(SCHEMA);
    expect(validate(EXAMPLE), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...EXAMPLE, spec: { ...EXAMPLE.spec, configManager: { ...EXAMPLE.spec.configManager, config: { file: 'x' } } } })).toBe(false);
  });

  it('enables DCM on the ConfigMap synth writes, in the namespace and DeviceConfig the Fleet defaults to, tolerating the orchestrator\'s taint', () => {
    expect(EXAMPLE.metadata).toEqual({ name: DEFAULT_GPU_OPERATOR.deviceConfig, namespace: DEFAULT_GPU_OPERATOR.namespace });
    expect(EXAMPLE.spec.configManager).toMatchObject({ enable: true, config: { name: DCM_CONFIGMAP_NAME } });
    expect(EXAMPLE.spec.configManager.configManagerTolerations).toContainEqual({ key: PARTITIONING_TAINT_KEY, operator: 'Exists', effect: 'NoSchedule' });
  });

  it('matches what synth writes for the default specs with backend: gpu-operator; the builtin default writes no DCM ConfigMap', async () => {
    const dcm = await distWith('  partitioning:\n    backend: gpu-operator\n');
    const path = `node-setup/${EXAMPLE.metadata.namespace}/configmap-${EXAMPLE.spec.configManager.config.name}.yaml`;
    const [configMap] = dcm.get(path) ?? [];
    expect(configMap?.metadata).toMatchObject({ name: DCM_CONFIGMAP_NAME, namespace: EXAMPLE.metadata.namespace });
    const config = JSON.parse(configMap.data['config.json']);
    expect(dcmConfigProblems(config, () => 8)).toEqual([]);
    // No privileged pod and no host path anywhere in node setup.
    const podSpecs = [...dcm].filter(([file]) => file.startsWith('node-setup/')).flatMap(([, objects]) => objects).filter((o) => o.kind === 'DaemonSet').map((o) => o.spec.template.spec);
    expect(podSpecs).toHaveLength(1);
    expect(podSpecs[0].containers.map((c: Manifest) => c.securityContext.privileged)).toEqual([false]);
    expect(podSpecs[0].volumes.filter((v: Manifest) => v.hostPath)).toEqual([]);

    const builtin = await distWith('');
    expect([...builtin.keys()].filter((file) => file.includes(DCM_CONFIGMAP_NAME))).toEqual([]);
  });
});

describe('aim-gpu validate and synth with backend: gpu-operator', { timeout: 120_000 }, () => {
  it('refuse a pool profile DCM cannot apply with the same positioned error, exit 1, output untouched', async () => {
    const specs = copySpecs();
    appendFileSync(join(specs, 'fleet.yaml'), '  partitioning:\n    backend: gpu-operator\n');
    const pools = join(specs, 'pools.yaml');
    writeFileSync(pools, readFileSync(pools, 'utf8').replace('profiles: [SPX-NPS1, CPX-NPS4]', 'profiles: [SPX-NPS1, QPX-NPS4, CPX-NPS4]'));
    const expected = new RegExp(`^${specs}/pools\\.yaml:\\d+:\\d+: error: spec\\.profiles\\.1: QPX-NPS4 cannot be applied by the GPU Operator's Device Config Manager \\(partitioning\\.backend: gpu-operator at ${specs}/fleet\\.yaml:\\d+:\\d+\\): DCM applies NPS4 only with CPX, not with QPX$`, 'm');
    const validate = await aimGpu(['validate', '--specs', specs]);
    expect(validate.exitCode).toBe(1);
    expect(validate.stderr).toMatch(expected);
    const out = tempDir('out');
    const synth = await aimGpu(['synth', '--specs', specs, '--out', out]);
    expect(synth.exitCode).toBe(1);
    expect(synth.stderr).toMatch(expected);
    expect(readdirSync(out)).toEqual([]);
  });
});
