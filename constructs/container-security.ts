import type { k8s } from 'cdk8s-plus-28';

/**
 * Security settings of every model server container and pod, in one place so the ServingRuntime
 * and the InferenceServices cannot drift apart (KServe strategic-merges the two containers).
 *
 * The ROCm vLLM images run as root and are tested only that way; the device nodes they open are
 * `root:render 0660` with a host-specific render gid. So the container keeps uid 0 but holds no
 * capability at all: without CAP_DAC_OVERRIDE root reaches only what uid 0 owns (the device
 * nodes, the image's files, its emptyDirs), and it cannot gain privileges back.
 */
export const MODEL_CONTAINER_SECURITY: k8s.SecurityContext = {
  allowPrivilegeEscalation: false,
  privileged: false,
  runAsNonRoot: false,
  capabilities: { drop: ['ALL'] },
};

/** The `video` group owns `/dev/kfd` on most distributions (AMD's examples add it). */
const VIDEO_GROUP_ID = 44;

/**
 * `Unconfined` per AMD's guidance for ROCm containers (ROCm/k8s-device-plugin user guide): the
 * container runtime's default profile gates the NUMA memory-policy syscalls (`mbind`,
 * `set_mempolicy`) the HSA runtime uses for allocations.
 */
export const MODEL_POD_SECURITY: k8s.PodSecurityContext = {
  seccompProfile: { type: 'Unconfined' },
  supplementalGroups: [VIDEO_GROUP_ID],
};
