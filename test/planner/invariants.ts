import { PRIORITIES, type Priority } from '../../api/types.ts';
import type { PlanInput } from '../../planner/heuristic.ts';
import type { Plan, PlanNode } from '../../planner/types.ts';
import { fitsPartition } from '../../sizing/budget.ts';
import { findProfile } from '../../hardware/gpus.ts';
import type { PartitionProfile } from '../../hardware/types.ts';
import type { DemandOption, ModelDemand } from '../../sizing/types.ts';

/**
 * Independent checks of a plan against its input, written from the rules (not from the planner's
 * code): each returns a list of human-readable violations, empty when the plan is sound.
 */

export function capacityViolations(plan: Plan, input: PlanInput): string[] {
  const out: string[] = [];
  const pools = new Map(input.pools.map((p) => [p.name, p]));
  const demands = new Map(input.demands.map((d) => [d.model, d]));
  const nodes = new Map(plan.nodes.map((n) => [n.name, n]));
  const holders = new Map<string, string>();
  for (const node of plan.nodes) {
    const pool = pools.get(node.pool);
    if (!pool) {
      out.push(`${node.name}: unknown pool ${node.pool}`);
      continue;
    }
    const names = node.gpus.map((g) => `${g.profile.compute}-${g.profile.memory}`);
    for (const name of names) if (!pool.profiles.includes(name as never)) out.push(`${node.name}: profile ${name} not allowed in pool ${pool.name}`);
    if (new Set(names).size > 1) {
      if (!pool.allowMixedProfiles) out.push(`${node.name}: mixed profiles in a pool that does not allow them`);
      if (node.gpus.some((g) => g.profile.memory !== 'NPS1')) out.push(`${node.name}: mixed profiles must all be NPS1`);
      if (!node.mixed) out.push(`${node.name}: GPUs differ but mixed is false`);
    } else if (node.mixed) out.push(`${node.name}: mixed is true but GPUs agree`);
    if (node.gpus.length !== pool.gpusPerNode) out.push(`${node.name}: ${node.gpus.length} GPUs, pool says ${pool.gpusPerNode}`);
    for (const gpu of node.gpus) {
      const profile = findProfile(pool.gpu, `${gpu.profile.compute}-${gpu.profile.memory}`);
      if (!profile || gpu.partitions.length !== profile.partitionsPerGpu) out.push(`${node.name}/${gpu.index}: wrong partition count`);
      for (const part of gpu.partitions) {
        if (!part.replica) continue;
        const key = `${node.name}/${gpu.index}/${part.index}`;
        if (holders.has(key)) out.push(`${key}: held twice`);
        holders.set(key, part.replica);
      }
    }
  }
  const seen = new Set<string>();
  for (const r of plan.replicas) {
    if (seen.has(r.id)) out.push(`${r.id}: placed twice`);
    seen.add(r.id);
    const node = nodes.get(r.node);
    const demand = demands.get(r.model);
    if (!node || !demand) {
      out.push(`${r.id}: unknown node or model`);
      continue;
    }
    const pool = pools.get(node.pool)!;
    if (!demand.pools.includes(pool.name)) out.push(`${r.id}: on pool ${pool.name}, not one of its pools`);
    const option = demand.options.find((o) => o.precision === r.precision && o.tensorParallel === r.tensorParallel);
    if (!option) {
      out.push(`${r.id}: ${r.precision}/tp${r.tensorParallel} is not one of its options`);
      continue;
    }
    if (r.partitions.length !== r.tensorParallel) out.push(`${r.id}: ${r.partitions.length} partitions for tp ${r.tensorParallel}`);
    const sizes = new Set<number>();
    for (const ref of r.partitions) {
      const gpu = node.gpus[ref.gpu];
      const part = gpu?.partitions[ref.partition];
      if (!part || part.replica !== r.id) {
        out.push(`${r.id}: partition ${ref.gpu}.${ref.partition} does not name it`);
        continue;
      }
      sizes.add(part.memoryGiB);
      if (!fitsPartition(option.memoryGiBPerPartition, input.headroomPercent, part.memoryGiB, pool.usableMemoryFraction)) {
        out.push(`${r.id}: ${option.memoryGiBPerPartition} GiB per rank does not fit ${part.memoryGiB} GiB`);
      }
    }
    if (sizes.size > 1) out.push(`${r.id}: partitions of different sizes`);
  }
  for (const id of holders.values()) if (!seen.has(id)) out.push(`${id}: holds a partition but is not a replica`);
  const unschedulable = new Set(plan.unschedulable.map((u) => u.id));
  for (const d of input.demands) {
    for (let i = 0; i < d.replicas; i++) {
      const id = `${d.model}#${i}`;
      if (seen.has(id) === unschedulable.has(id)) out.push(`${id}: must be placed exactly once or unschedulable`);
    }
  }
  return out;
}

/**
 * For each out-of-capacity replica: could it fit on some node once every lower-priority replica
 * is gone from that node (GPUs left empty may take any allowed profile the node's memory mode
 * permits)? Its option is the one its placed siblings run at, else its model's first option
 * that fits some allowed profile.
 */
export function priorityViolations(plan: Plan, input: PlanInput): string[] {
  const demands = new Map(input.demands.map((d) => [d.model, d]));
  const rank = (model: string) => PRIORITIES.indexOf(demands.get(model)!.priority as Priority);
  const replicaModel = new Map(plan.replicas.map((r) => [r.id, r.model]));
  const out: string[] = [];
  for (const u of plan.unschedulable) {
    if (!u.reason.startsWith('out of capacity')) continue;
    const demand = demands.get(u.model)!;
    const option = optionOf(plan, demand, input);
    if (!option) continue;
    const priority = rank(u.model);
    for (const node of plan.nodes) {
      const pool = input.pools.find((p) => p.name === node.pool)!;
      if (!demand.pools.includes(pool.name)) continue;
      const keeps = (id: string | undefined) => id !== undefined && rank(replicaModel.get(id)!) <= priority;
      if (fitsAfterEviction(node, keeps, option, pool, input.headroomPercent)) {
        out.push(`${u.id} (${demand.priority}) would fit on ${node.name} without lower-priority replicas`);
        break;
      }
    }
  }
  return out;
}

/**
 * One more replica of `model` fits the plan as it stands: free partitions of GPUs as they are
 * partitioned, or an empty node — nothing moved, no GPU of a node in use re-partitioned.
 */
export function fitsAsIs(plan: Plan, input: PlanInput, model: string): boolean {
  const demand = input.demands.find((d) => d.model === model)!;
  const option = optionOf(plan, demand, input);
  if (!option) return false;
  return plan.nodes.some((node) => {
    const pool = input.pools.find((p) => p.name === node.pool)!;
    return demand.pools.includes(pool.name) && fitsAfterEviction(node, (id) => id !== undefined, option, pool, input.headroomPercent, false);
  });
}

function optionOf(plan: Plan, demand: ModelDemand, input: PlanInput): DemandOption | undefined {
  const sibling = plan.replicas.find((r) => r.model === demand.model);
  if (sibling) return demand.options.find((o) => o.precision === sibling.precision && o.tensorParallel === sibling.tensorParallel);
  return demand.options.find((o) =>
    input.pools.some(
      (p) =>
        demand.pools.includes(p.name) &&
        p.profiles.some((name) => {
          const profile = findProfile(p.gpu, name);
          return (
            profile !== undefined &&
            p.gpusPerNode * profile.partitionsPerGpu >= o.tensorParallel &&
            fitsPartition(o.memoryGiBPerPartition, input.headroomPercent, profile.memoryGiBPerPartition, p.usableMemoryFraction)
          );
        }),
    ),
  );
}

function fitsAfterEviction(
  node: PlanNode,
  keeps: (id: string | undefined) => boolean,
  option: DemandOption,
  pool: PlanInput['pools'][number],
  headroomPercent: number,
  repartitionFreeGpus = true,
): boolean {
  const fits = (p: PartitionProfile) => fitsPartition(option.memoryGiBPerPartition, headroomPercent, p.memoryGiBPerPartition, pool.usableMemoryFraction);
  const kept = node.gpus.map((g) => g.partitions.filter((p) => keeps(p.replica)).length);
  const profiles = node.gpus.map((g) => findProfile(pool.gpu, `${g.profile.compute}-${g.profile.memory}`)!);
  const allowed = pool.profiles.map((name) => findProfile(pool.gpu, name)!).filter(Boolean);
  const t = option.tensorParallel;
  if (kept.every((k) => k === 0)) return allowed.some((p) => fits(p) && p.partitionsPerGpu * node.gpus.length >= t);
  const nps1 = repartitionFreeGpus && profiles.every((p, g) => kept[g] === 0 || p.memory === 'NPS1');
  const candidates = new Set<PartitionProfile>();
  profiles.forEach((p, g) => kept[g]! > 0 && candidates.add(p));
  if (pool.allowMixedProfiles && nps1) for (const p of allowed) if (p.memory === 'NPS1') candidates.add(p);
  for (const p of candidates) {
    if (!fits(p)) continue;
    let free = 0;
    node.gpus.forEach((_, g) => {
      if (kept[g]! > 0 && profiles[g]!.name === p.name) free += p.partitionsPerGpu - kept[g]!;
      else if (kept[g] === 0 && (profiles[g]!.name === p.name || (pool.allowMixedProfiles && nps1 && p.memory === 'NPS1'))) free += p.partitionsPerGpu;
    });
    if (free >= t) return true;
  }
  return false;
}
