import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../cli/run.ts';

const DOCS = join(ROOT, 'docs');

interface Shown {
  readonly file: string;
  readonly command: string;
  /** From a trailing `# exits N` comment; 0 otherwise. */
  readonly exitCode: number;
}

/** Every `npx aim-gpu …` the docs show: lines of code blocks and inline code spans. */
function shownCommands(): Shown[] {
  const shown: Shown[] = [];
  for (const file of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(join(DOCS, file), 'utf8');
    const blocks = [...text.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1]!);
    for (const line of blocks.flatMap((b) => b.split('\n'))) {
      const match = /^(npx aim-gpu [^#]*?)\s*(?:#\s*(?:exits (\d))?.*)?$/.exec(line.trim());
      if (match) shown.push({ file, command: match[1]!, exitCode: Number(match[2] ?? 0) });
    }
    const prose = text.replace(/```[\s\S]*?```/g, '');
    for (const [, command] of prose.matchAll(/`(npx aim-gpu [^`]*)`/g)) shown.push({ file, command: command!, exitCode: 0 });
  }
  return shown;
}

/** A user's repository: the default specs and dist/ on main, a branch that scales llama-8b down. */
async function userRepository(): Promise<string> {
  const origin = tempDir('docs-origin');
  const cli = (args: string[], cwd: string) => execa('node', [join(ROOT, 'cli', 'bin.js'), ...args], { cwd });
  const git = (args: string[], cwd = origin) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd });
  for (const entry of ['specs', 'dist']) cpSync(join(ROOT, entry), join(origin, entry), { recursive: true });
  await git(['init', '-q', '-b', 'main']);
  await git(['add', '.']);
  await git(['commit', '-qm', 'fleet']);
  await git(['checkout', '-qb', 'change']);
  const models = join(origin, 'specs', 'models.yaml');
  writeFileSync(models, readFileSync(models, 'utf8').replace('replicas: 4', 'replicas: 3'));
  await cli(['synth', '-q'], origin);
  await git(['commit', '-qam', 'scale llama-8b down']);
  const clone = tempDir('docs-clone');
  await execa('git', ['clone', '-q', '--no-local', '--branch', 'change', origin, clone]);
  cpSync(join(ROOT, 'test', 'fixtures', 'amd-smi', 'mi300x-spx-gpu-data.json'), join(clone, 'amd-smi-static.json'));
  return clone;
}

describe('every aim-gpu command in docs/', { timeout: 600_000 }, () => {
  it('runs, with the exit code the docs give, in a user repository with a spec change', async () => {
    const shown = shownCommands();
    expect(shown.length).toBeGreaterThan(10);
    const repo = await userRepository();
    const failures: string[] = [];
    for (const { file, command, exitCode } of new Map(shown.map((s) => [s.command, s])).values()) {
      const script = command.replace(/^npx aim-gpu/, `node ${join(ROOT, 'cli', 'bin.js')}`);
      const result = await execa('bash', ['-eo', 'pipefail', '-c', script], { cwd: repo, reject: false });
      if (result.exitCode !== exitCode) failures.push(`${file}: \`${command}\` exited ${result.exitCode}, expected ${exitCode}: ${result.stderr.slice(0, 300)}`);
    }
    expect(failures).toEqual([]);
  });

  it('shows the plan markdown as the scale-down scenario snapshot renders it', () => {
    const doc = readFileSync(join(DOCS, 'review-workflow.md'), 'utf8');
    const shownMarkdown = /```markdown\n([\s\S]*?)\n…\n```/.exec(doc)![1]!;
    const snapshot = readFileSync(join(ROOT, 'test', 'review', '__snapshots__', 'scale-down.md'), 'utf8');
    expect(snapshot.startsWith(shownMarkdown + '\n')).toBe(true);
  });

  it('are linked from the README, and link only to files that exist', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('](docs/README.md)');
    for (const file of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(DOCS, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)) {
        if (/^https?:/.test(target!)) continue;
        expect(() => readFileSync(join(DOCS, target!)), `${file} → ${target}`).not.toThrow();
      }
    }
  });
});
