import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { formatDiagnostic, hasErrors } from '../api/diagnostics.ts';
import type { Diagnostic } from '../api/types.ts';
import { diffPlans } from '../planner/diff.ts';
import { renderDiffMarkdown, renderDiffText } from '../planner/render.ts';
import type { Plan } from '../planner/types.ts';
import { writeAimProfiles } from '../sizing/aim-profiles.ts';
import { explainModel, renderExplainText } from '../sizing/explain.ts';
import { loadModelCatalog } from '../sizing/model-catalog.ts';
import { compile, renderDist } from './compile.ts';
import { DiscoverError, discoverNode, isNodeName, isPoolName, nodePoolFragment } from './discover.ts';
import { writeTreeAtomically } from './tree.ts';
import { EXIT_INVALID, EXIT_OK, UsageError } from './usage.ts';

type Values = Record<string, string | boolean | undefined>;

interface Option {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  readonly valueName?: string;
  readonly default?: string;
}

export interface Command {
  readonly summary: string;
  readonly positional?: string;
  readonly options: Readonly<Record<string, Option>>;
  run(values: Values, positionals: readonly string[]): Promise<number>;
}

const SPECS: Option = { type: 'string', valueName: 'DIR', default: 'specs', help: 'spec directory (default specs)' };
const OUT: Option = { type: 'string', valueName: 'DIR', default: 'dist', help: 'output directory (default dist)' };

function oneOf<T extends string>(flag: string, value: unknown, allowed: readonly T[]): T {
  if (allowed.includes(value as T)) return value as T;
  throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got "${String(value)}"`);
}

function positiveInteger(flag: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be a positive integer, got "${String(value)}"`);
  return n;
}

/** Prints every diagnostic and a count; returns true when there was an error. */
function report(diagnostics: readonly Diagnostic[]): boolean {
  for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  if (diagnostics.length > 0) process.stderr.write(`${errors} error(s), ${diagnostics.length - errors} warning(s)\n`);
  return hasErrors(diagnostics);
}

/** The plan last written to `out`: the previous plan that keeps unchanged replicas in place. */
function planIn(out: string): Plan | undefined {
  const file = join(out, 'plan.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Plan) : undefined;
}

/** The plan committed at a git ref (`git show REF:./<out>/plan.json`); none when the file is not there. */
async function planAtRef(ref: string, out: string): Promise<Plan | undefined> {
  const shown = await execa('git', ['show', `${ref}:./${join(out, 'plan.json')}`], { reject: false });
  if (shown.exitCode === 0) return JSON.parse(shown.stdout) as Plan;
  if (/does not exist|exists on disk, but not in/.test(shown.stderr)) return undefined;
  throw new UsageError(`cannot read the plan at git ref "${ref}": ${shown.stderr.trim()}`);
}

/** `amd-smi static --json` of this node, or the saved output in `file`. */
async function amdSmiStatic(file: string | undefined): Promise<string> {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new DiscoverError(`cannot read ${file}: ${(error as Error).message}`);
    }
  }
  const run = await execa('amd-smi', ['static', '--json'], { reject: false });
  if (run.code === 'ENOENT') throw new DiscoverError('amd-smi not found; use --from FILE');
  if (run.failed) throw new DiscoverError(`amd-smi static --json failed: ${String(run.stderr || run.shortMessage).trim()}`);
  return run.stdout;
}

export const COMMANDS: Readonly<Record<string, Command>> = {
  validate: {
    summary: 'load and check every spec file, sizing and fit included; print every problem',
    options: { specs: SPECS, out: OUT },
    async run(values) {
      const out = String(values.out);
      const result = await compile(String(values.specs), planIn(out));
      if (report(result.diagnostics)) return EXIT_INVALID;
      process.stdout.write(`${String(values.specs)}: valid\n`);
      return EXIT_OK;
    },
  },
  plan: {
    summary: 'compute the plan and its diff against the plan committed at a git ref (or in --out)',
    options: {
      specs: SPECS,
      out: OUT,
      base: { type: 'string', valueName: 'GITREF', help: 'diff against `git show GITREF:<out>/plan.json`' },
      format: { type: 'string', valueName: 'FORMAT', default: 'text', help: 'text | markdown | json (default text)' },
    },
    async run(values) {
      const format = oneOf('format', values.format, ['text', 'markdown', 'json'] as const);
      const out = String(values.out);
      const base = values.base === undefined ? planIn(out) : await planAtRef(String(values.base), out);
      const result = await compile(String(values.specs), base);
      const invalid = report(result.diagnostics);
      if (!result.compiled) return EXIT_INVALID;
      const { plan } = result.compiled;
      const diff = diffPlans(base, plan);
      if (format === 'json') process.stdout.write(JSON.stringify({ plan, diff }, null, 2) + '\n');
      else process.stdout.write(format === 'markdown' ? renderDiffMarkdown(diff, plan) : renderDiffText(diff, plan));
      return invalid ? EXIT_INVALID : EXIT_OK;
    },
  },
  synth: {
    summary: 'write manifests, plan.json and plan.md to --out, atomically',
    options: { specs: SPECS, out: OUT },
    async run(values) {
      const out = String(values.out);
      const result = await compile(String(values.specs), planIn(out));
      if (report(result.diagnostics) || !result.compiled) {
        process.stderr.write(`${out}: left unchanged\n`);
        return EXIT_INVALID;
      }
      let tree;
      try {
        tree = renderDist(result.compiled);
      } catch (error) {
        // A construct refused its input (every spec check passed, so this names a gap in them).
        process.stderr.write(`aim-gpu synth: error: ${(error as Error).message}\n${out}: left unchanged\n`);
        return EXIT_INVALID;
      }
      writeTreeAtomically(out, tree);
      const { summary } = result.compiled.plan;
      process.stdout.write(
        `${out}: wrote ${tree.size} files; ${summary.placed}/${summary.replicas} replicas on ${summary.gpusUsed}/${summary.gpus} GPUs\n`,
      );
      return EXIT_OK;
    },
  },
  explain: {
    summary: 'the sizing breakdown of one model: weights, KV cache, overhead, fit per product and profile',
    positional: 'MODEL',
    options: {
      precision: { type: 'string', valueName: 'P', help: 'bf16 | fp16 | fp8 | int8 | int4 (default: native dtype)' },
      tp: { type: 'string', valueName: 'N', help: 'tensor parallelism (default 1)' },
      'max-model-len': { type: 'string', valueName: 'L', help: 'context length (default min(context, 8192))' },
      concurrency: { type: 'string', valueName: 'C', help: 'full-length sequences held at once (default 1)' },
      format: { type: 'string', valueName: 'FORMAT', default: 'text', help: 'text | json (default text)' },
    },
    async run(values, positionals) {
      const [model, ...extra] = positionals;
      if (model === undefined || extra.length > 0) throw new UsageError('expects exactly one MODEL (a Hugging Face id)');
      const format = oneOf('format', values.format, ['text', 'json'] as const);
      const precision =
        values.precision === undefined
          ? undefined
          : oneOf('precision', values.precision, ['bf16', 'fp16', 'fp8', 'int8', 'int4'] as const);
      const catalog = loadModelCatalog();
      if (report(catalog.diagnostics)) return EXIT_INVALID;
      let explained;
      try {
        explained = explainModel(catalog.models, model, {
          precision,
          tensorParallel: positiveInteger('tp', values.tp),
          maxModelLen: positiveInteger('max-model-len', values['max-model-len']),
          concurrency: positiveInteger('concurrency', values.concurrency),
        });
      } catch (error) {
        process.stderr.write(`aim-gpu explain: error: ${(error as Error).message}\n`);
        return EXIT_INVALID;
      }
      process.stdout.write(format === 'json' ? JSON.stringify(explained, null, 2) + '\n' : renderExplainText(explained));
      return EXIT_OK;
    },
  },
  discover: {
    summary: 'run amd-smi on this node (or read its saved JSON) and print a NodePool for it',
    options: {
      from: { type: 'string', valueName: 'FILE', help: 'read saved `amd-smi static --json` output instead of running amd-smi' },
      name: { type: 'string', valueName: 'POOL', help: 'NodePool name (default: the product, e.g. mi300x)' },
      node: { type: 'string', valueName: 'NAME', help: 'node name, kubernetes.io/hostname (default: this host\'s name)' },
    },
    async run(values, positionals) {
      if (positionals.length > 0) throw new UsageError(`takes no arguments, got "${positionals.join(' ')}"`);
      const name = values.name === undefined ? undefined : String(values.name);
      if (name !== undefined && !isPoolName(name)) throw new UsageError(`--name must be a DNS-1123 label (lowercase letters, digits, "-"), got "${name}"`);
      const node = values.node === undefined ? undefined : String(values.node);
      if (node !== undefined && !isNodeName(node)) throw new UsageError(`--node must be a DNS-1123 subdomain (lowercase letters, digits, "-", "."), got "${node}"`);
      try {
        // The kubelet registers a node under its host name in lower case.
        const host = node ?? hostname().toLowerCase();
        if (!isNodeName(host)) throw new DiscoverError(`this host's name "${host}" is not a Kubernetes node name; give --node NAME`);
        const found = discoverNode(await amdSmiStatic(values.from === undefined ? undefined : String(values.from)));
        process.stdout.write(nodePoolFragment(found, { node: host, ...(name !== undefined && { name }) }));
        return EXIT_OK;
      } catch (error) {
        if (!(error instanceof DiscoverError)) throw error;
        process.stderr.write(`aim-gpu discover: error: ${error.message}\n`);
        return EXIT_INVALID;
      }
    },
  },
  profiles: {
    summary: 'regenerate the AIM profiles (one JSON per catalog model and precision)',
    options: { 'out-dir': { type: 'string', valueName: 'DIR', default: 'aim_profiles', help: 'directory (default aim_profiles)' } },
    async run(values) {
      const catalog = loadModelCatalog();
      if (report(catalog.diagnostics)) return EXIT_INVALID;
      const written = writeAimProfiles(catalog.models, String(values['out-dir']));
      process.stdout.write(`${String(values['out-dir'])}: wrote ${written} profiles\n`);
      return EXIT_OK;
    },
  },
};
