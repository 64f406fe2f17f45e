import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { aimGpu, ROOT } from './run.ts';

const CLI_RUNS = { timeout: 60_000 };

/** Runs `main` in process with captured streams; `tty` makes stderr look like a terminal. */
async function run(argv: string[], tty = false) {
  let out = '';
  let err = '';
  const code = await main(argv, {
    out: { write: (t: string) => (out += t) },
    err: { write: (t: string) => (err += t), isTTY: tty },
  });
  return { code, out, err };
}

describe('command-line conventions', CLI_RUNS, () => {
  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const result = await aimGpu(['--version']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(`aim-gpu ${version}`);
  });

  it('shows a command\'s help with `help <command>`, the same as `<command> --help`', async () => {
    const viaHelp = await run(['help', 'plan']);
    const viaFlag = await run(['plan', '--help']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.out).toBe(viaFlag.out);
    expect(viaHelp.out).toContain('Usage: npx aim-gpu plan [SPECS] [options]');
    expect(viaHelp.out).toContain('--exit-code');
    expect((await run(['help', 'plna'])).err).toContain('did you mean "plan"?');
  });

  it('suggests the nearest command and option, exit code 2, one short message', async () => {
    const command = await run(['synht']);
    expect(command.code).toBe(2);
    expect(command.err).toBe('aim-gpu: unknown command "synht" (did you mean "synth"?)\nRun `npx aim-gpu --help` for the commands.\n');
    const option = await run(['plan', '--fromat', 'json']);
    expect(option.code).toBe(2);
    expect(option.err.split('\n')[0]).toBe('aim-gpu plan: unknown option --fromat (did you mean --format?)');
  });

  it('takes the spec directory as an argument, and refuses two or a conflicting --specs', async () => {
    const bad = 'test/fixtures/specs/bad/several-problems';
    const positional = await run(['validate', bad]);
    expect(positional.code).toBe(1);
    expect(positional.err).toContain(`${bad}/`);
    const good = await run(['validate', 'specs']);
    expect(good.code).toBe(0);
    expect(good.out).toBe('specs: valid\n');
    expect((await run(['validate', 'specs', 'other'])).code).toBe(2);
    const conflict = await run(['synth', bad, '--specs', 'specs', '--check']);
    expect(conflict.code).toBe(2);
    expect(conflict.err).toContain(`got the spec directory twice: "${bad}" and --specs "specs"`);
  });

  it('counts with correct plurals', async () => {
    const result = await run(['validate', 'specs']);
    expect(result.err).toMatch(/^0 errors, 1 warning$/m);
    const bad = await run(['validate', 'test/fixtures/specs/bad/unknown-model']);
    expect(bad.err).toMatch(/^1 error, 0 warnings$/m);
  });

  it('is silent but for results and errors under --quiet, and times each stage under --verbose', async () => {
    const quiet = await run(['synth', '--check', '--quiet']);
    expect(quiet.code).toBe(0);
    expect(quiet.out + quiet.err).toBe('');
    const verbose = await run(['synth', '--check', '--verbose']);
    expect(verbose.err).toMatch(/^aim-gpu synth: load \d+ ms, size \d+ ms, plan \d+ ms, construct \d+ ms, compare \d+ ms; total \d+ ms$/m);
  });

  it('draws a progress line on a terminal once a run passes the threshold, and clears it', async () => {
    const { Reporter } = await import('../../cli/reporter.ts');
    let err = '';
    const reporter = new Reporter({
      command: 'synth',
      quiet: false,
      verbose: false,
      streams: { out: { write: () => true }, err: { write: (t: string) => (err += t), isTTY: true } },
      progressAfterMs: 10,
    });
    reporter.stage('plan');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(err).toBe('\r\x1b[2Kaim-gpu synth: plan…');
    reporter.stage('construct');
    reporter.finish();
    expect(err).toBe('\r\x1b[2Kaim-gpu synth: plan…\r\x1b[2Kaim-gpu synth: construct…\r\x1b[2K');
    // Not on a pipe.
    const piped = await run(['synth', '--check'], false);
    expect(piped.err).not.toContain('\r');
  });
});

describe('aim-gpu plan --exit-code and rendering', CLI_RUNS, () => {
  it('exits 0 without changes, 2 with changes, 1 on an invalid spec', async () => {
    expect((await run(['plan', '--base', 'HEAD', '--exit-code', '-q'])).code).toBe(0);
    const { copySpecs } = await import('./run.ts');
    const { writeFileSync } = await import('node:fs');
    const specs = copySpecs();
    const models = join(specs, 'models.yaml');
    writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 4', 'replicas: 3'));
    const changed = await run(['plan', specs, '--base', 'HEAD', '--exit-code', '-q']);
    expect(changed.code).toBe(2);
    expect(changed.out).toContain('- llama-8b#3');
    expect((await run(['plan', specs, '--base', 'HEAD', '-q'])).code).toBe(0);
    writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 3', 'replicas: -3'));
    expect((await run(['plan', specs, '--base', 'HEAD', '--exit-code', '-q'])).code).toBe(1);
  });

  it('colours text under FORCE_COLOR and not under NO_COLOR or through a pipe', async () => {
    const { copySpecs } = await import('./run.ts');
    const { writeFileSync } = await import('node:fs');
    const specs = copySpecs();
    const models = join(specs, 'models.yaml');
    writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 4', 'replicas: 5'));
    const forced = await aimGpu(['plan', specs, '--base', 'HEAD', '-q'], { FORCE_COLOR: '1' });
    expect(forced.stdout).toContain('\x1b[32m+\x1b[39m llama-8b#4');
    const piped = await aimGpu(['plan', specs, '--base', 'HEAD', '-q']);
    expect(piped.stdout).toContain('+ llama-8b#4');
    expect(piped.stdout).not.toContain('\x1b[');
    const noColour = await aimGpu(['plan', specs, '--base', 'HEAD', '-q'], { NO_COLOR: '1' });
    expect(noColour.stdout).not.toContain('\x1b[');
  });
});
