import { readdirSync, readFileSync } from 'node:fs';
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { imagePinning } from '../../api/reserved.ts';
import { NodePartitioning, scriptFile } from '../../constructs/node-partitioning.ts';
import { commandsOf } from '../support/shell-commands.ts';
import { nodePool, uniformNode } from './fixtures.ts';

const DOCKERFILE = readFileSync(new URL('../../images/partitioner/Dockerfile', import.meta.url), 'utf8');
/** Every node script either backend ships (`partition-node.sh`, `dcm-node.sh` and what they share): both run in this image. */
const SCRIPT_FILES = readdirSync(new URL('../../constructs/scripts/', import.meta.url)).sort();
const SHELL = SCRIPT_FILES.filter((f) => f.endsWith('.sh')).map(scriptFile);
const PYTHON = SCRIPT_FILES.filter((f) => f.endsWith('.py')).map(scriptFile);

/**
 * Where each command the node scripts may run comes from in the image: an Ubuntu 24.04 package
 * (packages.ubuntu.com file lists: coreutils ships timeout, sleep, tr, rm, dirname, basename, cat
 * and sha256sum; kmod ships modprobe and modinfo; AMD's amd-smi-lib ships /opt/rocm/bin/amd-smi),
 * or a binary the Dockerfile installs itself. A command missing here fails the test: say where it
 * comes from, and install it.
 */
const PROVIDERS: Readonly<Record<string, { readonly package: string } | { readonly installs: string }>> = {
  'amd-smi': { package: 'amd-smi-lib' },
  bash: { package: 'bash' },
  '/bin/bash': { package: 'bash' },
  basename: { package: 'coreutils' },
  cat: { package: 'coreutils' },
  dirname: { package: 'coreutils' },
  rm: { package: 'coreutils' },
  sleep: { package: 'coreutils' },
  timeout: { package: 'coreutils' },
  tr: { package: 'coreutils' },
  modinfo: { package: 'kmod' },
  modprobe: { package: 'kmod' },
  python3: { package: 'python3' },
  kubectl: { installs: '/usr/local/bin/kubectl' },
};

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(dockerfile: string): { keyword: string; args: string }[] {
  return dockerfile
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [, keyword, args] = /^\s*(\w+)\s+(.*)$/.exec(line) ?? [];
      return { keyword: (keyword ?? '').toUpperCase(), args: args ?? '' };
    });
}

/** The packages `apt-get install` installs and the files `install`/`COPY` put in place. */
function provided(dockerfile: string): { packages: Set<string>; files: Set<string> } {
  const packages = new Set<string>();
  const files = new Set<string>();
  for (const { keyword, args } of instructions(dockerfile)) {
    if (keyword === 'COPY') files.add(args.trim().split(/\s+/).pop()!);
    if (keyword !== 'RUN') continue;
    for (const step of args.split(/&&|;/)) {
      const words = step.trim().split(/\s+/);
      const apt = words.findIndex((w, i) => /^(apt-get|apt)$/.test(w) && words[i + 1] === 'install');
      if (apt >= 0) for (const w of words.slice(apt + 2)) if (!w.startsWith('-')) packages.add(w);
      if (words[0] === 'install') files.add(words[words.length - 1]!);
    }
  }
  return { packages, files };
}

/** External commands of python code: subprocess calls and os.system/exec*. */
function pythonCommands(source: string): string[] {
  const calls = source.matchAll(/\b(?:subprocess\.\w+|os\.(?:system|popen|exec\w*|spawn\w*))\(\s*\[?\s*['"]([^'"\s]+)/g);
  return [...calls].map((m) => m[1]!);
}

/** What the image lacks for `commands`: a command no provider covers, or a provider the Dockerfile does not install. */
function missing(commands: Iterable<string>, dockerfile: string): string[] {
  const { packages, files } = provided(dockerfile);
  const problems: string[] = [];
  for (const command of [...new Set(commands)].sort()) {
    const provider = PROVIDERS[command];
    if (!provider) problems.push(`${command}: no known provider`);
    else if ('package' in provider && !packages.has(provider.package)) problems.push(`${command}: package ${provider.package} not installed`);
    else if ('installs' in provider && !files.has(provider.installs)) problems.push(`${command}: ${provider.installs} not installed`);
  }
  return problems;
}

/** The commands the DaemonSet runs itself: the container command and the readiness probe. */
function daemonSetCommands(): string[] {
  const chart = new Chart(Testing.app(), 'test');
  new NodePartitioning(chart, 'NodePartitioning', {
    namespace: 'aim-system',
    modelNamespace: 'aim-models',
    image: 'registry.example.com/aim/partitioner:1.2.0',
    pools: [nodePool('mi300x', ['gpu-a'])],
    nodes: [uniformNode('gpu-a', 'mi300x', 'CPX-NPS4')],
    replicas: [],
    deviceResourceNaming: 'single',
    isolation: 'devicePlugin',
  });
  const daemonSet = Testing.synth(chart).find((o) => o.kind === 'DaemonSet');
  const container = daemonSet.spec.template.spec.containers[0];
  return [container.command[0], container.readinessProbe.exec.command[0]];
}

/** Every command the image must provide: the scripts' and the DaemonSet's own. */
function requiredCommands(): string[] {
  return [...commandsOf(SHELL).commands, ...PYTHON.flatMap(pythonCommands), ...daemonSetCommands()];
}

describe('the partitioner image (images/partitioner/Dockerfile)', () => {
  it('reads the node scripts completely (no construct the command reader cannot follow)', () => {
    expect(commandsOf(SHELL).unsupported).toEqual([]);
  });

  it('finds the commands the scripts run, and not their functions, builtins or messages', () => {
    expect([...commandsOf(SHELL).commands].sort()).toEqual(['amd-smi', 'basename', 'dirname', 'kubectl', 'modinfo', 'modprobe', 'python3', 'rm', 'sleep', 'timeout', 'tr']);
    expect(daemonSetCommands()).toEqual(['/bin/bash', 'cat']);
  });

  it('installs every command the scripts and the DaemonSet run', () => {
    expect(missing(requiredCommands(), DOCKERFILE)).toEqual([]);
  });

  it('notices a command a script starts to run, and a package the Dockerfile stops installing', () => {
    const script = `${SHELL[0]}\nreport_uptime() {\n  uptime | jq -r .load >&2 && run nvidia-smi --query\n}\n`;
    const grown = [...commandsOf([script, ...SHELL.slice(1)]).commands];
    expect(missing(grown, DOCKERFILE)).toEqual(['jq: no known provider', 'nvidia-smi: no known provider', 'uptime: no known provider']);
    const withoutKmod = DOCKERFILE.replace(/^\s+kmod \\\n/m, '');
    expect(withoutKmod).not.toBe(DOCKERFILE);
    expect(missing(requiredCommands(), withoutKmod)).toEqual(['modinfo: package kmod not installed', 'modprobe: package kmod not installed']);
    expect(missing(['kubectl'], DOCKERFILE.replace('install -m 0755 /tmp/kubectl /usr/local/bin/kubectl', 'true'))).toEqual(['kubectl: /usr/local/bin/kubectl not installed']);
    expect(pythonCommands("subprocess.run(['lspci', '-n'])\nos.system('dmesg | tail')")).toEqual(['lspci', 'dmesg']);
  });

  it('starts from a ROCm image pinned by tag or digest', () => {
    const args = new Map(instructions(DOCKERFILE).filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=') as [string, string]));
    const from = instructions(DOCKERFILE).find((i) => i.keyword === 'FROM')!.args.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');
    expect(from).toMatch(/^docker\.io\/rocm\/dev-ubuntu-\d+\.\d+:\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$/);
    expect(imagePinning(from)).not.toBe('floating');
  });

  it('installs a pinned kubectl release only after checking its sha256', () => {
    const version = /^ARG KUBECTL_VERSION=(\S+)$/m.exec(DOCKERFILE)?.[1];
    expect(version).toMatch(/^v\d+\.\d+\.\d+$/);
    const run = instructions(DOCKERFILE).find((i) => i.keyword === 'RUN' && i.args.includes('/usr/local/bin/kubectl'))!.args;
    expect(run).toContain('https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}');
    const check = run.indexOf('sha256sum --check --strict');
    expect(check).toBeGreaterThan(run.indexOf('kubectl.sha256'));
    expect(check).toBeLessThan(run.indexOf('install -m 0755'));
    // A failed check must stop the build: the steps run under `set -e`.
    expect(run.trimStart().startsWith('set -eu;')).toBe(true);
  });

  it('puts amd-smi (under /opt/rocm/bin) and kubectl on the PATH', () => {
    const path = /PATH=(\S+)/.exec(instructions(DOCKERFILE).find((i) => i.keyword === 'ENV')!.args)![1]!.split(':');
    expect(path).toEqual(expect.arrayContaining(['/opt/rocm/bin', '/usr/local/bin', '/usr/bin', '/bin']));
  });
});
