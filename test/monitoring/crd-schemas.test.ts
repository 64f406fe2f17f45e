import { describe, expect, it } from 'vitest';
import { monitoredInput, monitoringObjects } from './fixtures.ts';
import { MONITORING_KINDS, schemaErrors } from './schemas.ts';

/** Both dashboard modes, so every custom kind the monitoring stage can emit is seen. */
const variants = {
  sidecar: monitoringObjects(monitoredInput({ grafana: 'sidecar' }))!,
  operator: monitoringObjects(monitoredInput({ grafana: 'operator' }))!,
};
const customResources = Object.entries(variants).flatMap(([variant, objects]) =>
  objects.filter((o) => o.apiVersion !== 'v1').map((object) => ({ where: `${variant}:${object.kind}/${object.metadata.name}`, object })),
);

describe('monitoring custom resources against the pinned CRDs', () => {
  it('emits exactly the monitoring kinds it has schemas for', () => {
    const kinds = new Set(customResources.map(({ object }) => `${object.apiVersion}/${object.kind}`));
    expect([...kinds].sort()).toEqual([...MONITORING_KINDS].sort());
  });

  it('validates every PodMonitor, PrometheusRule and GrafanaDashboard strictly', () => {
    const failures = customResources.map(({ where, object }) => ({ where, errors: schemaErrors(object) })).filter((f) => f.errors.length);
    expect(failures).toEqual([]);
  });

  it('rejects a misspelt field and a malformed duration (the schemas are strict)', () => {
    const rule = structuredClone(customResources.find(({ object }) => object.kind === 'PrometheusRule')!.object) as any;
    rule.spec.groups[0].rules[0].For = rule.spec.groups[0].rules[0].for;
    rule.spec.groups[0].rules[0].for = '10 minutes';
    expect(schemaErrors(rule)).toEqual([
      '/spec/groups/0/rules/0 must NOT have additional properties {"additionalProperty":"For"}',
      '/spec/groups/0/rules/0/for must match pattern "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$" {"pattern":"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}',
    ]);
  });

  it('reads the CRD\'s Go case-insensitive pattern as case-insensitive', () => {
    const rule = structuredClone(customResources.find(({ object }) => object.kind === 'PrometheusRule')!.object) as any;
    rule.spec.groups[0].partial_response_strategy = 'WARN';
    expect(schemaErrors(rule)).toEqual([]);
    rule.spec.groups[0].partial_response_strategy = 'ignore';
    expect(schemaErrors(rule)).toHaveLength(1);
  });
});
