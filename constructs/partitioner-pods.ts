import type { k8s } from 'cdk8s-plus-28';
import { dcmTerminationGraceSeconds, type PartitionTimeouts, terminationGraceSeconds } from './partition-timeouts.ts';

/**
 * What differs between the partitioning backends' pods (`node-partitioning.ts` builds the rest):
 * the builtin partitioner is privileged with the host's devices and modules; the GPU Operator
 * backend's orchestrator only talks to the API server.
 */

/** Host paths modprobe reads module options from: a reload must keep the host's amdgpu options. */
const MODPROBE_CONFIG_DIRS = ['/etc/modprobe.d', '/lib/modprobe.d'] as const;

/** What differs between the backends' pods. */
export interface BackendPod {
  readonly containerName: string;
  readonly env: Record<string, string>;
  readonly securityContext: k8s.SecurityContext;
  readonly terminationGraceSeconds: number;
  readonly volumeMounts: k8s.VolumeMount[];
  readonly volumes: k8s.Volume[];
}

export function builtinPod(timeouts: PartitionTimeouts, gpusPerNode: number, env: Record<string, string>): BackendPod {
  return {
    containerName: 'partitioner',
    env: { ...env, AMD_SMI_TIMEOUT_SECONDS: String(timeouts.amdSmiSeconds), RELOAD_TIMEOUT_SECONDS: String(timeouts.reloadSeconds) },
    // amd-smi set and modprobe need root on the host's GPUs and kernel modules.
    securityContext: { privileged: true },
    // A SIGTERM inside the mode change is deferred until it ends; the kubelet must not kill sooner.
    terminationGraceSeconds: terminationGraceSeconds(timeouts, gpusPerNode),
    volumeMounts: [
      // The host's /dev, not the container's snapshot: a driver reload creates new /dev/dri nodes
      // for the partitions. sysfs (available modes, /sys/class/kfd) is already the host's in a
      // privileged container.
      { name: 'host-dev', mountPath: '/dev' },
      // modprobe reloads amdgpu from the host's modules, with the host's options.
      { name: 'host-modules', mountPath: '/lib/modules', readOnly: true },
      ...MODPROBE_CONFIG_DIRS.map((dir) => ({ name: hostVolumeName(dir), mountPath: dir, readOnly: true })),
    ],
    volumes: [
      { name: 'host-dev', hostPath: { path: '/dev', type: 'Directory' } },
      { name: 'host-modules', hostPath: { path: '/lib/modules', type: 'Directory' } },
      // DirectoryOrCreate: a host without its own options still starts (an empty directory is no option).
      ...MODPROBE_CONFIG_DIRS.map((dir) => ({ name: hostVolumeName(dir), hostPath: { path: dir, type: 'DirectoryOrCreate' } })),
    ],
  };
}

/**
 * The orchestrator only calls the API server (kubectl) and reads its ConfigMaps: no host access, no
 * capability, no privilege escalation. DCM, a privileged pod of the GPU Operator, changes the GPUs.
 */
export function dcmPod(timeouts: PartitionTimeouts, env: Record<string, string>): BackendPod {
  return {
    containerName: 'orchestrator',
    env,
    securityContext: { privileged: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    terminationGraceSeconds: dcmTerminationGraceSeconds(timeouts),
    volumeMounts: [],
    volumes: [],
  };
}

function hostVolumeName(dir: string): string {
  return `host${dir.replace(/[^a-z0-9]+/g, '-')}`;
}
