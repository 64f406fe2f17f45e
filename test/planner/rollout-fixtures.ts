import type { Plan, PlanNode, PlanReplica } from '../../planner/types.ts';

/**
 * Hand-made plans for rollout tests: nodes of one GPU with eight partitions in `profile`, and
 * replicas at `node:gpu.partition[,gpu.partition…]`.
 */
export function handPlan(nodes: Readonly<Record<string, string>>, replicas: Readonly<Record<string, string>>, extra: Partial<PlanReplica> = {}): Plan {
  const holders = new Map<string, string>();
  const placed: PlanReplica[] = Object.entries(replicas)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([id, at]) => {
      const [node, refs] = at.split(':') as [string, string];
      const partitions = refs.split(',').map((ref) => {
        const [gpu, partition] = ref.split('.').map(Number) as [number, number];
        holders.set(`${node}:${gpu}.${partition}`, id);
        return { gpu, partition };
      });
      return {
        id,
        model: id.split('#')[0] as string,
        node,
        precision: 'bf16',
        tensorParallel: partitions.length,
        memoryGiB: 10,
        gpuMemoryUtilization: 0.9,
        maxNumBatchedTokens: 2048,
        maxNumSeqs: 256,
        partitions,
        ...extra,
      };
    });
  const planNodes: PlanNode[] = Object.entries(nodes).map(([name, profileName]) => {
    const [compute, memory] = profileName.split('-') as [PlanNode['profile']['compute'], PlanNode['profile']['memory']];
    const profile = { compute, memory };
    return {
      name,
      pool: 'mi300x',
      gpu: 'MI300X',
      profile,
      mixed: false,
      gpus: [0, 1].map((index) => ({
        index,
        profile,
        partitions: Array.from({ length: 8 }, (_, p) => {
          const replica = holders.get(`${name}:${index}.${p}`);
          return { index: p, memoryGiB: 24, computeUnits: 38, ...(replica ? { replica } : {}) };
        }),
      })),
    };
  });
  const ids = placed.map((r) => r.id);
  return {
    apiVersion: 'gpusharing.aim/v1alpha1',
    kind: 'Plan',
    nodes: planNodes,
    replicas: placed,
    unschedulable: [],
    models: [...new Set(placed.map((r) => r.model))].map((name) => ({
      name,
      precision: 'bf16',
      tensorParallel: 1,
      tensorParallelReason: 'test',
      replicas: ids.filter((id) => id.startsWith(`${name}#`)).length,
      placed: ids.filter((id) => id.startsWith(`${name}#`)).length,
      nodes: 1,
    })),
    summary: {
      gpus: planNodes.length * 2,
      gpusUsed: 0,
      lowerBound: 0,
      nodesUsed: 0,
      replicas: placed.length,
      placed: placed.length,
      kvCacheGiB: 0,
      kvHeadroomGiB: 0,
      replicaMoves: 0,
      profileChanges: 0,
      spreadGpus: 0,
      optimizer: 'heuristic',
    },
  };
}
