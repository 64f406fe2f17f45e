import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecTexts } from '../../api/load.ts';
import { DERIVED_ENGINE_FLAGS, derivedFlagOf, imagePinning, urlCredentials } from '../../api/reserved.ts';
import { parseSpecFile } from '../../api/yaml-source.ts';
import { FLEET, MODEL, lines, specTexts } from './helpers.ts';

/**
 * Rules that used to live only in the constructs (synth refused with a construct path and no
 * position, after `validate` had passed) or nowhere (the value reached the manifests). Each case
 * is one the compiler got wrong before, now one positioned error from the loader.
 */

const PARTITIONER = 'ghcr.io/aim-gpu-sharing/partitioner:0.1.0@sha256:0c2e4a6b8d1f3e5a7c9b0d2f4a6c8e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c';
const fleetWith = (extra: string) => specTexts({ fleet: `${FLEET}${extra}` });
const modelWith = (extra: string) => specTexts({ models: `${MODEL}${extra}` });

describe('namespaces', () => {
  for (const name of ['kube-system', 'kube-public', 'kube-node-lease', 'default']) {
    it(`refuses the reserved namespace ${name}`, () => {
      expect(lines(loadSpecTexts(fleetWith(`  namespace: ${name}\n`)))).toEqual([
        `specs/fleet.yaml:9:14: error: spec.namespace: "${name}" is reserved by Kubernetes; the fleet's namespaces get a privileged Pod Security label, use a namespace of their own`,
      ]);
    });
  }

  it('refuses one namespace for serving and node setup, at the one written', () => {
    expect(lines(loadSpecTexts(fleetWith('  systemNamespace: aim-models\n')))).toEqual([
      'specs/fleet.yaml:9:20: error: spec.systemNamespace: model serving and node setup need different namespaces, both are "aim-models" (node setup runs privileged; model pods must not share its RBAC)',
    ]);
  });
});

describe('images', () => {
  const withPartitioner = (image: string) => specTexts({ fleet: FLEET.replace(PARTITIONER, image) });
  for (const image of ['ghcr.io/aim/partitioner', 'ghcr.io/aim/partitioner:latest', 'registry.example.com:5000/aim/partitioner']) {
    it(`refuses the floating partitioner image ${image}`, () => {
      expect(lines(loadSpecTexts(withPartitioner(image)))).toEqual([
        'specs/fleet.yaml:8:18: error: spec.images.partitioner: must be pinned by a digest (name[:tag]@sha256:<64 hex>) or at least a tag other than latest: the privileged partition DaemonSet would run whatever the tag points at next',
      ]);
    });
  }

  it('warns on a partitioner image pinned by a tag only, and accepts a digest', () => {
    expect(lines(loadSpecTexts(withPartitioner('registry.example.com:5000/aim/partitioner:0.1.0')))).toEqual([
      'specs/fleet.yaml:8:18: warning: spec.images.partitioner: image is not pinned by digest (name:tag@sha256:…); the manifests change meaning when the tag moves',
    ]);
    expect(imagePinning(PARTITIONER)).toBe('digest');
  });
});

describe('git URLs', () => {
  const cases: [string, string | undefined][] = [
    ['https://user:s3cret@git.example.com/fleet.git', 'a password or token'],
    ['https://ghp_abc123@github.com/org/fleet.git', 'a user name or token (HTTPS has no user without credentials)'],
    ['ssh://git:pw@git.example.com/fleet.git', 'a password or token'],
    ['deploy:pw@git.example.com:org/fleet.git', 'a user and password'],
    ['git@github.com:org/fleet.git', undefined],
    ['ssh://git@git.example.com/fleet.git', undefined],
    ['https://git.example.com/fleet.git', undefined],
  ];
  for (const [url, found] of cases) {
    it(`${found ? 'refuses' : 'accepts'} ${url}`, () => expect(urlCredentials(url)).toBe(found));
  }

  it('is a positioned error for Argo CD and Flux alike', () => {
    const url = 'https://user:s3cret@git.example.com/fleet.git';
    expect(lines(loadSpecTexts(fleetWith(`  gitops:\n    argocd: {repoURL: "${url}"}\n    flux: {repoURL: "${url}"}\n`)))).toEqual([
      "specs/fleet.yaml:10:23: error: spec.gitops.argocd.repoURL: must not embed credentials (found a password or token): the URL is committed and applied in plain text; give an Argo CD repository Secret instead",
      "specs/fleet.yaml:11:21: error: spec.gitops.flux.repoURL: must not embed credentials (found a password or token): the URL is committed and applied in plain text; give the GitRepository's spec.secretRef instead",
    ]);
  });
});

describe('model env and args', () => {
  for (const name of ['HF_TOKEN', 'ROCR_VISIBLE_DEVICES', 'HIP_VISIBLE_DEVICES', 'CUDA_VISIBLE_DEVICES', 'VLLM_USE_TRITON_AWQ']) {
    it(`refuses env ${name}, whatever the isolation`, () => {
      const result = lines(loadSpecTexts(modelWith(`  env:\n    ${name}: "0"\n`)));
      expect(result).toHaveLength(1);
      expect(result[0]).toMatch(new RegExp(`^specs/models\\.yaml:9:5: error: spec\\.env\\.${name}: ${name} is reserved: `));
    });
  }

  const spellings = [
    ['--tensor-parallel-size=2', '--tensor-parallel-size'],
    ['--tensor-parallel-size', '--tensor-parallel-size'],
    ['--max_model_len=4096', '--max-model-len'],
    ['--gpu-memory-utilization 0.99', '--gpu-memory-utilization'],
    ['-tp', '--tensor-parallel-size'],
    ['-q=awq', '--quantization'],
    ['--dtype=half', '--dtype'],
    ['--kv-cache-dtype', '--kv-cache-dtype'],
    ['--max-num-seqs=512', '--max-num-seqs'],
    ['--enable-prefix-caching', undefined],
    ['--max-model-lenx', undefined],
    ['fp8', undefined],
  ] as const;
  for (const [arg, flag] of spellings) {
    it(`reads ${arg} as ${flag ?? 'no derived flag'}`, () => expect(derivedFlagOf(arg)).toBe(flag));
  }

  it('refuses args repeating a derived flag, each at its item', () => {
    expect(lines(loadSpecTexts(modelWith('  args: ["--enable-prefix-caching", "--max-model-len", "100", "--dtype=half"]\n')))).toEqual([
      'specs/models.yaml:8:37: error: spec.args.1: --max-model-len is derived by the compiler (set from spec.maxModelLen, which the KV cache is sized for); change the spec field instead of overriding it',
      'specs/models.yaml:8:63: error: spec.args.3: --dtype is derived by the compiler (set from the planned precision (spec.precision)); change the spec field instead of overriding it',
    ]);
  });

  it('lists every flag the committed manifests derive (one list for the checks and the constructs)', () => {
    const flags = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (/\.ya?ml$/.test(entry.name)) for (const m of readFileSync(file, 'utf8').matchAll(/^\s+- (--[a-z-]+)/gm)) flags.add(m[1]!);
      }
    };
    walk(path.join(import.meta.dirname, '../../dist/serving'));
    expect(flags.size).toBeGreaterThan(5);
    expect([...flags].filter((flag) => !Object.hasOwn(DERIVED_ENGINE_FLAGS, flag))).toEqual([]);
  });

  it('refuses an empty pools list', () => {
    expect(lines(loadSpecTexts(modelWith('  pools: []\n')))).toEqual(['specs/models.yaml:8:10: error: spec.pools: must not be empty']);
  });
});

describe('hidden characters', () => {
  const cases: [string, string, string][] = [
    ['a NUL in an env value', '  env:\n    FOO: "a\\0b"\n', 'specs/models.yaml:9:10: error: spec.env.FOO: contains a NUL (U+0000) at character 2'],
    ['a newline in an arg', '  args: ["--x\\ny"]\n', 'specs/models.yaml:8:10: error: spec.args.0: contains a newline (U+000A) at character 4'],
    ['a bidirectional override', '  env:\n    FOO: "a\\u202Eb"\n', 'specs/models.yaml:9:10: error: spec.env.FOO: contains the invisible or control character U+202E at character 2'],
    ['an escape in a key', '  env:\n    "F\\eO": x\n', 'specs/models.yaml:9:5: error: spec.env.F\u001bO: key contains an escape (U+001B) at character 2'],
  ];
  for (const [name, extra, expected] of cases) {
    it(`refuses ${name}, once`, () => {
      expect(lines(loadSpecTexts(modelWith(extra)))).toEqual([`${expected}; control and invisible characters are not allowed in a spec`]);
    });
  }

  it('refuses a newline in an image reference (a construct refused it before, without a position)', () => {
    const fleet = FLEET.replace(PARTITIONER, `"${PARTITIONER}\\n"`);
    expect(lines(loadSpecTexts(specTexts({ fleet })))).toEqual([
      `specs/fleet.yaml:8:18: error: spec.images.partitioner: contains a newline (U+000A) at character ${PARTITIONER.length + 1}; control and invisible characters are not allowed in a spec`,
    ]);
  });
});

describe('encodings', () => {
  it('reads CRLF line ends and a byte-order mark like plain UTF-8', () => {
    const crlf = specTexts().map((f) => ({ ...f, text: `\ufeff${f.text.replace(/\n/g, '\r\n')}` }));
    expect(lines(loadSpecTexts(crlf))).toEqual([]);
  });

  it('refuses UTF-16 text read as UTF-8, at the start of the file', () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(FLEET, 'utf16le')]).toString('utf8');
    expect(parseSpecFile('specs/fleet.yaml', utf16).diagnostics.map((d) => `${d.line}:${d.col}: ${d.message}`)).toEqual([
      '1:1: the file is not UTF-8 text (it has NUL bytes: UTF-16?); save it as UTF-8',
    ]);
  });
});

describe('monitoring selectors', () => {
  for (const field of ['grafanaSidecarLabel', 'grafanaInstanceSelector']) {
    it(`refuses an empty ${field} (a construct refused it before, without a position)`, () => {
      expect(lines(loadSpecTexts(fleetWith(`  monitoring:\n    ${field}: {}\n`)))).toEqual([
        `specs/fleet.yaml:10:${field.length + 7}: error: spec.monitoring.${field}: must name at least one label (an empty selector matches everything or nothing)`,
      ]);
    });
  }
});

describe('memoryGiB', () => {
  it('refuses less than 1 GiB, 5e-324 included', () => {
    for (const value of ['5e-324', '0.5']) {
      expect(lines(loadSpecTexts(modelWith(`  memoryGiB: ${value}\n`)))).toEqual([`specs/models.yaml:8:14: error: spec.memoryGiB: must be >= 1`]);
    }
  });
});
