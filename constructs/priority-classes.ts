import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { PRIORITIES, type Priority } from '../api/types.ts';

interface PriorityTier {
  readonly value: number;
  readonly preemptionPolicy: 'PreemptLowerPriority' | 'Never';
  readonly description: string;
}

/**
 * One PriorityClass per model priority. Values stay far below `system-cluster-critical`
 * (2000000000) and `system-node-critical`, so cluster add-ons always win, and a decade apart so a
 * cluster's own classes can sit between them. Preemption matters during a plan change: a replica
 * moved onto partitions that a lower-priority pod still holds may evict it. `low` never evicts.
 */
const TIERS: Readonly<Record<Priority, PriorityTier>> = {
  critical: {
    value: 1000000,
    preemptionPolicy: 'PreemptLowerPriority',
    description: 'aim-gpu-sharing: critical models; planned first and may preempt every lower tier',
  },
  high: {
    value: 100000,
    preemptionPolicy: 'PreemptLowerPriority',
    description: 'aim-gpu-sharing: high-priority models; may preempt medium and low models',
  },
  medium: {
    value: 10000,
    preemptionPolicy: 'PreemptLowerPriority',
    description: 'aim-gpu-sharing: default tier for models; may preempt low models',
  },
  low: {
    value: 1000,
    preemptionPolicy: 'Never',
    description: 'aim-gpu-sharing: best-effort models; never preempt other pods',
  },
};

export function priorityClassName(priority: Priority): string {
  return `aim-${priority}`;
}

/** The cluster-scoped PriorityClasses model pods name through `priorityClassName`. */
export class PriorityClasses extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    for (const priority of PRIORITIES) {
      const tier = TIERS[priority];
      new k8s.KubePriorityClass(this, priority, {
        metadata: { name: priorityClassName(priority) },
        value: tier.value,
        preemptionPolicy: tier.preemptionPolicy,
        globalDefault: false,
        description: tier.description,
      });
    }
  }
}
