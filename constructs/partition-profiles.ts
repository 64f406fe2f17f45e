import type { DeviceResourceNaming, Isolation, NodePool, PartitioningBackend } from '../api/types.ts';
import { findProfile } from '../hardware/gpus.ts';
import { replicaOrdinal } from '../planner/moved.ts';
import type { PlanNode, PlanReplica } from '../planner/types.ts';
import { dcmProfileName } from './dcm-profiles.ts';
import { gpuResourceName } from './gpu-devices.ts';
import { profileLabelValue } from './labels.ts';

/**
 * What the node scripts (`scripts/partition-node.sh`, `scripts/dcm-node.sh`) read for one node: the
 * value of the node's key in the profiles ConfigMap, as one line of JSON.
 */
export interface NodePartitionProfile {
  /** The PROFILE_LABEL value the node carries once partitioned. */
  readonly label: string;
  /** `CPX-NPS4`, or `mixed` when the node's GPUs have different profiles. */
  readonly profile: string;
  /** Logical GPUs `amd-smi list` must show afterwards: the partitions of all GPUs together. */
  readonly partitions: number;
  /** The profile of each physical GPU, in GPU index order. */
  readonly gpus: readonly string[];
  /**
   * The `amd.com/` allocatable the device plugin must advertise afterwards, by resource name; empty
   * with env isolation (no device plugin).
   */
  readonly allocatable: Readonly<Record<string, number>>;
  /**
   * The ordinals of the replicas the plan places on this node, by model: a model pod elsewhere whose
   * replica is listed here is moving here, and its node's drain waits until it is Ready here.
   */
  readonly replicas: Readonly<Record<string, readonly number[]>>;
  /** The DCM profile the `gpu-operator` backend selects for the node (`dcm-profiles.ts`); absent with `builtin`. */
  readonly dcmProfile?: string;
}

/** What besides the node decides its entry. */
export interface ProfileContext {
  readonly deviceResourceNaming: DeviceResourceNaming;
  readonly isolation: Isolation;
  /** The plan's replicas (all nodes). */
  readonly replicas: readonly PlanReplica[];
  /** @default builtin */
  readonly backend?: PartitioningBackend;
}

const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function gpuProfileName(gpu: PlanNode['gpus'][number]): string {
  return `${gpu.profile.compute}-${gpu.profile.memory}`;
}

/** Ordinals by model, models and ordinals sorted. */
function ordinalsByModel(replicas: readonly PlanReplica[]): Record<string, number[]> {
  const byModel: Record<string, number[]> = {};
  for (const replica of [...replicas].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0))) {
    const ordinal = replicaOrdinal(replica.id);
    if (ordinal !== undefined) (byModel[replica.model] ??= []).push(ordinal);
  }
  for (const ordinals of Object.values(byModel)) ordinals.sort((a, b) => a - b);
  return byModel;
}

/** The node's entry; assumes `partitionPlanProblems` found nothing wrong with it. */
export function nodePartitionProfile(node: PlanNode, context: ProfileContext): NodePartitionProfile {
  const gpus = node.gpus.map(gpuProfileName);
  const perGpu = node.gpus.map((gpu) => findProfile(node.gpu, gpuProfileName(gpu))?.partitionsPerGpu ?? 0);
  const partitions = perGpu.reduce((sum, count) => sum + count, 0);
  const uniform = gpus.every((name) => name === gpus[0]);
  const allocatable: Record<string, number> = {};
  if (context.isolation === 'devicePlugin') {
    node.gpus.forEach((gpu, position) => {
      const name = gpuResourceName(gpu, context.deviceResourceNaming);
      allocatable[name] = (allocatable[name] ?? 0) + (perGpu[position] ?? 0);
    });
  }
  const replicas = ordinalsByModel(context.replicas.filter((replica) => replica.node === node.name));
  return {
    label: profileLabelValue(node),
    profile: uniform ? (gpus[0] ?? '') : 'mixed',
    partitions,
    gpus,
    allocatable: sortedKeys(allocatable),
    replicas,
    ...(context.backend === 'gpu-operator' && { dcmProfile: dcmProfileName(node) }),
  };
}

/** The profiles ConfigMap data: node name → `NodePartitionProfile` JSON, keys sorted. */
export function partitionProfilesData(nodes: readonly PlanNode[], context: ProfileContext): Record<string, string> {
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Object.fromEntries(sorted.map((node) => [node.name, JSON.stringify(nodePartitionProfile(node, context))]));
}

function sortedKeys(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(record).sort().map((key) => [key, record[key] as number]));
}

/**
 * Everything that keeps the plan's nodes from being partitioned as planned, one message each: the
 * script addresses GPUs by position, sets one memory mode per node, and the DaemonSet needs each
 * node's pool for its taints.
 */
export function partitionPlanProblems(pools: readonly NodePool[], nodes: readonly PlanNode[]): string[] {
  const problems: string[] = [];
  if (nodes.length === 0) problems.push('nodes: the plan has no nodes to partition');
  const poolsByName = new Map(pools.map((pool) => [pool.metadata.name, pool]));
  const seen = new Set<string>();
  for (const node of nodes) {
    const where = `node "${node.name}"`;
    if (seen.has(node.name)) problems.push(`${where}: appears more than once in the plan`);
    seen.add(node.name);
    if (!HOSTNAME.test(node.name) || node.name.length > 253) {
      problems.push(`${where}: not a valid kubernetes.io/hostname`);
    }
    const pool = poolsByName.get(node.pool);
    if (!pool) problems.push(`${where}: pool "${node.pool}" is not among the pools`);
    else if (!pool.spec.nodes.includes(node.name)) problems.push(`${where}: not a node of pool "${node.pool}"`);
    if (node.gpus.length === 0) problems.push(`${where}: has no GPUs`);
    node.gpus.forEach((gpu, position) => {
      if (gpu.index !== position) {
        problems.push(`${where}: GPU at position ${position} has index ${gpu.index}; GPUs must be listed 0..n-1`);
      }
      if (!findProfile(node.gpu, gpuProfileName(gpu))) {
        problems.push(`${where}: GPU ${gpu.index}: ${gpuProfileName(gpu)} is not a partition profile of ${node.gpu}`);
      }
    });
    const memoryModes = [...new Set(node.gpus.map((gpu) => gpu.profile.memory))];
    if (memoryModes.length > 1) {
      problems.push(`${where}: GPUs mix memory modes ${memoryModes.join(', ')}, but the memory mode is node-wide`);
    }
  }
  return problems;
}
