import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { K8sObject } from '../constructs/fixtures.ts';
import { objects, PLACED_TESTS, placedObjects, RULE_TESTS, type RuleTest, rules } from './alert-cases.ts';

/**
 * The rules' meaning, not only their syntax: `promtool test rules` evaluates them against
 * synthetic series (the cases are in `alert-cases.ts`). Runs where promtool is installed
 * (`PROMTOOL=/path/to/promtool`, or on PATH; Debian's `prometheus` package ships it) and is
 * skipped elsewhere; `.ci/run` provides it and sets REQUIRE_PROMTOOL=1, so CI cannot skip it silently.
 */
function findPromtool(): string | undefined {
  if (process.env.PROMTOOL) return process.env.PROMTOOL;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'promtool');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const promtool = findPromtool();

it('has promtool where CI requires it (REQUIRE_PROMTOOL=1)', () => {
  if (process.env.REQUIRE_PROMTOOL === '1') expect(promtool, 'promtool not found: set PROMTOOL or put it on PATH').toBeDefined();
});

describe('alert cases', () => {
  const alerts = [...new Set(rules.flatMap(({ rule }) => (rule.alert ? [rule.alert] : [])))];
  const checks = [...RULE_TESTS, ...PLACED_TESTS].flatMap((t) => t.alert_rule_test);

  it('cover every alert, each with a case where it fires and one where it stays silent', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(14);
    for (const alert of alerts) {
      expect(checks.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} fires somewhere`).toBe(true);
      expect(checks.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} stays silent somewhere`).toBe(true);
    }
  });

  it('name only alerts that exist', () => {
    for (const check of checks) expect(alerts, check.alertname).toContain(check.alertname);
  });
});

describe.skipIf(!promtool)('alert rules under promtool test rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aim-rules-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(name: string, ruleObjects: readonly K8sObject[], tests: readonly RuleTest[]): string {
    const groups = ruleObjects.filter((o) => o.kind === 'PrometheusRule').flatMap((o) => o.spec.groups);
    writeFileSync(join(dir, `${name}.rules.yaml`), stringify({ groups }));
    writeFileSync(
      join(dir, `${name}.tests.yaml`),
      stringify({ rule_files: [`${name}.rules.yaml`], evaluation_interval: '1m', tests: tests.map((t) => ({ interval: '1m', ...t })) }),
    );
    try {
      return execFileSync(promtool!, ['test', 'rules', `${name}.tests.yaml`], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      return expect.fail(`${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`);
    }
  }

  it('fires exactly the expected alerts on synthetic series', () => {
    expect(run('fleet', objects, RULE_TESTS)).toContain('SUCCESS');
  }, 120_000);

  it('stays silent on a plan that places every replica', () => {
    expect(run('placed', placedObjects, PLACED_TESTS)).toContain('SUCCESS');
  });

  it('fails when an expectation is wrong (the check can fail)', () => {
    const wrong: RuleTest = { ...PLACED_TESTS[0]!, alert_rule_test: [{ eval_time: '5m', alertname: 'PlanHasUnschedulableReplicas', exp_alerts: [] }] };
    expect(() => run('wrong', objects, [wrong])).toThrow(/PlanHasUnschedulableReplicas/);
  });
});
