import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMMANDS, type Command } from './commands.ts';
import { EXIT_USAGE, UsageError } from './usage.ts';

const GLOBAL_HELP = `aim-gpu: plan AMD Instinct GPU partitions for LLM serving and synthesize the manifests

Usage: npx aim-gpu <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run \`npx aim-gpu <command> --help\` for a command's options.
Exit codes: 0 success, 1 invalid spec or input, or unschedulable demand, 2 usage error.
`;

function commandHelp(name: string, command: Command): string {
  const options = Object.entries(command.options).map(([flag, o]) => {
    const value = o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : '';
    return `  --${flag}${value}`.padEnd(28) + o.help;
  });
  return `${command.summary}\n\nUsage: npx aim-gpu ${name}${command.positional ? ` ${command.positional}` : ''} [options]\n\nOptions:\n${[
    ...options,
    '  --help'.padEnd(28) + 'show this help',
  ].join('\n')}\n`;
}

/** Runs one CLI invocation and returns its exit code; output goes to stdout, problems to stderr. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(GLOBAL_HELP);
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`aim-gpu: unknown command "${name}"\n\n${GLOBAL_HELP}`);
    return EXIT_USAGE;
  }
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } };
  for (const [flag, o] of Object.entries(command.options)) options[flag] = { type: o.type, default: o.default };
  try {
    const parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
    if (parsed.values.help) {
      process.stdout.write(commandHelp(name, command));
      return 0;
    }
    return await command.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`aim-gpu ${name}: ${(error as Error).message}\n\n${commandHelp(name, command)}`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
