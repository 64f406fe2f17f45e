import { API_VERSION } from '../api/types.ts';
import { servingBudgetGiB } from '../sizing/budget.ts';
import { opaqueServing } from '../sizing/serving.ts';
import { gpuInfo } from '../hardware/gpus.ts';
import type { PartitionProfile } from '../hardware/types.ts';
import { nodeRepartitioned, replicaMoved } from './moved.ts';
import { type FleetState, MAX_PARTITIONS, NODE_EMPTY, NODE_MIXED } from './fleet.ts';
import type { PartitionRef, Plan, PlanModel, PlanGpu, PlanNode, PlanProfile, PlanReplica, PlanSummary, UnschedulableReplica } from './types.ts';

/** Everything the plan writer needs besides the state. */
export interface PlanFacts {
  readonly headroomPercent: number;
  /** Replicas demanded, placed or not, never-fitting models included. */
  readonly demandedReplicas: number;
  readonly unschedulable: readonly UnschedulableReplica[];
  readonly lowerBound: number;
  readonly optimizer: PlanSummary['optimizer'];
  readonly previous?: Plan;
  readonly models: readonly PlanModel[];
  /** GPUs spread costs (see PlanSummary). */
  readonly spreadGpus: number;
}

/**
 * The final profile of every GPU of a node. A free GPU's profile is whatever keeps the node as it
 * was: its previous profile when the node's memory mode allows it, else the finest profile in use
 * on the node (where the most replicas will fit later without repartitioning); an unused node
 * keeps its previous profiles, or gets the pool's first.
 */
function finalProfiles(state: FleetState, n: number): PartitionProfile[] {
  const layout = state.layoutOf(n);
  const base = state.nodeGpuBase[n]!;
  const G = state.nodeGpus[n]!;
  const fallback = layout.profiles[0] ?? gpuInfo(layout.capacity.gpu).profiles[0]!;
  const mode = state.nodeMode[n]!;
  const out: PartitionProfile[] = [];
  if (mode === NODE_EMPTY) {
    const prev = Array.from(state.gpuPrev.subarray(base, base + G));
    const kept = prev.every((p) => p >= 0);
    for (let g = 0; g < G; g++) out.push(kept ? layout.profiles[prev[g]!]! : fallback);
    return out;
  }
  if (mode >= 0) {
    for (let g = 0; g < G; g++) out.push(layout.profiles[mode]!);
    return out;
  }
  let finestUsed = -1;
  for (let g = base; g < base + G; g++) {
    const p = state.gpuProfile[g]!;
    if (state.gpuUsed[g]! > 0 && (finestUsed < 0 || layout.profiles[p]!.partitionsPerGpu > layout.profiles[finestUsed]!.partitionsPerGpu)) finestUsed = p;
  }
  for (let g = base; g < base + G; g++) {
    const prev = state.gpuPrev[g]!;
    const profile = state.gpuUsed[g]! > 0 ? state.gpuProfile[g]! : prev >= 0 && layout.profileMixable[prev] ? prev : finestUsed;
    out.push(layout.profiles[profile]!);
  }
  return out;
}

export function buildPlan(state: FleetState, facts: PlanFacts): Plan {
  const nodes: PlanNode[] = [];
  const kv = { cacheGiB: 0, headroomGiB: 0 };
  for (let n = 0; n < state.nodeCount; n++) nodes.push(planNode(state, n));
  const replicas: PlanReplica[] = [];
  for (const replica of state.replicas) {
    const n = state.replicaNode[replica.index]!;
    if (n < 0) continue;
    const base = state.nodeGpuBase[n]!;
    const slots = state.slotsOf(replica.index).sort((a, b) => a - b);
    const gpu = Math.floor(slots[0]! / MAX_PARTITIONS);
    const profile = state.layoutOf(n).profiles[state.gpuProfile[gpu]!]!;
    const partition = {
      memoryGiB: profile.memoryGiBPerPartition,
      usableMemoryFraction: state.layoutOf(n).capacity.usableMemoryFraction,
      headroomPercent: facts.headroomPercent,
    };
    const { option, tensorParallel } = replica;
    const serving = option.serve?.(partition) ?? opaqueServing(option.memoryGiBPerPartition, partition);
    // What vLLM gets beyond the sized need becomes KV cache: the headroom over the minimum asked for.
    kv.headroomGiB += tensorParallel * (servingBudgetGiB(partition.memoryGiB, partition.usableMemoryFraction) - serving.memoryGiBPerPartition);
    kv.cacheGiB += serving.kv?.cacheGiB ?? 0;
    const partitions: PartitionRef[] = slots.map((slot) => ({
      gpu: Math.floor(slot / MAX_PARTITIONS) - base,
      partition: slot % MAX_PARTITIONS,
    }));
    replicas.push({
      id: replica.id,
      model: replica.modelName,
      node: state.nodeNames[n]!,
      precision: option.precision,
      tensorParallel,
      memoryGiB: round2(serving.memoryGiBPerPartition * tensorParallel),
      gpuMemoryUtilization: serving.gpuMemoryUtilization,
      maxNumBatchedTokens: serving.maxNumBatchedTokens,
      maxNumSeqs: serving.maxNumSeqs,
      ...(serving.kv && { kvCacheGiB: round2(serving.kv.cacheGiB), kvCacheTokens: serving.kv.tokens, maxSequences: serving.kv.sequences }),
      partitions,
    });
  }
  replicas.sort((a, b) => compare(a.id, b.id));
  const unschedulable = [...facts.unschedulable].sort((a, b) => compare(a.id, b.id));
  const churn = facts.previous ? churnAgainst(facts.previous, nodes, replicas) : { replicaMoves: 0, profileChanges: 0 };
  return {
    apiVersion: API_VERSION,
    kind: 'Plan',
    nodes,
    replicas,
    unschedulable,
    models: facts.models,
    summary: {
      gpus: state.gpuCount,
      gpusUsed: state.usedGpus,
      lowerBound: facts.lowerBound,
      nodesUsed: state.usedNodes,
      replicas: facts.demandedReplicas,
      placed: replicas.length,
      kvCacheGiB: round2(kv.cacheGiB),
      kvHeadroomGiB: round2(kv.headroomGiB),
      replicaMoves: churn.replicaMoves,
      profileChanges: churn.profileChanges,
      spreadGpus: facts.spreadGpus,
      optimizer: facts.optimizer,
    },
  };
}

function planNode(state: FleetState, n: number): PlanNode {
  const layout = state.layoutOf(n);
  const base = state.nodeGpuBase[n]!;
  const profiles = finalProfiles(state, n);
  const gpus: PlanGpu[] = profiles.map((profile, g) => {
    const partitions = [];
    for (let p = 0; p < profile.partitionsPerGpu; p++) {
      const r = state.nodeMode[n] === NODE_EMPTY ? -1 : state.slots[(base + g) * MAX_PARTITIONS + p]!;
      partitions.push({
        index: p,
        memoryGiB: round2(profile.memoryGiBPerPartition),
        computeUnits: profile.computeUnitsPerPartition,
        ...(r >= 0 ? { replica: state.replicas[r]!.id } : {}),
      });
    }
    return { index: g, profile: planProfile(profile), partitions };
  });
  const mixed = state.nodeMode[n] === NODE_MIXED && profiles.some((p) => p.name !== profiles[0]!.name);
  return {
    name: state.nodeNames[n]!,
    pool: layout.capacity.name,
    gpu: layout.capacity.gpu,
    profile: planProfile(profiles[0]!),
    mixed,
    gpus,
  };
}

function planProfile(profile: PartitionProfile): PlanProfile {
  return { compute: profile.compute, memory: profile.memory };
}

/** Replicas in both plans on other partitions, and nodes in both plans with another profile on any GPU. */
function churnAgainst(
  previous: Plan,
  nodes: readonly PlanNode[],
  replicas: readonly PlanReplica[],
): { replicaMoves: number; profileChanges: number } {
  const before = new Map(previous.replicas.map((r) => [r.id, r]));
  let replicaMoves = 0;
  for (const r of replicas) {
    const old = before.get(r.id);
    if (old && replicaMoved(old, r)) replicaMoves++;
  }
  const oldNodes = new Map(previous.nodes.map((n) => [n.name, n]));
  let profileChanges = 0;
  for (const node of nodes) {
    const old = oldNodes.get(node.name);
    if (old && nodeRepartitioned(old, node)) profileChanges++;
  }
  return { replicaMoves, profileChanges };
}

export function round2(value: number): number {
  return Math.round((value + Number.EPSILON) * 100) / 100;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
