import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { monitoredInput, monitoringObjects, rulesOf } from './fixtures.ts';

/**
 * The rules' meaning, not only their syntax: `promtool test rules` evaluates them against
 * synthetic series. Runs where promtool is installed (`PROMTOOL=/path/to/promtool`, or on PATH;
 * Debian's `prometheus` package ships it) and is skipped elsewhere; `.ci/run` provides it and sets
 * REQUIRE_PROMTOOL=1, so CI cannot skip it silently.
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
const objects = monitoringObjects(monitoredInput())!;
const rules = rulesOf(objects);
const VLLM_JOB = 'aim-models/aim-vllm';
const EXPORTER_JOB = 'aim-system/aim-gpu-metrics-exporter';
const NODE_1 = 'gpu-node-01';
const NODE_2 = 'gpu-node-02.dc1.example.com';

interface Series {
  readonly series: string;
  readonly values: string;
}
interface ExpectedAlert {
  readonly exp_labels: Record<string, string>;
  readonly exp_annotations: Record<string, string>;
}

/** The annotations of the rule `alert` whose labels include `labels` (templated ones are the caller's). */
function annotations(alert: string, labels: Record<string, string>): Record<string, string> {
  const found = rules.find(({ rule }) => rule.alert === alert && Object.entries(labels).every(([k, v]) => rule.labels?.[k] === v));
  if (!found) throw new Error(`no ${alert} rule with ${JSON.stringify(labels)}`);
  return { ...found.rule.annotations };
}

/** One exporter series per partition, in the given modes. */
function partitions(host: string, modes: ReadonlyArray<readonly [string, string, number]>): Series[] {
  let gpu = 0;
  return modes.flatMap(([compute, memory, count]) =>
    Array.from({ length: count }, () => ({
      series: `gpu_total_vram{job="${EXPORTER_JOB}",hostname="${host}",gpu_id="${gpu++}",gpu_compute_partition_type="${compute}",gpu_memory_partition_type="${memory}"}`,
      values: '196592x60',
    })),
  );
}

function drift(node: string): ExpectedAlert {
  return { exp_labels: { severity: 'warning', node, hostname: node }, exp_annotations: annotations('GpuPartitionDrift', { node }) };
}

const AS_PLANNED_1 = partitions(NODE_1, [['cpx', 'nps4', 64]]);
const AS_PLANNED_2 = partitions(NODE_2, [['cpx', 'nps1', 16], ['spx', 'nps1', 6]]);

function up(model: string, pod: string, value: number): Series {
  return { series: `up{job="${VLLM_JOB}",model="${model}",pod="${pod}"}`, values: `${value}x120` };
}

/** A cumulative TTFT histogram in which every request lands in the buckets from `firstLe` up. */
function ttft(model: string, firstLe: number): Series[] {
  return ['0.25', '0.5', '1.0', '+Inf'].map((le) => ({
    series: `vllm:time_to_first_token_seconds_bucket{job="${VLLM_JOB}",model_name="${model}",le="${le}"}`,
    values: le === '+Inf' || Number(le) >= firstLe ? '0+10x400' : '0x400',
  }));
}

const tests = [
  {
    name: 'nodes as planned',
    input_series: [...AS_PLANNED_1, ...AS_PLANNED_2],
    alert_rule_test: [
      { eval_time: '40m', alertname: 'GpuPartitionDrift', exp_alerts: [] },
      { eval_time: '40m', alertname: 'GpuPartitionMetricsAbsent', exp_alerts: [] },
    ],
  },
  {
    name: 'both nodes left in SPX',
    input_series: [...partitions(NODE_1, [['spx', 'nps1', 8]]), ...partitions(NODE_2, [['spx', 'nps1', 8]])],
    alert_rule_test: [{ eval_time: '40m', alertname: 'GpuPartitionDrift', exp_alerts: [drift(NODE_1), drift(NODE_2)] }],
  },
  {
    name: 'half the partitions, and the right counts in an unplanned memory mode',
    input_series: [...partitions(NODE_1, [['cpx', 'nps4', 32]]), ...partitions(NODE_2, [['cpx', 'nps1', 16], ['spx', 'nps4', 6]])],
    alert_rule_test: [{ eval_time: '40m', alertname: 'GpuPartitionDrift', exp_alerts: [drift(NODE_1), drift(NODE_2)] }],
  },
  {
    name: 'a node whose exporter is silent',
    input_series: AS_PLANNED_1,
    alert_rule_test: [
      { eval_time: '40m', alertname: 'GpuPartitionDrift', exp_alerts: [] },
      {
        eval_time: '40m',
        alertname: 'GpuPartitionMetricsAbsent',
        exp_alerts: [
          {
            exp_labels: { severity: 'warning', node: NODE_2, hostname: NODE_2, job: EXPORTER_JOB },
            exp_annotations: annotations('GpuPartitionMetricsAbsent', { node: NODE_2 }),
          },
        ],
      },
    ],
  },
  {
    name: 'models short of pods, one breaching its TTFT SLO',
    input_series: [up('llama-8b', 'a', 1), up('llama-8b', 'b', 1), up('llama-8b', 'c', 0), up('qwen-32b', 'q', 1), ...ttft('llama-8b', 1), ...ttft('qwen-32b', 0.25)],
    alert_rule_test: [
      {
        eval_time: '30m',
        alertname: 'ModelReplicasBelowPlan',
        exp_alerts: [
          {
            exp_labels: { severity: 'critical', model: 'llama-70b' },
            exp_annotations: {
              ...annotations('ModelReplicasBelowPlan', { model: 'llama-70b' }),
              description: 'Only 0 of the 1 planned pods of model llama-70b have answered the metrics scrape for 15 minutes (a pod answers once vLLM has loaded its weights).',
            },
          },
          {
            exp_labels: { severity: 'critical', model: 'llama-8b' },
            exp_annotations: {
              ...annotations('ModelReplicasBelowPlan', { model: 'llama-8b' }),
              description: 'Only 2 of the 3 planned pods of model llama-8b have answered the metrics scrape for 15 minutes (a pod answers once vLLM has loaded its weights).',
            },
          },
        ],
      },
      {
        eval_time: '70m',
        alertname: 'ModelTimeToFirstTokenSloBreach',
        exp_alerts: ['5m/1h', '30m/6h'].map((window) => {
          const labels = { model: 'llama-8b', slo: 'ttftSeconds', window };
          const severity = window === '5m/1h' ? 'critical' : 'warning';
          return { exp_labels: { severity, ...labels }, exp_annotations: annotations('ModelTimeToFirstTokenSloBreach', labels) };
        }),
      },
      {
        eval_time: '70m',
        alertname: 'PlanHasUnschedulableReplicas',
        exp_alerts: [{ exp_labels: { severity: 'warning' }, exp_annotations: annotations('PlanHasUnschedulableReplicas', {}) }],
      },
    ],
  },
];

it('has promtool where CI requires it (REQUIRE_PROMTOOL=1)', () => {
  if (process.env.REQUIRE_PROMTOOL === '1') expect(promtool, 'promtool not found: set PROMTOOL or put it on PATH').toBeDefined();
});

describe.skipIf(!promtool)('alert rules under promtool test rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aim-rules-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fires exactly the expected alerts on synthetic series', () => {
    const groups = objects.filter((o) => o.kind === 'PrometheusRule').flatMap((o) => o.spec.groups);
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    writeFileSync(join(dir, 'tests.yaml'), stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests: tests.map((t) => ({ interval: '1m', ...t })) }));
    let output = '';
    try {
      output = execFileSync(promtool!, ['test', 'rules', 'tests.yaml'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      output = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
      expect.fail(output);
    }
    expect(output).toContain('SUCCESS');
  });
});
