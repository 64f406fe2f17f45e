import type { FleetMonitoring as FleetMonitoringSpec, FleetSpec, ModelSlo } from '../../api/types.ts';
import type { FleetChartsInput } from '../../constructs/fleet.ts';
import { STAGES } from '../../constructs/fleet.ts';
import { engineFlags, fleet, type K8sObject, model, MODELS, plan, pool, synthFleet } from '../constructs/fixtures.ts';

/** SLOs of the monitored fixture fleet, by model. */
export const SLOS: Readonly<Record<string, ModelSlo>> = {
  'llama-8b': { ttftSeconds: 0.5, itlSeconds: 0.05 },
  'qwen-32b': { e2eSeconds: 30 },
};

export const UNPLACED = [{ id: 'llama-70b#1', model: 'llama-70b', reason: 'needs 1 partition of ≥ 158 GiB; no SPX partition is free' }];

/**
 * A fleet with every case the monitoring rules distinguish: a uniform CPX-NPS4 node, a mixed node
 * (CPX-NPS1 and SPX-NPS1 GPUs), models with and without SLOs, and a replica the plan left unplaced.
 */
export function monitoredInput(monitoring: Partial<FleetMonitoringSpec> = {}, fleetSpec: Partial<FleetSpec> = {}): FleetChartsInput {
  const base = fleet().spec;
  const withSlo = (m: ReturnType<typeof model>) => (SLOS[m.metadata.name] ? { ...m, spec: { ...m.spec, slo: SLOS[m.metadata.name] } } : m);
  const spec = {
    fleet: fleet({ deviceResourceNaming: 'mixed', ...fleetSpec, monitoring: { ...base.monitoring, ...monitoring } }),
    pools: [pool('mi300x', { nodes: ['gpu-node-01', 'gpu-node-02.dc1.example.com'], allowMixedProfiles: true, profiles: ['SPX-NPS1', 'CPX-NPS1', 'CPX-NPS4'] })],
    models: [MODELS.llama70b, MODELS.llama8b, MODELS.qwen32b].map(withSlo),
  };
  const placed = plan(
    [
      { name: 'gpu-node-01', pool: 'mi300x', profile: 'CPX-NPS4', gpus: 8 },
      { name: 'gpu-node-02.dc1.example.com', pool: 'mi300x', profile: ['CPX-NPS1', 'CPX-NPS1', 'SPX-NPS1', 'SPX-NPS1', 'SPX-NPS1', 'SPX-NPS1', 'SPX-NPS1', 'SPX-NPS1'], gpus: 8 },
    ],
    [
      { id: 'llama-8b#0', node: 'gpu-node-01', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[0, 0]], kvCacheTokens: 40000 },
      { id: 'llama-8b#1', node: 'gpu-node-01', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[0, 1]], kvCacheTokens: 40000 },
      { id: 'llama-8b#2', node: 'gpu-node-02.dc1.example.com', precision: 'bf16', memoryGiB: 19.4, gpuMemoryUtilization: 0.85, partitions: [[0, 0]], kvCacheTokens: 40000 },
      { id: 'qwen-32b#0', node: 'gpu-node-01', precision: 'fp8', memoryGiB: 41.2, gpuMemoryUtilization: 0.91, partitions: [[2, 0], [2, 1]], kvCacheTokens: 60000 },
      { id: 'llama-70b#0', node: 'gpu-node-02.dc1.example.com', precision: 'bf16', memoryGiB: 150.3, gpuMemoryUtilization: 0.83, partitions: [[2, 0]], kvCacheTokens: 30000 },
    ],
  );
  return {
    spec,
    plan: { ...placed, unschedulable: UNPLACED },
    maxModelLen: new Map([['llama-8b', 8192], ['qwen-32b', 16384], ['llama-70b', 8192]]),
    engineFlags,
  };
}

/** The monitoring chart's objects, or `undefined` when the fleet has no monitoring chart. */
export function monitoringObjects(input: FleetChartsInput): K8sObject[] | undefined {
  return synthFleet(input).get(STAGES.monitoring.id);
}

export interface RuleAt {
  readonly where: string;
  readonly object: K8sObject;
  readonly group: string;
  readonly rule: { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

/** Every rule of every PrometheusRule, with where it came from. */
export function rulesOf(objects: readonly K8sObject[]): RuleAt[] {
  return objects
    .filter((o) => o.kind === 'PrometheusRule')
    .flatMap((object) =>
      (object.spec.groups as Array<{ name: string; rules: RuleAt['rule'][] }>).flatMap((group) =>
        group.rules.map((rule, i) => ({ where: `${object.metadata.name}/${group.name}/${i}:${rule.alert ?? rule.record}`, object, group: group.name, rule })),
      ),
    );
}
