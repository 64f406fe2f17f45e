#!/usr/bin/env bash
# partition-node.sh: puts this node's AMD Instinct GPUs into the partition profile the plan gives it,
# with amd-smi (the `builtin` partitioning backend).
#
# The only container of the aim-node-partitioner DaemonSet (constructs/node-partitioning.ts), one pod
# per planned GPU node. The disruption-safe rollout around the GPU change (moves Ready first, a
# fleet-wide Lease, cordon, drain through the Eviction API, allocatable verified) is node-rollout.sh.
# It reconciles in a loop:
#
#   1. Desired profile: $PROFILES_DIR/$NODE_NAME, JSON the compiler writes into the profiles ConfigMap
#      (constructs/partition-profiles.ts): label, profile, partitions, one COMPUTE-MEMORY entry per
#      physical GPU, the allocatable the device plugin must then advertise, and the model replicas
#      planned on the node. Read once at start: a plan change rolls the DaemonSet.
#   2. Current profile: `amd-smi static --partition --json` (modes of each physical GPU, i.e. of each
#      partition with PARTITION_ID 0) and `amd-smi list --json` (the logical GPUs). A read with N/A
#      modes is retried (READ_RETRIES); it is never taken for a different profile.
#   3. In profile and ready: nothing changes. In profile but not ready (a change was interrupted, or
#      the first run): restart the GPU Operator's operand pods on the node (device plugin, node
#      labeller, exporter rediscover partitions only at start), wait until node allocatable equals
#      the plan, uncordon, label ready.
#   4. Out of profile, pre-flight (nothing on the node changes yet; a refusal leaves it in service
#      with an Event and PARTITION_STATE_LABEL=unsupported): the GPU count matches the plan, every
#      GPU lists the planned modes in available_compute_partition/available_memory_partition, the
#      driver is not managed by KMM, and a reload can find amdgpu in the host's /lib/modules.
#   5. Out of profile, change: wait for moved replicas, take a Lease, cordon, evict the pods holding
#      GPUs, taint NoSchedule and delete the operand pods, wait until no process on the host holds a
#      KFD context (/sys/class/kfd/kfd/proc lists them host-wide, unlike `amd-smi process`, which
#      scans this container's /proc), then the critical section: set the memory mode and reload the
#      driver if it differs, set the compute modes, verify modes and partition count. Then step 3.
#   6. Any failure after the cordon: Event, PARTITION_STATE_LABEL=failed, exit 1; the node stays
#      cordoned and keeps the Lease, so the fleet-wide rollout stops at it. The kubelet restarts the
#      pod with back-off and the next attempt starts again at step 1.
#
# Persisted across pod restarts (on the Node): the state label, the cordon annotation, and
# RELOAD_ANNOTATION=<target label> set before a driver reload. A reload that did not reach its
# target is not repeated on every restart: the next attempt fails ReloadAlreadyAttempted until a
# person removes the annotation. A SIGTERM inside the critical section is deferred until it ends
# (the pod's grace period is longer than the section can take).
#
# Driver reload, by the ROCm version `amd-smi version --json` reports (rocm_version):
#   - 6.3 and 6.4: `amd-smi set --memory-partition` restarts amdgpu itself (it takes 40-140 s);
#   - 7.0 and later: the set only records the mode, applied at the next driver load, so this script
#     runs `modprobe -r amdgpu && modprobe amdgpu` against the host's /lib/modules and
#     /etc/modprobe.d (both mounted), so the host's module options apply.
#   An unknown version takes the modprobe branch: a redundant reload of idle GPUs is harmless.
# The compute mode is set again after every memory change because a reload may reset it (on MI300X
# NPS4 forces CPX, and SPX is refused while NPS4 is active, hence memory first).
#
# amd-smi can report a refused set and still exit 0, so the verification, not the exit status,
# decides. ROCm 6.4.0/6.4.1 rejected `--compute-partition CPX` unless run as root (it runs as root).
#
# Environment (tools are looked up on PATH, so tests substitute amd-smi, kubectl, modprobe, modinfo,
# sleep; node-rollout.sh lists its own settings):
#   RELOAD_ANNOTATION         names from constructs/labels.ts                               required
#   AMD_SMI_TIMEOUT_SECONDS   default 60     RELOAD_TIMEOUT_SECONDS    default 300
#   READ_RETRIES              default 3
#   KFD_PROC_DIR              default /sys/class/kfd/kfd/proc
#   AMDGPU_SYSFS_DIR          default /sys/module/amdgpu/drivers/pci:amdgpu
set -Eeuo pipefail

readonly EVENT_COMPONENT=aim-node-partitioner
# shellcheck source-path=SCRIPTDIR source=node-rollout.sh
source "$(dirname "${BASH_SOURCE[0]}")/node-rollout.sh"

: "${RELOAD_ANNOTATION:?RELOAD_ANNOTATION must be set}"
AMD_SMI_TIMEOUT_SECONDS="${AMD_SMI_TIMEOUT_SECONDS:-60}"
RELOAD_TIMEOUT_SECONDS="${RELOAD_TIMEOUT_SECONDS:-300}"
READ_RETRIES="${READ_RETRIES:-3}"
KFD_PROC_DIR="${KFD_PROC_DIR:-/sys/class/kfd/kfd/proc}"
AMDGPU_SYSFS_DIR="${AMDGPU_SYSFS_DIR:-/sys/module/amdgpu/drivers/pci:amdgpu}"

NODE_EXTRA_KEYS=("$RELOAD_ANNOTATION")
CURRENT_INDEX=() CURRENT_COMPUTE=() CURRENT_MEMORY=()
CURRENT_PARTITIONS=''

check_settings() {
  check_rollout_settings
  check_seconds AMD_SMI_TIMEOUT_SECONDS RELOAD_TIMEOUT_SECONDS READ_RETRIES
}

# amd-smi with a hard limit: a hung call (a wedged GPU, a driver in reset) must not hang the node.
smi() {
  timeout -k 5 "$AMD_SMI_TIMEOUT_SECONDS" amd-smi "$@"
}

# Fills CURRENT_INDEX/COMPUTE/MEMORY, one element per physical GPU; fails quietly so callers decide.
read_modes_once() {
  local parsed index compute memory
  parsed=$(smi static --partition --json | json_tool gpus) || return 1
  CURRENT_INDEX=() CURRENT_COMPUTE=() CURRENT_MEMORY=()
  while read -r index compute memory; do
    [[ -n $index ]] || continue
    CURRENT_INDEX+=("$index")
    CURRENT_COMPUTE+=("$compute")
    CURRENT_MEMORY+=("$memory")
  done <<<"$parsed"
}

modes_known() {
  ((${#CURRENT_COMPUTE[@]} > 0)) || return 1
  [[ " ${CURRENT_COMPUTE[*]} ${CURRENT_MEMORY[*]} " != *" N/A "* ]]
}

# A read that fails or shows N/A for a primary partition is retried: amd-smi and sysfs report N/A
# transiently (during a reset, or with rocm-smi 6.4.1), and N/A is not a different profile.
read_modes() {
  local attempt
  for ((attempt = 0; attempt <= READ_RETRIES; attempt++)); do
    if read_modes_once && modes_known; then
      return 0
    fi
    ((attempt == READ_RETRIES)) || pause "$POLL_INTERVAL_SECONDS"
  done
  return 1
}

read_modes_or_fail() {
  read_modes || fail AmdSmiUnreadable "amd-smi static --partition gave no usable modes after $((READ_RETRIES + 1)) reads (last: $(describe_current))"
}

read_partition_count() {
  CURRENT_PARTITIONS=$(smi list --json | json_tool count)
}

gpu_count_matches() {
  ((${#CURRENT_COMPUTE[@]} == ${#DESIRED_COMPUTE[@]}))
}

memory_matches() {
  gpu_count_matches || return 1
  local memory
  for memory in "${CURRENT_MEMORY[@]}"; do
    [[ $memory == "$DESIRED_MEMORY" ]] || return 1
  done
}

modes_match() {
  memory_matches || return 1
  local i
  for i in "${!DESIRED_COMPUTE[@]}"; do
    [[ ${CURRENT_COMPUTE[i]} == "${DESIRED_COMPUTE[i]}" ]] || return 1
  done
}

desired_is_uniform() {
  local compute
  for compute in "${DESIRED_COMPUTE[@]}"; do
    [[ $compute == "${DESIRED_COMPUTE[0]}" ]] || return 1
  done
}

describe_current() {
  local i profiles=() uniform=1
  ((${#CURRENT_COMPUTE[@]} > 0)) || {
    echo "no visible GPU"
    return
  }
  for i in "${!CURRENT_COMPUTE[@]}"; do
    profiles+=("${CURRENT_COMPUTE[i]}-${CURRENT_MEMORY[i]}")
    [[ ${profiles[i]} == "${profiles[0]}" ]] || uniform=0
  done
  if ((uniform)); then
    echo "${profiles[0]} on ${#profiles[@]} GPUs"
  else
    local IFS=,
    echo "${profiles[*]}"
  fi
}

# ---------------------------------------------------------------------------------- pre-flight

# The modes each GPU accepts, from the driver (ROCm/amdgpu-docs, "available_compute_partition"):
# an unsupported profile must be found before the node is drained, not after.
check_available_modes() {
  local files=() i computes memories
  shopt -s nullglob
  files=("$AMDGPU_SYSFS_DIR"/*/available_compute_partition)
  shopt -u nullglob
  ((${#files[@]} > 0)) ||
    refuse ModesUnknown "cannot read the modes the GPUs accept ($AMDGPU_SYSFS_DIR/*/available_compute_partition is missing); not draining the node"
  ((${#files[@]} == ${#DESIRED_COMPUTE[@]})) ||
    refuse GpuCountMismatch "the driver lists ${#files[@]} GPUs in $AMDGPU_SYSFS_DIR, plan has ${#DESIRED_COMPUTE[@]}"
  for i in "${!files[@]}"; do
    computes=$(tr ',[:lower:]' ' [:upper:]' <"${files[i]}")
    memories=$(tr ',[:lower:]' ' [:upper:]' <"$(dirname "${files[i]}")/available_memory_partition" 2>/dev/null) || memories=''
    [[ " $computes " == *" ${DESIRED_COMPUTE[i]} "* ]] ||
      refuse UnsupportedProfile "GPU $i ($(basename "$(dirname "${files[i]}")")) accepts compute modes ${computes//  / }, plan has ${DESIRED_COMPUTE[i]}; the node stays in service"
    [[ " $memories " == *" $DESIRED_MEMORY "* ]] ||
      refuse UnsupportedProfile "GPU $i ($(basename "$(dirname "${files[i]}")")) accepts memory modes ${memories:-none}, plan has $DESIRED_MEMORY; the node stays in service"
  done
}

# amd-smi of ROCm 6.3 and 6.4 restarts amdgpu itself after a memory partition change.
amd_smi_reloads_driver() {
  local version major minor
  version=$(smi version --json | json_tool rocm) || version=unknown
  read -r major minor <<<"$version"
  log "amd-smi reports ROCm $major${minor:+.$minor}"
  [[ $major == 6 && $minor =~ ^[0-9]+$ ]] && ((minor >= 3))
}

# Everything that can be known before the node is touched.
preflight() {
  if [[ -n $NODE_KMM ]]; then
    refuse KmmManagedDriver "the amdgpu driver on this node is managed by KMM ($NODE_KMM): it is not in the host's /lib/modules and a reload from there would leave the node without GPUs. Partition KMM nodes with the GPU Operator's Device Config Manager: set the Fleet's spec.partitioning.backend: gpu-operator"
  fi
  gpu_count_matches ||
    refuse GpuCountMismatch "amd-smi shows ${#CURRENT_COMPUTE[@]} GPUs, plan has ${#DESIRED_COMPUTE[@]}; repartitioning cannot bring GPUs back (check dmesg, a BMC video driver, the plan's gpusPerNode)"
  check_available_modes
  memory_matches && return 0
  if [[ ${NODE_KEYS[$RELOAD_ANNOTATION]} == "$DESIRED_LABEL" ]]; then
    fail ReloadAlreadyAttempted "a driver reload towards $DESIRED_PROFILE already ran on this node and did not reach it (now $(describe_current)); not reloading again: inspect the node, then remove the annotation $RELOAD_ANNOTATION to retry"
  fi
  amd_smi_reloads_driver && return 0
  run timeout -k 5 "$AMD_SMI_TIMEOUT_SECONDS" modinfo -n amdgpu ||
    refuse DriverNotInHostModules "amdgpu is not in the host's /lib/modules ($LAST_OUTPUT): a reload would unload the running driver and load none. Use the GPU Operator backend (spec.partitioning.backend: gpu-operator)"
}

# --------------------------------------------------------------------------------- GPU clients

# Every process with a KFD context, host-wide: evicted pods still exiting, systemd GPU services.
wait_host_idle() {
  local waited=0 pids=()
  [[ -d $KFD_PROC_DIR ]] || fail KfdUnavailable "$KFD_PROC_DIR does not exist: cannot see which processes use the GPUs"
  while true; do
    shopt -s nullglob
    pids=("$KFD_PROC_DIR"/*)
    shopt -u nullglob
    ((${#pids[@]} > 0)) || return 0
    pids=("${pids[@]##*/}")
    if ((waited >= DRAIN_TIMEOUT_SECONDS)); then
      fail GpuBusy "${#pids[@]} process(es) still hold the GPUs after ${waited}s (host PIDs ${pids[*]}): a GPU client outside Kubernetes (gpuagent, a metrics exporter run by systemd) or a process ignoring termination"
    fi
    log "waiting for ${#pids[@]} process(es) with a KFD context to exit (host PIDs ${pids[*]})"
    pause "$POLL_INTERVAL_SECONDS"
    waited=$((waited + POLL_INTERVAL_SECONDS))
  done
}

# ------------------------------------------------------------------------------- the GPU change

wait_for_gpus() {
  local waited=0
  until read_modes_once && modes_known && gpu_count_matches; do
    if ((waited >= RELOAD_TIMEOUT_SECONDS)); then
      fail GpusMissingAfterReload "amd-smi shows ${#CURRENT_COMPUTE[@]} GPUs ${waited}s after the driver reload, plan has ${#DESIRED_COMPUTE[@]}"
    fi
    pause "$POLL_INTERVAL_SECONDS"
    waited=$((waited + POLL_INTERVAL_SECONDS))
  done
}

set_memory_mode() {
  log "setting memory partition $DESIRED_MEMORY"
  run kube annotate node "$NODE_NAME" "$RELOAD_ANNOTATION=$DESIRED_LABEL" --overwrite ||
    fail NodeAnnotateFailed "cannot annotate node $NODE_NAME: $LAST_OUTPUT"
  NODE_KEYS[$RELOAD_ANNOTATION]=$DESIRED_LABEL
  # amd-smi asks for a Y/N confirmation; on ROCm 6.x the set includes the driver reload.
  run timeout -k 5 "$RELOAD_TIMEOUT_SECONDS" amd-smi set --memory-partition "$DESIRED_MEMORY" <<<y ||
    fail MemoryPartitionSetFailed "amd-smi set --memory-partition $DESIRED_MEMORY failed: $LAST_OUTPUT"
  if amd_smi_reloads_driver; then
    log "amd-smi reloaded the driver"
  else
    run timeout -k 5 "$RELOAD_TIMEOUT_SECONDS" modprobe -r amdgpu ||
      fail DriverReloadFailed "modprobe -r amdgpu failed (a GPU client may still hold the device): $LAST_OUTPUT"
    run timeout -k 5 "$RELOAD_TIMEOUT_SECONDS" modprobe amdgpu || fail DriverReloadFailed "modprobe amdgpu failed: $LAST_OUTPUT"
  fi
  wait_for_gpus
}

# after_reload=1 sets every GPU: a driver reload may have reset the compute modes.
set_compute_modes() {
  local after_reload=$1 i
  if desired_is_uniform; then
    run smi set --gpu all --compute-partition "${DESIRED_COMPUTE[0]}" ||
      fail ComputePartitionSetFailed "amd-smi set --compute-partition ${DESIRED_COMPUTE[0]} failed: $LAST_OUTPUT"
    return
  fi
  # Per GPU, addressed by the logical index of its first partition, which moves as modes change.
  for i in "${!DESIRED_COMPUTE[@]}"; do
    read_modes || fail AmdSmiUnreadable "amd-smi static --partition gave no usable modes"
    gpu_count_matches ||
      fail PartitionVerificationFailed "amd-smi shows ${#CURRENT_COMPUTE[@]} GPUs, plan has ${#DESIRED_COMPUTE[@]}"
    if ((after_reload)) || [[ ${CURRENT_COMPUTE[i]} != "${DESIRED_COMPUTE[i]}" ]]; then
      run smi set --gpu "${CURRENT_INDEX[i]}" --compute-partition "${DESIRED_COMPUTE[i]}" ||
        fail ComputePartitionSetFailed "amd-smi set --gpu ${CURRENT_INDEX[i]} --compute-partition ${DESIRED_COMPUTE[i]} failed: $LAST_OUTPUT"
    fi
  done
}

verify_partitions() {
  read_modes_or_fail
  modes_match ||
    fail PartitionVerificationFailed "after partitioning, amd-smi reports $(describe_current), plan has $DESIRED_PROFILE"
  read_partition_count || fail AmdSmiFailed "amd-smi list --json failed"
  ((CURRENT_PARTITIONS == DESIRED_PARTITIONS)) ||
    fail PartitionVerificationFailed "amd-smi lists $CURRENT_PARTITIONS partitions after partitioning, plan has $DESIRED_PARTITIONS"
}

# --------------------------------------------------------------------------------- the sequence

# The node's GPUs are in profile; bring the node back into service. Restarting the operands first
# covers a pod killed between the mode change and their restart.
finish() {
  local was=${NODE_KEYS[$PARTITION_STATE_LABEL]}
  if [[ ${NODE_KEYS[$CORDONED_ANNOTATION]} == true && -z $LOCK_HELD ]]; then acquire_lock; fi
  restart_operands
  untaint_node "$PARTITIONING_TAINT_KEY"
  return_to_service
  if [[ ${NODE_KEYS[$RELOAD_ANNOTATION]} != - ]]; then
    run kube annotate node "$NODE_NAME" "$RELOAD_ANNOTATION-" || log "could not remove $RELOAD_ANNOTATION: $LAST_OUTPUT"
  fi
  [[ $was == ready ]] || emit_event Normal Partitioned "$DESIRED_PROFILE applied: $DESIRED_PARTITIONS partitions, allocatable verified"
}

repartition() {
  local from
  from=$(describe_current)
  preflight
  log "node is in $from, plan has $DESIRED_PROFILE: repartitioning"
  wait_for_moves
  acquire_lock
  cordon_node
  label_state draining || fail NodeLabelFailed "cannot label node $NODE_NAME"
  emit_event Normal Repartitioning "repartitioning from $from to $DESIRED_PROFILE: evicting the pods that hold GPUs"
  drain_gpu_pods
  ((DRAIN_YIELDED == 0)) || return 0
  stop_operands
  wait_host_idle
  begin_critical
  label_state partitioning || fail NodeLabelFailed "cannot label node $NODE_NAME"
  NODE_KEYS[$PARTITION_STATE_LABEL]=partitioning
  local memory_changed=0
  if ! memory_matches; then
    set_memory_mode
    memory_changed=1
  fi
  set_compute_modes "$memory_changed"
  verify_partitions
  end_critical
  finish
}

reconcile() {
  read_modes_or_fail
  read_node
  if ! modes_match; then
    repartition
    return
  fi
  read_partition_count || fail AmdSmiFailed "amd-smi list --json failed"
  # Right modes but missing partitions is not fixed by setting the same modes again (seen with a
  # BMC video driver holding the GPU, or a driver regression), nor by another reload: report it.
  ((CURRENT_PARTITIONS == DESIRED_PARTITIONS)) ||
    fail PartitionCountMismatch "node is in $DESIRED_PROFILE but amd-smi lists $CURRENT_PARTITIONS partitions, plan has $DESIRED_PARTITIONS"
  if node_is_ready; then
    mark_ready
  else
    finish
  fi
}

rollout_main "$@"
