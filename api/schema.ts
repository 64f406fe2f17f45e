import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { didYouMean } from './suggest.ts';
import { childPath } from './yaml-source.ts';
import schema from './v1alpha1.schema.json' with { type: 'json' };

/**
 * The JSON Schema of v1alpha1 (`api/v1alpha1.schema.json`, the same file editors use) and the
 * translation of ajv's errors into one short message per problem, each with the field path it is
 * about and whether it points at the value or at the mapping key.
 */

export interface SchemaProblem {
  /** Dotted path of the field the problem is about. */
  readonly path: string;
  /** `key` when the problem is the key itself (an unknown field, an invalid map key). */
  readonly at: 'value' | 'key';
  readonly message: string;
}

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    // Union types: `minAvailable` is a number or a percentage string, like Kubernetes' IntOrString.
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
    // Editors (yaml-language-server, VS Code) show this instead of the raw pattern; so do we.
    ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/** Every schema problem of one document, in ajv's order, without duplicates. */
export function schemaProblems(document: unknown): SchemaProblem[] {
  const validate = validator();
  if (validate(document)) return [];
  const problems = new Map<string, SchemaProblem>();
  // Fields missing from one mapping make one message, not one each.
  const missing = new Map<string, string[]>();
  for (const error of validate.errors ?? []) {
    if (error.keyword === 'required') {
      const path = dottedPath(error.instancePath);
      missing.set(path, [...(missing.get(path) ?? []), `"${String(error.params.missingProperty)}"`]);
      continue;
    }
    const problem = translate(error);
    if (problem) problems.set(`${problem.at} ${problem.path} ${problem.message}`, problem);
  }
  const incomplete = [...missing].map(([path, fields]): SchemaProblem => ({
    path,
    at: 'value',
    message: `missing required field${fields.length > 1 ? 's' : ''} ${fields.join(', ')}`,
  }));
  return [...incomplete, ...problems.values()];
}

function translate(error: ErrorObject): SchemaProblem | undefined {
  const path = dottedPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    // The failing branch of a kind's if/then and the wrapper of a property-name error repeat
    // what the nested errors already say.
    case 'if':
    case 'propertyNames':
      return undefined;
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return { path: childPath(path, field), at: 'key', message: `unknown field "${field}"${didYouMean(field, known)}` };
    }
    case 'uniqueItems': {
      const later = Number(params.i);
      const item = (error.data as unknown[])[later];
      return { path: childPath(path, String(later)), at: 'value', message: `duplicate ${JSON.stringify(item)} (same as item ${String(params.j)})` };
    }
  }
  const message = valueMessage(error, path, params);
  // A bad map key (propertyNames) is reported at the key, under the key's own path.
  if (error.propertyName !== undefined) return { path: childPath(path, error.propertyName), at: 'key', message: `invalid key: ${message}` };
  return { path, at: 'value', message };
}

function valueMessage(error: ErrorObject, path: string, params: Record<string, unknown>): string {
  switch (error.keyword) {
    case 'type': {
      const type = String(params.type);
      // YAML reads `grafana_dashboard: 1` as a number; the fix is quoting, so say so.
      const quote = type === 'string' && (typeof error.data === 'number' || typeof error.data === 'boolean');
      return `must be ${typeName(type)}${quote ? ` (quote it: "${String(error.data)}")` : ''}`;
    }
    case 'const':
      if (path === 'apiVersion') return `unknown apiVersion ${JSON.stringify(error.data)}; must be ${String(params.allowedValue)}`;
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const hint = typeof error.data === 'string' ? didYouMean(error.data, allowed) : '';
      if (path === 'kind') return `unknown kind ${JSON.stringify(error.data)}; must be one of: ${allowed.join(', ')}${hint}`;
      return `must be one of: ${allowed.join(', ')}${hint}`;
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(params.comparison)} ${String(params.limit)}`;
    case 'minItems':
      return params.limit === 1 ? 'must not be empty' : `must have at least ${String(params.limit)} items`;
    case 'minProperties':
      return params.limit === 1 ? 'must name at least one label (an empty selector matches everything or nothing)' : `must have at least ${String(params.limit)} entries`;
    case 'maxItems':
      return `must have at most ${String(params.limit)} items`;
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters long`;
    case 'maxLength':
      return `must be at most ${String(params.limit)} characters long`;
    case 'pattern':
      return (error.parentSchema as { patternErrorMessage?: string } | undefined)?.patternErrorMessage ?? `must match ${String(params.pattern)}`;
    default:
      return error.message ?? `fails the ${error.keyword} rule`;
  }
}

function typeName(type: string): string {
  if (type.includes(',')) return type.split(',').map(typeName).join(' or ');
  return type === 'object' ? 'a mapping' : type === 'array' ? 'a list' : type;
}

/** `/spec/pools/1` → `spec.pools.1` (JSON pointer escapes undone). */
function dottedPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}
