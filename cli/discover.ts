import { COMPUTE_MODES, GPU_PRODUCTS, MEMORY_MODES, type ComputeMode, type GpuProduct, type MemoryMode } from '../api/types.ts';
import schema from '../api/v1alpha1.schema.json' with { type: 'json' };
import { defaultProfiles, GPU_CATALOG } from '../hardware/gpus.ts';

/**
 * `aim-gpu discover`: what `amd-smi static --json` says about one node, as a NodePool fragment.
 * Pure: JSON text in, YAML text out; running amd-smi is the command's business.
 *
 * amd-smi's JSON has changed shape over ROCm releases: a bare list of GPUs (one object for a
 * single GPU) or `{"gpu_data": [...]}`; numbers plain or `{"value", "unit"}`; "N/A" where a value
 * is unavailable; `partition.compute_partition`, renamed `accelerator_partition` later. In a
 * partitioned mode it lists every partition as a GPU of its own.
 */

/** Bad input: not amd-smi output, or not a node a NodePool can describe. */
export class DiscoverError extends Error {}

export interface DiscoveredNode {
  readonly gpu: GpuProduct;
  /** Market names as amd-smi reported them, sorted. */
  readonly marketNames: readonly string[];
  /** Physical GPUs. */
  readonly gpus: number;
  /** GPUs amd-smi lists: one per partition. */
  readonly logicalGpus: number;
  /** Current `<compute>-<memory>` mode (`unknown` where amd-smi did not say) → physical GPUs in it, sorted. */
  readonly modes: ReadonlyArray<readonly [string, number]>;
}

/** One GPU (or partition) of amd-smi's list, with what discovery needs from it. */
interface Device {
  readonly marketName?: string;
  /** PCI `domain:bus:device`, the function number dropped: the same for every partition of a GPU. */
  readonly pciDevice?: string;
  readonly partitionId?: number;
  readonly compute?: ComputeMode;
  readonly memory?: MemoryMode;
}

export function discoverNode(json: string): DiscoveredNode {
  const devices = deviceList(parseJson(json)).map(device);
  if (devices.length === 0) throw new DiscoverError('amd-smi lists no GPUs');
  const gpu = product(devices);
  const physical = physicalGpus(devices, gpu);
  const modes = new Map<string, number>();
  for (const d of physical) {
    const mode = d.compute && d.memory ? `${d.compute}-${d.memory}` : 'unknown';
    modes.set(mode, (modes.get(mode) ?? 0) + 1);
  }
  return {
    gpu,
    marketNames: [...new Set(devices.flatMap((d) => (d.marketName ? [d.marketName] : [])))].sort(),
    gpus: physical.length,
    logicalGpus: devices.length,
    modes: [...modes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  };
}

export interface FragmentOptions {
  /** `kubernetes.io/hostname` of the node. */
  readonly node: string;
  /** @default - the product in lower case, e.g. `mi300x` */
  readonly name?: string;
}

/** The NodePool YAML for a discovered node, with the current partition mode as a comment. */
export function nodePoolFragment(found: DiscoveredNode, options: FragmentOptions): string {
  const defaults: readonly string[] = defaultProfiles(found.gpu);
  const others: readonly string[] = GPU_CATALOG[found.gpu].profiles.map((p) => p.name).filter((p) => !defaults.includes(p));
  const partitioned = found.logicalGpus === found.gpus ? '' : ` (${found.logicalGpus} partitions)`;
  const modes = found.modes.map(([mode, gpus]) => `${mode} on ${gpus === found.gpus ? 'every GPU' : `${gpus} GPUs`}`);
  const kept = found.modes.map(([mode]) => mode).filter((mode) => others.includes(mode));
  return [
    `# Discovered by \`aim-gpu discover\` on ${options.node}: ${found.gpus} × ${found.marketNames.join(', ')}${partitioned}.`,
    `# Partition mode now: ${modes.join(', ')}; the partitioner sets the planned one.`,
    ...kept.map((mode) => `# ${mode} is not a default profile: list it in profiles to let the planner keep it.`),
    'apiVersion: gpusharing.aim/v1alpha1',
    'kind: NodePool',
    'metadata:',
    `  name: ${options.name ?? found.gpu.toLowerCase()}`,
    'spec:',
    `  gpu: ${found.gpu}`,
    `  nodes: [${options.node}]`,
    `  gpusPerNode: ${found.gpus}`,
    `  # profiles: [${defaults.join(', ')}]  # default: the AMD-validated ones${others.length ? `; ${found.gpu} also has ${others.join(', ')}` : ''}`,
    '',
  ].join('\n');
}

/** A NodePool name as the spec accepts it (the schema's DNS-1123 label). */
export function isPoolName(name: string): boolean {
  const { pattern, maxLength } = schema.definitions.Dns1123Label;
  return name.length <= maxLength && new RegExp(pattern).test(name);
}

/** A node name as the spec accepts it (the schema's DNS-1123 subdomain). */
export function isNodeName(name: string): boolean {
  const { pattern, maxLength } = schema.definitions.Dns1123Subdomain;
  return name.length <= maxLength && new RegExp(pattern).test(name);
}

/** amd-smi may print warnings before the document: parse from the first bracket that starts one. */
function parseJson(text: string): unknown {
  for (let start = text.search(/[[{]/); start >= 0; start = nextBracket(text, start + 1)) {
    try {
      return JSON.parse(text.slice(start));
    } catch {
      // not a document start; try the next bracket
    }
  }
  throw new DiscoverError('no JSON document in the amd-smi output');
}

function nextBracket(text: string, from: number): number {
  const offset = text.slice(from).search(/[[{]/);
  return offset < 0 ? -1 : from + offset;
}

function deviceList(doc: unknown): Record<string, unknown>[] {
  let list = doc;
  if (isObject(doc) && 'gpu_data' in doc) list = doc.gpu_data;
  else if (isObject(doc) && 'gpu' in doc) list = [doc];
  if (!Array.isArray(list)) throw new DiscoverError('unexpected amd-smi JSON layout: expected a list of GPUs or {"gpu_data": [...]}');
  return list.filter(isObject);
}

function device(entry: Record<string, unknown>): Device {
  const section = (name: string): Record<string, unknown> => (isObject(entry[name]) ? entry[name] : {});
  const partition = section('partition');
  const marketName = text(section('asic').market_name);
  const bdf = text(section('bus').bdf) ?? text(entry.bdf);
  const partitionId = integer(partition.partition_id);
  const compute = text(partition.compute_partition ?? partition.accelerator_partition)?.toUpperCase();
  const memory = text(partition.memory_partition)?.toUpperCase();
  return {
    ...(marketName && { marketName }),
    ...(bdf && { pciDevice: bdf.replace(/\.[0-7]$/, '').toLowerCase() }),
    ...(partitionId !== undefined && { partitionId }),
    ...(COMPUTE_MODES.includes(compute as ComputeMode) && { compute: compute as ComputeMode }),
    ...(MEMORY_MODES.includes(memory as MemoryMode) && { memory: memory as MemoryMode }),
  };
}

/** `"AMD Instinct MI300X"`, `"MI300X-O"`, `"AMD Instinct MI300X VF"` → MI300X. */
function productOf(marketName: string): GpuProduct | undefined {
  const match = /MI\d{3}[A-Z]/.exec(marketName.toUpperCase());
  return GPU_PRODUCTS.find((p) => p === match?.[0]);
}

function product(devices: readonly Device[]): GpuProduct {
  const names = [...new Set(devices.flatMap((d) => (d.marketName ? [d.marketName] : [])))].sort();
  if (names.length === 0) throw new DiscoverError('amd-smi reports no market name (asic.market_name) for any GPU; is this amd-smi static output?');
  const products = new Set(names.map(productOf));
  const found = names.map((n) => `"${n}"`).join(', ');
  if (products.has(undefined)) {
    throw new DiscoverError(`unknown GPU product ${found}; the catalog has ${GPU_PRODUCTS.join(', ')}`);
  }
  if (products.size > 1) throw new DiscoverError(`a NodePool holds one GPU product, this node has several: ${found}`);
  return [...products][0]!;
}

/**
 * One device per physical GPU: partition 0 of each; without partition ids, one per PCI device
 * (partitions share their GPU's and differ in the function number); without either, every n-th,
 * n the partitions per GPU of the one compute mode amd-smi shows.
 */
function physicalGpus(devices: readonly Device[], gpu: GpuProduct): Device[] {
  if (devices.every((d) => d.partitionId !== undefined)) return devices.filter((d) => d.partitionId === 0);
  if (devices.every((d) => d.pciDevice !== undefined)) {
    const first = new Map<string, Device>();
    for (const d of devices) if (!first.has(d.pciDevice!)) first.set(d.pciDevice!, d);
    return [...first.values()];
  }
  const modes = new Set(devices.map((d) => d.compute));
  const compute = modes.size === 1 ? [...modes][0] : undefined;
  const perGpu = GPU_CATALOG[gpu].profiles.find((p) => p.compute === compute)?.partitionsPerGpu;
  if (perGpu === undefined || devices.length % perGpu !== 0) {
    throw new DiscoverError(
      `cannot tell GPUs from partitions among the ${devices.length} devices amd-smi lists (no partition.partition_id, bus.bdf or single compute mode); save the full \`amd-smi static --json\``,
    );
  }
  return devices.filter((_, index) => index % perGpu === 0);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{"value": N, "unit": "…"}` → N. */
function leaf(value: unknown): unknown {
  return isObject(value) && 'value' in value ? value.value : value;
}

function integer(value: unknown): number | undefined {
  const v = text(value);
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** A string value, trimmed; undefined when empty or "N/A". */
function text(value: unknown): string | undefined {
  const v = leaf(value);
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const s = String(v).trim();
  return s === '' || s.toUpperCase() === 'N/A' ? undefined : s;
}
