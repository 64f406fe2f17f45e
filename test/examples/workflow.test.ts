import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { execa } from 'execa';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../cli/run.ts';

const WORKFLOW_FILE = join(ROOT, 'examples', 'github-actions', 'plan.yaml');
const SCENARIOS = join(ROOT, 'test', 'scenarios');
const SNAPSHOTS = join(ROOT, 'test', 'review', '__snapshots__');

interface Step {
  readonly id?: string;
  readonly name?: string;
  readonly if?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, string | number | boolean>;
  readonly env?: Record<string, string>;
}

const workflow = parse(readFileSync(WORKFLOW_FILE, 'utf8')) as { jobs: { plan: { steps: Step[] } } };
const steps = workflow.jobs.plan.steps;

describe('examples/github-actions/plan.yaml', () => {
  it('is a valid workflow (derived workflow schema)', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'test', 'workflow-schema', 'github-workflow.json'), 'utf8'));
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    expect(validate(workflow) ? [] : validate.errors).toEqual([]);
    // The schema can fail: a step with both `uses` and `run`, an unknown key.
    expect(validate({ on: 'pull_request', jobs: { plan: { 'runs-on': 'x', steps: [{ uses: 'a/b@v1', run: 'x' }] } } })).toBe(false);
    expect(validate({ on: 'pull_request', jobs: { plan: { 'runs-on': 'x', steps: [{ run: 'x', with_: {} }] } } })).toBe(false);
  });

  it('checks out full history, pins actions, reads step outputs that exist, keeps expressions out of scripts', () => {
    const checkout = steps.find((s) => s.uses?.startsWith('actions/checkout@'));
    expect(checkout?.with?.['fetch-depth']).toBe(0);
    for (const s of steps) if (s.uses) expect(s.uses).toMatch(/@v\d+$|@[0-9a-f]{40}$/);
    const ids = new Set(steps.map((s) => s.id).filter(Boolean));
    const text = readFileSync(WORKFLOW_FILE, 'utf8');
    for (const [, id] of text.matchAll(/steps\.([\w-]+)\.outputs/g)) expect(ids.has(id)).toBe(true);
    // Untrusted pull-request data reaches scripts only through env (script injection).
    for (const s of steps) if (s.run) expect(s.run).not.toContain('${{');
  });

  it('runs validate, synth --check and the markdown diff, posts it to the summary and the pull request, and fails on unschedulable demand', () => {
    const runs = steps.map((s) => s.run ?? '').join('\n');
    expect(runs).toContain('npx aim-gpu validate');
    expect(runs).toContain('npx aim-gpu synth --check');
    expect(runs).toMatch(/npx aim-gpu plan --base "\$BASE" --format markdown/);
    expect(runs).toContain('>> "$GITHUB_STEP_SUMMARY"');
    expect(runs).toMatch(/gh pr comment "\$PR" --body-file plan-diff\.md/);
    expect(steps.at(-1)!.name).toBe('Fail on unschedulable demand');
  });
});

/** Replaces `${{ … }}` with what GitHub would put there on a pull request into main. */
function expand(value: string, outputs: Map<string, Map<string, string>>): string {
  return value.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expr: string) => {
    const step = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(expr);
    if (step) return outputs.get(step[1]!)?.get(step[2]!) ?? '';
    const github: Record<string, string> = {
      'github.base_ref': 'main',
      'github.server_url': 'https://github.com',
      'github.repository': 'example/inference-fleet',
      'github.run_id': '7',
      'github.token': 'not-used',
      'github.event.pull_request.number': '1',
    };
    if (!(expr in github)) throw new Error(`the test does not know the expression ${expr}`);
    return github[expr]!;
  });
}

const aimGpuCommand = `node ${join(ROOT, 'cli', 'bin.js')}`;

/** A repository as a user has it: specs/ and the committed dist/ on main, a spec change on a branch. */
async function userRepository(scenario: string): Promise<string> {
  const origin = tempDir('origin');
  const git = (args: string[], cwd = origin) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd });
  const specs = (side: string) => {
    rmSync(join(origin, 'specs'), { recursive: true, force: true });
    mkdirSync(join(origin, 'specs'));
    cpSync(join(SCENARIOS, scenario, side), join(origin, 'specs'), { recursive: true });
    cpSync(join(SCENARIOS, 'fleet.yaml'), join(origin, 'specs', 'fleet.yaml'));
  };
  await git(['init', '-q', '-b', 'main']);
  specs('before');
  await execa('node', [join(ROOT, 'cli', 'bin.js'), 'synth', '-q'], { cwd: origin });
  await git(['add', '.']);
  await git(['commit', '-qm', 'fleet']);
  await git(['checkout', '-qb', 'change']);
  specs('after');
  await execa('node', [join(ROOT, 'cli', 'bin.js'), 'synth', '-q'], { cwd: origin });
  await git(['add', '-A', '.']);
  await git(['commit', '-qm', 'change']);
  const clone = tempDir('checkout');
  await execa('git', ['clone', '-q', '--no-local', '--branch', 'change', origin, clone]);
  return clone;
}

/** Follows the workflow's steps in `repo`: runs each `run:` as GitHub does (bash -e), skipping npm ci and gh. */
async function followWorkflow(repo: string) {
  const summary = join(repo, '.summary.md');
  writeFileSync(summary, '');
  const outputs = new Map<string, Map<string, string>>();
  const results: { name: string; exitCode: number; output: string }[] = [];
  for (const step of steps) {
    if (!step.run || step.run === 'npm ci' || step.run.startsWith('gh ')) continue;
    const outputFile = join(repo, '.output');
    writeFileSync(outputFile, '');
    const env = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(v, outputs)]));
    const script = step.run.replaceAll('npx aim-gpu', aimGpuCommand);
    const result = await execa('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], {
      cwd: repo,
      reject: false,
      env: { ...env, GITHUB_OUTPUT: outputFile, GITHUB_STEP_SUMMARY: summary },
    });
    results.push({ name: step.name ?? '', exitCode: result.exitCode ?? -1, output: `${result.stdout}\n${result.stderr}` });
    if (step.id) outputs.set(step.id, new Map(readFileSync(outputFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('=', 2) as [string, string])));
    if (result.exitCode !== 0) break;
  }
  return { results, summary: readFileSync(summary, 'utf8') };
}

describe('the workflow, followed step by step on a fresh clone with a modified spec', { timeout: 240_000 }, () => {
  it('passes and posts the markdown the scenario snapshot shows (scale-down)', async () => {
    const repo = await userRepository('scale-down');
    const { results, summary } = await followWorkflow(repo);
    expect(results.map((r) => [r.name, r.exitCode])).toEqual([
      ['Validate the specs', 0],
      ['Check that dist/ is up to date', 0],
      ['Plan diff against the base branch', 0],
      ['Fail on unschedulable demand', 0],
    ]);
    expect(summary).toBe(readFileSync(join(SNAPSHOTS, 'scale-down.md'), 'utf8'));
    expect(existsSync(join(repo, 'plan-diff.json'))).toBe(true);
  });

  it('fails on unschedulable demand after posting the diff (forced-repartition)', async () => {
    const repo = await userRepository('forced-repartition');
    const { results, summary } = await followWorkflow(repo);
    expect(results.at(-1)).toMatchObject({ name: 'Fail on unschedulable demand', exitCode: 1 });
    expect(results.at(-1)!.output).toContain('3 replicas are unschedulable');
    expect(summary).toBe(readFileSync(join(SNAPSHOTS, 'forced-repartition.md'), 'utf8'));
  });

  it('stops at synth --check when dist/ was not regenerated', async () => {
    const repo = await userRepository('scale-down');
    const models = join(repo, 'specs', 'models.yaml');
    writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 1', 'replicas: 2'));
    const { results } = await followWorkflow(repo);
    expect(results.at(-1)).toMatchObject({ name: 'Check that dist/ is up to date', exitCode: 1 });
    expect(results.at(-1)!.output).toMatch(/dist: stale, \d+ files would change/);
  });
});
