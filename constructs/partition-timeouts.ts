/**
 * How long each step of a node's partition change may take, and the bounds derived from them: the
 * pod's termination grace period (longer than the critical section, which a SIGTERM does not
 * interrupt) and the Lease duration (longer than everything done while holding it, so a Lease whose
 * holder vanished frees itself, but never while its holder is still working). One home for these
 * numbers: the constructs pass them to the scripts as environment variables.
 */
export interface PartitionTimeouts {
  /** Waiting for the replicas the plan moves off a node to be Ready elsewhere, before its drain. */
  readonly moveSeconds: number;
  /** Evicting the pods holding GPUs (PodDisruptionBudgets may refuse for a while), and then waiting for the last host process with a KFD context. */
  readonly drainSeconds: number;
  /** One amd-smi call (a `set` of the compute mode takes seconds; a hung one is killed). */
  readonly amdSmiSeconds: number;
  /** A memory-mode change with its driver reload (40–140 s measured), and the GPUs reappearing after it. */
  readonly reloadSeconds: number;
  /** The device plugin advertising the planned allocatable. */
  readonly allocatableSeconds: number;
  /**
   * The GPU Operator's DCM reporting `success` in `dcm.amd.com/gpu-config-profile-state` after the
   * profile label changed (`gpu-operator` backend). DCM sleeps 15 s after each GPU's memory set,
   * a memory change reloads the driver (40–140 s), and a failed attempt is retried after a minute
   * (device-config-manager `RetryPartition`), so this allows a few of its attempts.
   */
  readonly dcmSeconds: number;
  /** One kubectl call. */
  readonly kubectlSeconds: number;
  /** Between two checks of a condition the scripts wait for. */
  readonly pollSeconds: number;
}

export const DEFAULT_PARTITION_TIMEOUTS: PartitionTimeouts = {
  moveSeconds: 1800,
  drainSeconds: 600,
  amdSmiSeconds: 60,
  reloadSeconds: 300,
  allocatableSeconds: 300,
  dcmSeconds: 900,
  kubectlSeconds: 30,
  pollSeconds: 10,
};

/** kubectl calls made while the Lease is held, outside the polling loops (labels, taints, Events). */
const KUBECTL_CALLS_PER_CHANGE = 20;

/**
 * The builtin backend's critical section: the memory set (ROCm 6.x reloads inside it), `modprobe -r`,
 * `modprobe`, the GPUs reappearing, then per GPU a read and a compute set, and the verification.
 */
export function criticalSectionSeconds(t: PartitionTimeouts, gpusPerNode: number): number {
  return 4 * t.reloadSeconds + (2 * gpusPerNode + 4) * t.amdSmiSeconds;
}

/** Termination grace: the critical section plus a margin for the calls around it. */
export function terminationGraceSeconds(t: PartitionTimeouts, gpusPerNode: number): number {
  return criticalSectionSeconds(t, gpusPerNode) + 6 * t.kubectlSeconds;
}

/**
 * Everything done while the Lease is held: evictions, the host going idle, the change, allocatable,
 * and the kubectl calls between them (each bounded by its timeout plus the 5 s hard-kill margin).
 * The waits count the time slept, so every poll also adds its kubectl call.
 */
export function lockHeldSeconds(t: PartitionTimeouts, gpusPerNode: number): number {
  const waits = 2 * t.drainSeconds + t.allocatableSeconds;
  const calls = KUBECTL_CALLS_PER_CHANGE + 2 * Math.ceil(waits / t.pollSeconds);
  return waits + criticalSectionSeconds(t, gpusPerNode) + calls * (t.kubectlSeconds + 5);
}

/**
 * The `gpu-operator` backend's Lease: evictions, the operand pods leaving, DCM's result,
 * allocatable, and the kubectl calls between them. Nothing of it is a critical section: DCM, not
 * the orchestrator pod, changes the GPUs, and a restarted pod resumes waiting for DCM.
 */
export function dcmLockHeldSeconds(t: PartitionTimeouts): number {
  const waits = 2 * t.drainSeconds + t.dcmSeconds + t.allocatableSeconds;
  const calls = KUBECTL_CALLS_PER_CHANGE + 2 * Math.ceil(waits / t.pollSeconds);
  return waits + calls * (t.kubectlSeconds + 5);
}

/** The orchestrator's grace period: a SIGTERM ends it at once (between kubectl calls); the margin covers one call. */
export function dcmTerminationGraceSeconds(t: PartitionTimeouts): number {
  return 2 * (t.kubectlSeconds + 5);
}

/** Whole-number, positive seconds: one message per bad field. */
export function timeoutProblems(t: PartitionTimeouts): string[] {
  return Object.entries(t)
    .filter(([, value]) => !Number.isInteger(value) || value < 1)
    .map(([field, value]) => `timeouts.${field}: must be a whole number of seconds >= 1, got ${value}`);
}
