import { describe, expect, it } from 'vitest';
import { loadSpecTexts } from '../../api/load.ts';
import { minAvailablePods } from '../../api/min-available.ts';
import { FLEET, MODEL, lines, specTexts } from './helpers.ts';

const load = (overrides: Parameters<typeof specTexts>[0]) => loadSpecTexts(specTexts(overrides));
/** MODEL has `replicas: 2` on line 7; these put minAvailable on line 8. */
const withMinAvailable = (value: string, replicas = 2) => `${MODEL.replace('replicas: 2', `replicas: ${replicas}`)}  minAvailable: ${value}\n`;
const withPartitioning = (value: string) => `${FLEET}  partitioning:\n    maxUnavailableNodes: ${value}\n`;

describe('Model spec.minAvailable', () => {
  it('is left to the plan when not written, and kept as written otherwise', () => {
    expect(load({}).spec!.models[0]!.spec.minAvailable).toBeUndefined();
    expect(load({ models: withMinAvailable('1') }).spec!.models[0]!.spec.minAvailable).toBe(1);
    expect(load({ models: withMinAvailable('"50%"') }).spec!.models[0]!.spec.minAvailable).toBe('50%');
    expect(load({ models: withMinAvailable('0') }).diagnostics).toEqual([]);
  });

  it('rounds a percentage up, as the disruption controller does', () => {
    expect([minAvailablePods('50%', 3), minAvailablePods('50%', 4), minAvailablePods('1%', 2), minAvailablePods('0%', 5), minAvailablePods(2, 9)]).toEqual([2, 2, 1, 0, 2]);
  });

  it('fails on values Kubernetes would not read as a count or a percentage, at the value', () => {
    expect(lines(load({ models: withMinAvailable('"half"') }))).toEqual([
      'specs/models.yaml:8:17: error: spec.minAvailable: must be a whole number or a percentage such as 50%',
    ]);
    expect(lines(load({ models: withMinAvailable('"150%"') }))).toEqual([
      'specs/models.yaml:8:17: error: spec.minAvailable: must be a whole number or a percentage such as 50%',
    ]);
    expect(lines(load({ models: withMinAvailable('1.5') }))).toEqual(['specs/models.yaml:8:17: error: spec.minAvailable: must be integer or string']);
    expect(lines(load({ models: withMinAvailable('-1') }))).toEqual(['specs/models.yaml:8:17: error: spec.minAvailable: must be >= 0']);
  });

  it('fails when the budget keeps every replica, since then no drain could evict one', () => {
    expect(lines(load({ models: withMinAvailable('2') }))).toEqual([
      'specs/models.yaml:8:17: error: spec.minAvailable: must be below replicas (2): with 2 no replica could ever be evicted, so draining any of its nodes would wait (kubectl drain for ever, the partitioner giving way at each drain timeout and retrying, so the node is never repartitioned); at most 1, or 0 for no budget',
    ]);
    // 90% of 2 is 1.8, rounded up to 2: every replica.
    expect(lines(load({ models: withMinAvailable('"90%"') }))[0]).toContain('with 90% of 2, rounded up, is 2 no replica could ever be evicted');
    expect(load({ models: withMinAvailable('"50%"') }).diagnostics).toEqual([]);
  });

  it('does not check a model of one replica, which gets no budget', () => {
    expect(load({ models: withMinAvailable('5', 1) }).diagnostics).toEqual([]);
  });
});

describe('Fleet spec.partitioning.maxUnavailableNodes', () => {
  it('defaults to one node at a time', () => {
    expect(load({}).spec!.fleet.spec.partitioning.maxUnavailableNodes).toBe(1);
    expect(load({ fleet: withPartitioning('3') }).spec!.fleet.spec.partitioning.maxUnavailableNodes).toBe(3);
  });

  it('fails on anything but a whole number of nodes from 1, at the value', () => {
    expect(lines(load({ fleet: withPartitioning('0') }))).toEqual(['specs/fleet.yaml:10:26: error: spec.partitioning.maxUnavailableNodes: must be >= 1']);
    expect(lines(load({ fleet: withPartitioning('1.5') }))).toEqual(['specs/fleet.yaml:10:26: error: spec.partitioning.maxUnavailableNodes: must be integer']);
    expect(lines(load({ fleet: withPartitioning('"2"') }))).toEqual(['specs/fleet.yaml:10:26: error: spec.partitioning.maxUnavailableNodes: must be integer']);
    expect(lines(load({ fleet: `${FLEET}  partitioning:\n    maxUnavailable: 2\n` }))).toEqual([
      'specs/fleet.yaml:10:5: error: spec.partitioning.maxUnavailable: unknown field "maxUnavailable"',
    ]);
  });
});
