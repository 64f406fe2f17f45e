import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from '../api/suggest.ts';
import { COMMANDS, type Command } from './commands.ts';
import { Reporter, type Streams } from './reporter.ts';
import { CliError, EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './usage.ts';

/** Options every command takes besides its own. */
const GLOBAL_OPTIONS = {
  quiet: { type: 'boolean', short: 'q', help: 'print only results and errors' },
  verbose: { type: 'boolean', short: 'v', help: 'also print how long each stage took' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const;

const GLOBAL_HELP = `aim-gpu: plan AMD Instinct GPU partitions for LLM serving and synthesize the manifests

Usage: npx aim-gpu <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}
  ${'help'.padEnd(10)} show a command's help (\`npx aim-gpu help plan\`)

Options: --version, --help; every command also takes --quiet (-q), --verbose (-v), --help (-h).
Exit codes: 0 success, 1 invalid spec or input, or unschedulable demand, 2 usage error
(or, with \`plan --exit-code\`, changes).
`;

/** The package's version, from package.json (one level up from both cli/ and the bundle's .build/). */
function version(): string {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function commandHelp(name: string, command: Command): string {
  const flag = (o: { type: string; valueName?: string; short?: string }, long: string) =>
    `  ${o.short ? `-${o.short}, ` : ''}--${long}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
  const options = [...Object.entries(command.options), ...Object.entries(GLOBAL_OPTIONS)].map(
    ([long, o]) => flag(o, long).padEnd(28) + o.help,
  );
  const positional = command.positional ? ` ${command.positional}` : '';
  return `${command.summary}\n\nUsage: npx aim-gpu ${name}${positional} [options]\n\nOptions:\n${options.join('\n')}\n`;
}

/** `--spce` → `unknown option --spce (did you mean --specs?)`, before parseArgs's generic message. */
function checkOptionNames(args: readonly string[], command: Command): void {
  const known = [...Object.keys(command.options), ...Object.keys(GLOBAL_OPTIONS)];
  for (const arg of args) {
    if (arg === '--') return;
    if (!arg.startsWith('--')) continue;
    const name = arg.slice(2).split('=')[0]!;
    if (!known.includes(name)) {
      throw new UsageError(`unknown option --${name}${didYouMean(name, known).replace(/"(.+)"/, '--$1')}`);
    }
  }
}

function parse(command: Command, args: readonly string[]) {
  checkOptionNames(args, command);
  const options: ParseArgsConfig['options'] = {};
  for (const [flag, o] of [...Object.entries(command.options), ...Object.entries(GLOBAL_OPTIONS)]) {
    options[flag] = { type: o.type, ...('short' in o && o.short !== undefined && { short: o.short }) };
  }
  const parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  const values = parsed.values as Record<string, string | boolean | undefined>;
  // Defaults are applied here, not by parseArgs, so a command can tell "--specs specs" from nothing.
  const withDefaults = { ...values };
  for (const [flag, o] of Object.entries(command.options)) if (withDefaults[flag] === undefined && o.default !== undefined && flag !== 'specs') withDefaults[flag] = o.default;
  return { values: withDefaults, positionals: parsed.positionals };
}

const PROCESS_STREAMS: Streams = { out: process.stdout, err: process.stderr };

/** Runs one CLI invocation and returns its exit code; results go to `streams.out`, the rest to `streams.err`. */
export async function main(argv: readonly string[], streams: Streams = PROCESS_STREAMS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    streams.out.write(GLOBAL_HELP);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    streams.out.write(`aim-gpu ${version()}\n`);
    return EXIT_OK;
  }
  if (name === 'help') return help(rest, streams);
  const command = COMMANDS[name];
  if (!command) {
    const hint = name.startsWith('-') ? '' : didYouMean(name, [...Object.keys(COMMANDS), 'help']);
    streams.err.write(`aim-gpu: unknown ${name.startsWith('-') ? 'option' : 'command'} "${name}"${hint}\nRun \`npx aim-gpu --help\` for the commands.\n`);
    return EXIT_USAGE;
  }
  let reporter: Reporter | undefined;
  try {
    const { values, positionals } = parse(command, rest);
    if (values.help) {
      streams.out.write(commandHelp(name, command));
      return EXIT_OK;
    }
    reporter = new Reporter({ command: name, quiet: Boolean(values.quiet), verbose: Boolean(values.verbose), streams });
    return await command.run(values, positionals, { reporter, streams: reporter.streams() });
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      streams.err.write(`aim-gpu ${name}: ${(error as Error).message}\nRun \`npx aim-gpu ${name} --help\` for its options.\n`);
      return EXIT_USAGE;
    }
    if (error instanceof CliError) {
      streams.err.write(`aim-gpu ${name}: error: ${error.message}\n`);
      return EXIT_INVALID;
    }
    throw error;
  } finally {
    reporter?.finish();
  }
}

function help(args: readonly string[], streams: Streams): number {
  const [topic, ...extra] = args;
  if (topic === undefined) {
    streams.out.write(GLOBAL_HELP);
    return EXIT_OK;
  }
  const command = COMMANDS[topic];
  if (!command || extra.length > 0) {
    streams.err.write(`aim-gpu help: unknown command "${[topic, ...extra].join(' ')}"${didYouMean(topic, Object.keys(COMMANDS))}\n`);
    return EXIT_USAGE;
  }
  streams.out.write(commandHelp(topic, command));
  return EXIT_OK;
}
