import { hostname } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { formatDiagnostics, hasErrors } from '../api/diagnostics.ts';
import { ioErrorMessage, readBoundedFile } from '../api/read-file.ts';
import { didYouMean } from '../api/suggest.ts';
import { plural } from '../api/words.ts';
import type { Diagnostic } from '../api/types.ts';
import { compareTrees } from '../review/files.ts';
import { renderReviewMarkdown, renderReviewText } from '../review/render.ts';
import { explainModel, renderExplainText } from '../sizing/explain.ts';
import { loadModelCatalog } from '../sizing/model-catalog.ts';
import { compile, renderDist } from './compile.ts';
import { explainOptionsOf } from './explain-spec.ts';
import { planReview } from './plan-review.ts';
import { DiscoverError, discoverNode, isNodeName, isPoolName, nodePoolFragment } from './discover.ts';
import { ioErrorLine } from './fs-errors.ts';
import { withOutput } from './output.ts';
import { planIn, planInTree, readOutputTree, treeAtRef } from './outputs.ts';
import { writeAimProfiles } from './profiles-dir.ts';
import type { Reporter, Streams } from './reporter.ts';
import { EXIT_CHANGES, EXIT_INVALID, EXIT_OK, UsageError } from './usage.ts';

type Values = Record<string, string | boolean | undefined>;

interface Option {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  readonly valueName?: string;
  readonly default?: string;
  readonly short?: string;
}

/** What every command gets besides its options: where to write, how loud. */
export interface Context {
  readonly reporter: Reporter;
  readonly streams: Streams;
}

export interface Command {
  readonly summary: string;
  readonly positional?: string;
  readonly options: Readonly<Record<string, Option>>;
  run(values: Values, positionals: readonly string[], context: Context): Promise<number>;
}

const SPECS: Option = { type: 'string', valueName: 'DIR', default: 'specs', help: 'spec directory (default specs; also the first argument)' };
const OUT: Option = { type: 'string', valueName: 'DIR', default: 'dist', help: 'output directory (default dist)' };

/** The spec directory: `--specs DIR` or the one positional argument, never both, never ignored. */
function specDir(values: Values, positionals: readonly string[]): string {
  if (positionals.length > 1) throw new UsageError(`expects at most one spec directory, got ${positionals.length}: ${positionals.join(' ')}`);
  const [positional] = positionals;
  if (positional !== undefined && values.specs !== undefined && values.specs !== positional) {
    throw new UsageError(`got the spec directory twice: "${positional}" and --specs "${String(values.specs)}"`);
  }
  return positional ?? String(values.specs ?? SPECS.default);
}

/**
 * Colour on a terminal; never under NO_COLOR (no-color.org: any non-empty value); always under
 * FORCE_COLOR unless it is `0` or `false`, which wins over NO_COLOR as in Node's own tty module.
 */
export function useColour(output: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (env.NO_COLOR) return false;
  return output.isTTY === true;
}

function oneOf<T extends string>(flag: string, value: unknown, allowed: readonly T[]): T {
  if (allowed.includes(value as T)) return value as T;
  throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got "${String(value)}"${didYouMean(String(value), allowed)}`);
}

function positiveInteger(flag: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be a positive integer, got "${String(value)}"`);
  return n;
}

/** Prints every diagnostic (warnings not under --quiet) and a count; returns true when there was an error. */
function report(diagnostics: readonly Diagnostic[], context: Context): boolean {
  const shown = context.reporter.quiet ? diagnostics.filter((d) => d.severity === 'error') : diagnostics;
  for (const line of formatDiagnostics(shown)) context.streams.err.write(line + '\n');
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  if (shown.length > 0) context.streams.err.write(`${plural(errors, 'error')}, ${plural(diagnostics.length - errors, 'warning')}\n`);
  return hasErrors(diagnostics);
}

/**
 * The most of amd-smi's output read (from --from, or amd-smi's stdout): its `static --json` is a
 * few KiB per GPU, so a node of 8 GPUs in CPX (64 listed devices) stays far below this.
 */
const MAX_AMD_SMI_BYTES = 16 * 1024 * 1024;

/** `amd-smi static --json` of this node, or the saved output in `file` (a file, a pipe or `<(…)`, read up to the bound). */
async function amdSmiStatic(file: string | undefined): Promise<string> {
  if (file !== undefined) {
    let read;
    try {
      read = readBoundedFile(file, MAX_AMD_SMI_BYTES, { streams: true });
    } catch (error) {
      throw new DiscoverError(`cannot read ${file}: ${ioErrorMessage(error) ?? (error as Error).message}`);
    }
    if ('text' in read) return read.text;
    throw new DiscoverError(`cannot read ${file}: ${'tooBig' in read ? `more than ${MAX_AMD_SMI_BYTES} bytes, too much for amd-smi output` : `it is ${read.notAFile}`}`);
  }
  const run = await execa('amd-smi', ['static', '--json'], { reject: false, maxBuffer: MAX_AMD_SMI_BYTES });
  if (run.code === 'ENOENT') throw new DiscoverError('amd-smi not found; use --from FILE');
  if (run.failed) throw new DiscoverError(`amd-smi static --json failed: ${String(run.stderr || run.shortMessage).trim()}`);
  return run.stdout;
}

export const COMMANDS: Readonly<Record<string, Command>> = {
  validate: {
    summary: 'load and check every spec file, sizing and fit included; print every problem',
    positional: '[SPECS]',
    options: { specs: SPECS, out: OUT },
    async run(values, positionals, context) {
      const specs = specDir(values, positionals);
      const previous = planIn(String(values.out));
      const result = await compile(specs, previous.plan, (stage) => context.reporter.stage(stage));
      if (report([...previous.diagnostics, ...result.diagnostics], context)) return EXIT_INVALID;
      context.reporter.info(`${specs}: valid`, 'out');
      return EXIT_OK;
    },
  },
  plan: {
    summary: 'compute the plan and its diff against the plan committed at a git ref (or in --out)',
    positional: '[SPECS]',
    options: {
      specs: SPECS,
      out: OUT,
      base: { type: 'string', valueName: 'GITREF', help: 'diff against the output committed at GITREF (default: what --out holds)' },
      format: { type: 'string', valueName: 'FORMAT', default: 'text', help: 'text | markdown | json (default text)' },
      'exit-code': { type: 'boolean', help: 'exit 2 when the plan changes anything, 0 when not, 1 on error' },
      'full-diff-url': { type: 'string', valueName: 'URL', help: 'markdown: where the full diff is, when it is cut to fit a comment' },
    },
    async run(values, positionals, context) {
      const specs = specDir(values, positionals);
      const format = oneOf('format', values.format, ['text', 'markdown', 'json'] as const);
      const out = String(values.out);
      context.reporter.stage('read base');
      const baseFiles = values.base === undefined ? readOutputTree(out) : await treeAtRef(String(values.base), out);
      const { result, diff } = await planReview(specs, baseFiles, (stage) => context.reporter.stage(stage), values.base === undefined ? out : `${String(values.base)}:${out}`);
      const invalid = report(result.diagnostics, context);
      if (!result.compiled || !diff) return EXIT_INVALID;
      const { plan } = result.compiled;
      const write = (text: string) => context.streams.out.write(text);
      if (format === 'json') write(JSON.stringify({ diff, plan }, null, 2) + '\n');
      else if (format === 'markdown') write(renderReviewMarkdown(diff, plan, { fullDiffUrl: values['full-diff-url'] as string | undefined }));
      else write(renderReviewText(diff, plan, { colour: useColour(context.streams.out) }));
      if (invalid) return EXIT_INVALID;
      return values['exit-code'] && diff.changed ? EXIT_CHANGES : EXIT_OK;
    },
  },
  synth: {
    summary: 'write manifests, the plan and its markdown to --out, atomically (--check: only compare)',
    positional: '[SPECS]',
    options: {
      specs: SPECS,
      out: OUT,
      check: { type: 'boolean', help: 'write nothing; exit 1 listing the files that would change when --out is stale' },
    },
    async run(values, positionals, context) {
      const specs = specDir(values, positionals);
      const out = String(values.out);
      // withOutput (cli/output.ts): refuses a directory it may not replace, locks it, writes atomically.
      return withOutput(out, specs, context.streams.err, async (output) => {
        const current = readOutputTree(out);
        const previous = planInTree(current, out);
        const result = await compile(specs, previous.plan, (stage) => context.reporter.stage(stage));
        if (report([...previous.diagnostics, ...result.diagnostics], context) || !result.compiled) {
          context.streams.err.write(`${out}: left unchanged\n`);
          return EXIT_INVALID;
        }
        let tree;
        try {
          context.reporter.stage('construct');
          tree = renderDist(result.compiled);
        } catch (error) {
          // A construct refused its input (every spec check passed, so this names a gap in them).
          context.streams.err.write(`aim-gpu synth: error: ${(error as Error).message}\n${out}: left unchanged\n`);
          return EXIT_INVALID;
        }
        const { summary } = result.compiled.plan;
        const placed = `${summary.placed}/${plural(summary.replicas, 'replica')} on ${summary.gpusUsed}/${plural(summary.gpus, 'GPU')}`;
        if (values.check) {
          context.reporter.stage('compare');
          const changes = compareTrees(current, tree);
          if (changes.length === 0) {
            context.reporter.info(`${out}: up to date (${plural(tree.size, 'file')}; ${placed})`);
            return EXIT_OK;
          }
          for (const c of changes) context.streams.err.write(`${c.change.padEnd(8)} ${join(out, c.path)}\n`);
          context.streams.err.write(`${out}: stale, ${plural(changes.length, 'file')} would change; run \`npx aim-gpu synth\` and commit ${out}/\n`);
          return EXIT_INVALID;
        }
        context.reporter.stage('write');
        output.write(tree);
        context.reporter.info(`${out}: wrote ${plural(tree.size, 'file')}; ${placed}`);
        return EXIT_OK;
      }, { readOnly: values.check === true });
    },
  },
  explain: {
    summary: 'the sizing breakdown of one model: weights, KV cache, overhead, fit per product and profile (with --specs: a Model of the spec as configured)',
    positional: 'MODEL',
    options: {
      specs: { type: 'string', valueName: 'DIR', help: 'explain the Model named MODEL in this spec directory, as configured (its precision, context, pools and the Fleet\'s headroom)' },
      precision: { type: 'string', valueName: 'P', help: 'bf16 | fp16 | fp8 | int8 | int4 (default: native dtype)' },
      tp: { type: 'string', valueName: 'N', help: 'tensor parallelism (default 1)' },
      'max-model-len': { type: 'string', valueName: 'L', help: 'context length (default min(context, 8192))' },
      concurrency: { type: 'string', valueName: 'C', help: 'full-length sequences held at once (default 1)' },
      format: { type: 'string', valueName: 'FORMAT', default: 'text', help: 'text | json (default text)' },
    },
    async run(values, positionals, context) {
      const [model, ...extra] = positionals;
      if (model === undefined || extra.length > 0) throw new UsageError('expects exactly one MODEL (a Hugging Face id)');
      const format = oneOf('format', values.format, ['text', 'json'] as const);
      const precision =
        values.precision === undefined
          ? undefined
          : oneOf('precision', values.precision, ['bf16', 'fp16', 'fp8', 'int8', 'int4'] as const);
      const catalog = loadModelCatalog();
      if (report(catalog.diagnostics, context)) return EXIT_INVALID;
      let explained;
      try {
        const configured = values.specs === undefined ? undefined : explainOptionsOf(String(values.specs), model);
        if (configured && 'diagnostics' in configured) {
          report(configured.diagnostics, context);
          return EXIT_INVALID;
        }
        explained = configured
          ? explainModel(catalog.models, configured.id, configured.options)
          : explainModel(catalog.models, model, {
              precision,
              tensorParallel: positiveInteger('tp', values.tp),
              maxModelLen: positiveInteger('max-model-len', values['max-model-len']),
              concurrency: positiveInteger('concurrency', values.concurrency),
            });
      } catch (error) {
        context.streams.err.write(`aim-gpu explain: error: ${(error as Error).message}\n`);
        return EXIT_INVALID;
      }
      context.streams.out.write(format === 'json' ? JSON.stringify(explained, null, 2) + '\n' : renderExplainText(explained));
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
    async run(values, positionals, context) {
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
        context.streams.out.write(nodePoolFragment(found, { node: host, ...(name !== undefined && { name }) }));
        return EXIT_OK;
      } catch (error) {
        if (!(error instanceof DiscoverError)) throw error;
        context.streams.err.write(`aim-gpu discover: error: ${error.message}\n`);
        return EXIT_INVALID;
      }
    },
  },
  profiles: {
    summary: 'regenerate the AIM profiles (one JSON per catalog model and precision)',
    options: { 'out-dir': { type: 'string', valueName: 'DIR', default: 'aim_profiles', help: 'directory (default aim_profiles)' } },
    async run(values, _positionals, context) {
      const catalog = loadModelCatalog();
      if (report(catalog.diagnostics, context)) return EXIT_INVALID;
      let written;
      try {
        written = writeAimProfiles(catalog.models, String(values['out-dir']));
      } catch (error) {
        const line = ioErrorLine(error);
        if (line === undefined) throw error;
        context.streams.err.write(`${line}\n`);
        return EXIT_INVALID;
      }
      context.reporter.info(`${String(values['out-dir'])}: wrote ${plural(written, 'profile')}`);
      return EXIT_OK;
    },
  },
};
