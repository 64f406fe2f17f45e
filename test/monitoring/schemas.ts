import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { schemaPath } from '../../scripts/derive-crd-schemas.ts';
import type { K8sObject } from '../constructs/fixtures.ts';

/**
 * Strict validators for the monitoring kinds, from the committed derived CRD schemas. Only these
 * three are compiled here (the InferenceService schema takes seconds and is covered elsewhere).
 */
export const MONITORING_KINDS = [
  'monitoring.coreos.com/v1/PodMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
  'grafana.integreatly.org/v1beta1/GrafanaDashboard',
] as const;

const SCHEMA_DIR = new URL('../crd-schemas/', import.meta.url);

/**
 * CRD patterns are Go (RE2) regexes; the PrometheusRule CRD uses Go's inline flag
 * (`^(?i)(abort|warn)?$`), which JavaScript rejects. A leading `(?i)` becomes the `i` flag.
 */
const goRegExp = Object.assign(
  (pattern: string, flags: string) =>
    pattern.includes('(?i)') ? new RegExp(pattern.replace('(?i)', ''), `${flags}i`) : new RegExp(pattern, flags),
  { code: 'goRegExp' },
);

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, code: { regExp: goRegExp } });
const compiled = new Map<string, ValidateFunction>();

function validatorFor(apiVersion: string, kind: string): ValidateFunction {
  const key = `${apiVersion}/${kind}`;
  if (!(MONITORING_KINDS as readonly string[]).includes(key)) throw new Error(`no monitoring schema for ${key}`);
  let validate = compiled.get(key);
  if (!validate) {
    const [group, version] = apiVersion.split('/') as [string, string];
    validate = ajv.compile(JSON.parse(readFileSync(new URL(schemaPath(group, kind, version), SCHEMA_DIR), 'utf8')));
    compiled.set(key, validate);
  }
  return validate;
}

/** Schema violations of one object, as `path message params` lines; empty when it validates. */
export function schemaErrors(object: K8sObject): string[] {
  const validate = validatorFor(object.apiVersion, object.kind);
  if (validate(object)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}
