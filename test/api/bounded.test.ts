import { describe, expect, it } from 'vitest';
import { formatDiagnostics, MAX_SHOWN_PER_KIND } from '../../api/diagnostics.ts';
import { loadSpecTexts } from '../../api/load.ts';
import { MAX_DEPTH, MAX_FILE_BYTES } from '../../api/yaml-source.ts';
import { FLEET, MODEL, POOL, lines, specTexts } from './helpers.ts';

/**
 * Hostile inputs at the largest size the loader accepts: each must give a few clean positioned
 * errors. Work is asserted through sizes (diagnostics, printed lines), never through wall time.
 */

const modelWith = (spec: string) => `${MODEL}${spec}`;

describe('deep nesting', () => {
  const cases: Record<string, string> = {
    'flow sequences': modelWith(`  env: ${'['.repeat(500_000)}${']'.repeat(500_000)}\n`),
    'flow mappings': modelWith(`  env: ${'{a: '.repeat(200_000)}1${'}'.repeat(200_000)}\n`),
    // Composing recursed once per level and overflowed the stack at a few thousand.
    'compact block sequences': modelWith(`  args:\n    ${'- '.repeat(20_000)}x\n`),
    'indented block mappings': modelWith(`  env:\n${Array.from({ length: 400 }, (_, i) => `${' '.repeat(4 + i)}a:`).join('\n')} 1\n`),
  };
  for (const [name, models] of Object.entries(cases)) {
    it(`of ${name} is one error saying how deep, never a stack overflow`, () => {
      expect(models.length).toBeLessThanOrEqual(MAX_FILE_BYTES);
      const result = loadSpecTexts(specTexts({ models }));
      expect(result.spec).toBeUndefined();
      expect(result.diagnostics).toHaveLength(1);
      expect(lines(result)[0]).toMatch(new RegExp(`^specs/models\\.yaml:\\d+:\\d+: error: (spec\\.env\\S*: )?nested deeper than ${MAX_DEPTH} levels$`));
    });
  }

  it('is accepted up to the limit', () => {
    // Labels are a flat map, but a list of lists of strings one level short of the limit is
    // still read as a value (and then rejected by the schema, not by the depth guard).
    const nested = `${'['.repeat(MAX_DEPTH - 2)}x${']'.repeat(MAX_DEPTH - 2)}`;
    const result = loadSpecTexts(specTexts({ models: modelWith(`  args: ${nested}\n`) }));
    expect(lines(result).join('\n')).not.toMatch(/nested deeper/);
    expect(lines(result)[0]).toMatch(/spec\.args\.0: must be string/);
  });
});

describe('YAML merge keys', () => {
  const merged = (directive: string) =>
    `${directive}${MODEL}  env: &base\n    A: "1"\n  slo:\n    <<: *base\n`;
  for (const [version, directive] of [['1.1', '%YAML 1.1\n---\n'], ['1.2', '']] as const) {
    it(`are reported in words under YAML ${version}`, () => {
      const result = loadSpecTexts(specTexts({ models: merged(directive) }));
      const line = directive ? 13 : 11;
      expect(lines(result)).toEqual([
        `specs/models.yaml:${line}:5: error: spec.slo.<<: YAML merge keys ("<<") are not supported: YAML 1.2 has none and tools disagree on them; write the fields out (an alias "*name" may stand for a whole value)`,
      ]);
    });
  }

  it('leave a quoted "<<" key to the schema', () => {
    const result = loadSpecTexts(specTexts({ models: `${MODEL}  env:\n    "<<": x\n` }));
    expect(lines(result).join('\n')).not.toMatch(/merge/);
    expect(lines(result).join('\n')).toMatch(/spec\.env\.<<: invalid key/);
  });
});

describe('many diagnostics', () => {
  // Enough to show the cap; the loader's cost per megabyte is in bench/fuzz-specs.ts.
  const duplicates = `${POOL}  labels:\n${'    a: b\n'.repeat(30_000)}`;

  it('are gathered without spreading them into a call (no stack overflow)', () => {
    // `push(...items)` overflows the stack at about 125,000 items; 140,000 lines of `x: 1` (700 kB) go past it.
    const pools = `${POOL}${'x: 1\n'.repeat(140_000)}`;
    expect(pools.length).toBeLessThanOrEqual(MAX_FILE_BYTES);
    const result = loadSpecTexts(specTexts({ pools }));
    expect(result.diagnostics.filter((d) => d.message.startsWith('duplicate key "x"'))).toHaveLength(140_000 - 1);
  }, 60_000);

  it(`are printed at most ${MAX_SHOWN_PER_KIND} of a kind, then counted`, () => {
    const result = loadSpecTexts(specTexts({ pools: duplicates }));
    const printed = formatDiagnostics(result.diagnostics);
    expect(printed).toHaveLength(MAX_SHOWN_PER_KIND + 1);
    const rest = (result.diagnostics.length - MAX_SHOWN_PER_KIND).toLocaleString('en-US');
    expect(printed.at(-1)).toBe(`  … and ${rest} more like this`);
    expect(rest).toBe('29,979');
  });

  it('of different kinds are each shown', () => {
    const result = loadSpecTexts(specTexts({ fleet: FLEET.replace('spec:', 'spec:\n  namespace: Bad_Name'), pools: duplicates }));
    const printed = formatDiagnostics(result.diagnostics);
    expect(printed.filter((line) => line.includes('spec.namespace'))).toHaveLength(1);
    expect(printed.filter((line) => line.includes('duplicate key'))).toHaveLength(MAX_SHOWN_PER_KIND);
    expect(printed.filter((line) => line.includes('more like this'))).toHaveLength(1);
  });
});

describe('replicas', () => {
  // POOL: 2 MI300X nodes × 8 GPUs × 8 partitions (CPX) = 128 partitions.
  const withReplicas = (replicas: string, extra = '') => specTexts({ models: `${MODEL.replace('replicas: 2', `replicas: ${replicas}`)}${extra}` });

  for (const replicas of ['1000000000', '9007199254740993', '1000000', '1e300']) {
    it(`${replicas} is one schema error, before anything is expanded`, () => {
      const result = loadSpecTexts(withReplicas(replicas));
      expect(result.spec).toBeUndefined();
      expect(lines(result)).toEqual([`specs/models.yaml:7:13: error: spec.replicas: must be <= 150000`]);
    });
  }

  it('more than the partitions of its pools is one error naming both counts', () => {
    const result = loadSpecTexts(withReplicas('150000'));
    expect(lines(result)).toEqual([
      'specs/models.yaml:7:13: error: spec.replicas: 150,000 replicas need as many partitions, but its pools (mi300x) have at most 128; a partition holds one replica',
    ]);
  });

  it('of all models together beyond the fleet is one error, at the biggest demand', () => {
    const second = MODEL.replace('name: llama-8b', 'name: other').replace('replicas: 2', 'replicas: 100');
    const models = `${MODEL.replace('replicas: 2', 'replicas: 29')}---\n${second}`;
    const result = loadSpecTexts(specTexts({ models }));
    expect(lines(result)).toEqual([
      'specs/models.yaml:15:13: error: spec.replicas: the models need 129 partitions in all (this one 100), but the fleet\'s pools have at most 128; a partition holds one replica',
    ]);
    expect(loadSpecTexts(specTexts({ models: models.replace('replicas: 29', 'replicas: 28') })).spec).toBeDefined();
  });

  it('is checked against the pools a model may use', () => {
    const pools = `${POOL}---\n${POOL.replace('name: mi300x', 'name: small').replace('[gpu-node-01, gpu-node-02]', '[gpu-node-03]')}  gpusPerNode: 1\n  profiles: [SPX-NPS1]\n`;
    const result = loadSpecTexts(specTexts({ pools, models: withReplicas('2', '  pools: [small]\n')[1]!.text }));
    expect(lines(result)).toEqual([
      'specs/models.yaml:7:13: error: spec.replicas: 2 replicas need as many partitions, but its pools (small) have at most 1; a partition holds one replica',
    ]);
  });
});

describe('node lists', () => {
  it('longer than a Kubernetes cluster can be are one error', () => {
    const nodes = Array.from({ length: 5001 }, (_, i) => `n${i}`).join(', ');
    const result = loadSpecTexts(specTexts({ pools: POOL.replace('[gpu-node-01, gpu-node-02]', `[${nodes}]`) }));
    expect(lines(result)).toEqual(['specs/pools.yaml:7:10: error: spec.nodes: must have at most 5000 items']);
  });
});
