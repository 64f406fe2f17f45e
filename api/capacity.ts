import { findProfile } from '../hardware/gpus.ts';
import { diagnostic } from './diagnostics.ts';
import type { Diagnostic, Model, NodePool } from './types.ts';
import type { DocumentSource } from './yaml-source.ts';

/**
 * The fleet-wide demand check that runs before anything expands replicas one by one.
 *
 * A partition holds at most one replica and a replica holds at least one partition, so no plan
 * places more replicas than the partitions that exist. (A fixed `tensorParallel` needs more; the
 * sizing checks say so at that field when even one replica cannot have them.)
 * Comparing the counts here costs one pass over the models; without it, `replicas: 1000000000`
 * made the planner build a billion replicas and print an error for each. The check does not ask
 * whether the replicas fit (memory, profiles): the planner answers that, replica by replica.
 * It is an error even with `allowUnschedulable`, which tolerates replicas that do not fit this
 * time, not demand no fleet of this size could ever hold.
 */

type Loaded<R> = R & { readonly source: DocumentSource };

/** The most partitions `pool` can have: every node, every GPU, in its finest valid profile. */
export function poolPartitions(pool: NodePool): number {
  const { gpu, profiles, nodes, gpusPerNode } = pool.spec;
  const finest = profiles.reduce((most, name) => Math.max(most, findProfile(gpu, name)?.partitionsPerGpu ?? 0), 0);
  return nodes.length * gpusPerNode * finest;
}

const count = (n: number) => n.toLocaleString('en-US');

export function capacityChecks(models: readonly Loaded<Model>[], pools: readonly NodePool[]): Diagnostic[] {
  const partitions = new Map(pools.map((pool) => [pool.metadata.name, poolPartitions(pool)]));
  const found: Diagnostic[] = [];
  let total = 0;
  let largest: { model: Loaded<Model>; need: number } | undefined;
  for (const model of models) {
    const need = model.spec.replicas;
    total += need;
    if (need > 0 && (!largest || need > largest.need)) largest = { model, need };
    const have = model.spec.pools.reduce((sum, name) => sum + (partitions.get(name) ?? 0), 0);
    if (need <= have) continue;
    const message =
      `${count(need)} replicas need as many partitions, but its pools ` +
      `(${model.spec.pools.join(', ')}) have at most ${count(have)}; a partition holds one replica`;
    found.push(diagnostic(model.source.at('spec.replicas'), 'error', 'spec.replicas', message));
  }
  const have = [...partitions.values()].reduce((sum, n) => sum + n, 0);
  if (found.length > 0 || total <= have || !largest) return found;
  // Each model fits its pools but together they do not: one error, at the biggest demand.
  const message =
    `the models need ${count(total)} partitions in all (this one ${count(largest.need)}), but the fleet's ` +
    `pools have at most ${count(have)}; a partition holds one replica`;
  return [diagnostic(largest.model.source.at('spec.replicas'), 'error', 'spec.replicas', message)];
}
