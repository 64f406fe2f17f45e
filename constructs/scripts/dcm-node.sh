#!/usr/bin/env bash
# dcm-node.sh: puts this node into the partition profile the plan gives it through the AMD GPU
# Operator's Device Config Manager (DCM), the `gpu-operator` partitioning backend.
#
# The only container of the aim-node-partitioner DaemonSet with that backend, one unprivileged pod
# per planned GPU node. It never touches the GPUs: no amd-smi, no modprobe. DCM (a privileged pod of
# the GPU Operator) stops the host's GPU services over D-Bus, sets the modes, reloads a KMM-installed
# driver correctly, and reports. This script does what DCM does not (cluster-truth.md §3): the
# disruption-safe rollout of node-rollout.sh around DCM's change, and the allocatable check after it.
#
#   1. Desired: $PROFILES_DIR/$NODE_NAME (constructs/partition-profiles.ts), whose `dcmProfile` names
#      the node's profile in the DCM ConfigMap the compiler writes (constructs/dcm-profiles.ts).
#   2. Current: the Node's labels. DCM_PROFILE_LABEL selects a DCM profile; DCM writes its result to
#      DCM_STATE_LABEL, `success` or `failure` (ROCm/device-config-manager
#      pkg/config_manager/configmanager.go: amdSMIHelper adds the label after every attempt).
#   3. Selected and DCM reports success: ready when labelled so (nothing changes); otherwise finish:
#      restart the operand pods, wait until node allocatable equals the plan, uncordon, label ready.
#   4. Selected by us but not reported yet (our pod restarted while DCM worked): resume waiting.
#   5. Otherwise, pre-flight (a DCM pod runs on the node, else refuse: nothing would partition it),
#      then wait for moved replicas, take a Lease, cordon, evict the pods holding GPUs, taint
#      NoSchedule and delete the operand pods, wait until they are gone, select the profile, wait
#      (DCM_TIMEOUT_SECONDS) for DCM's success, then step 3.
#   6. Any failure after the cordon: Event, PARTITION_STATE_LABEL=failed, exit 1; the node stays
#      cordoned and keeps the Lease, so the fleet-wide rollout stops at it.
#
# Why not AMD's documented `amd-dcm=up:NoExecute` taint (gpu-operator docs/dcm/
# applying-partition-profiles.rst): it evicts every pod without that toleration at once, ignoring
# PodDisruptionBudgets, CNI and monitoring DaemonSets included. DCM does not require it (it needs
# idle GPUs; a busy GPU fails with the NodeNotTaintedBeforeParition Event and is retried), so the
# Eviction API drains the GPU pods and a NoSchedule taint keeps the operands off instead.
#
# How DCM is triggered: it partitions when the value of DCM_PROFILE_LABEL changes (a node informer,
# printAndApplyLabelChanges), at its start, and when its ConfigMap changes; it never clears
# DCM_STATE_LABEL. So the selection first removes both labels (a stale `success` must not pass for
# this change's result, and an unchanged value would not trigger DCM), then sets the profile.
#
# Environment (node-rollout.sh lists its own settings):
#   DCM_PROFILE_LABEL, DCM_STATE_LABEL   names from hardware/dcm.ts                         required
#   DCM_SELECTOR              DCM's pods in DEVICE_PLUGIN_NAMESPACE    default daemonset-name=gpu-operator,app.kubernetes.io/name=device-config-manager
#   DCM_TIMEOUT_SECONDS       default 900
set -Eeuo pipefail

readonly EVENT_COMPONENT=aim-node-partitioner
# shellcheck source-path=SCRIPTDIR source=node-rollout.sh
source "$(dirname "${BASH_SOURCE[0]}")/node-rollout.sh"

: "${DCM_PROFILE_LABEL:?DCM_PROFILE_LABEL must be set}"
: "${DCM_STATE_LABEL:?DCM_STATE_LABEL must be set}"
DCM_SELECTOR="${DCM_SELECTOR:-daemonset-name=gpu-operator,app.kubernetes.io/name=device-config-manager}"
DCM_TIMEOUT_SECONDS="${DCM_TIMEOUT_SECONDS:-900}"

NODE_EXTRA_KEYS=("$DCM_PROFILE_LABEL" "$DCM_STATE_LABEL")

check_settings() {
  check_rollout_settings
  check_seconds DCM_TIMEOUT_SECONDS
}

dcm_selected() { [[ ${NODE_KEYS[$DCM_PROFILE_LABEL]} == "$DESIRED_DCM" ]]; }
dcm_succeeded() { dcm_selected && [[ ${NODE_KEYS[$DCM_STATE_LABEL]} == success ]]; }

# Names of this node's pods in the GPU Operator's namespace matching a selector, `name ready|unready`.
operator_pods() {
  kube get pods -n "$DEVICE_PLUGIN_NAMESPACE" -l "$1" --field-selector "spec.nodeName=$NODE_NAME" -o json | json_tool pods
}

# Nothing changes unless DCM can act: without its pod on the node the label would do nothing and
# the node would stay drained until the timeout.
preflight() {
  local dcm
  dcm=$(operator_pods "$DCM_SELECTOR") || fail PodReadFailed "cannot list the DCM pods in $DEVICE_PLUGIN_NAMESPACE"
  [[ $dcm == *" ready"* ]] ||
    refuse DcmNotRunning "no Ready Device Config Manager pod ($DCM_SELECTOR) runs on this node in $DEVICE_PLUGIN_NAMESPACE: enable spec.configManager in the GPU Operator's DeviceConfig, with spec.configManager.config.name set to the profiles ConfigMap aim-gpu-sharing writes there; the node stays in service"
}

# DCM reports why in Events on its own pod (configmanager.go generateK8sEvent), not on the Node.
dcm_last_warning() {
  local pod ready
  read -r pod ready < <(operator_pods "$DCM_SELECTOR" 2>/dev/null) || return 0
  [[ -n $pod ]] || return 0
  : "$ready"
  kube get events -n "$DEVICE_PLUGIN_NAMESPACE" --field-selector "involvedObject.name=$pod,type=Warning" -o json 2>/dev/null |
    json_tool last-warning 2>/dev/null || true
}

# delete --wait=false returns at once; DCM finds the GPUs busy while an operand still holds them.
wait_operands_gone() {
  local waited=0 left
  while true; do
    left=$(operator_pods "$DEVICE_PLUGIN_SELECTOR") || fail PodReadFailed "cannot list the GPU Operator pods in $DEVICE_PLUGIN_NAMESPACE"
    [[ -n $left ]] || return 0
    if ((waited >= DRAIN_TIMEOUT_SECONDS)); then
      fail GpuBusy "GPU Operator pods ($DEVICE_PLUGIN_SELECTOR) still run on the node ${waited}s after their deletion: ${left//$'\n'/, }; do they tolerate $PARTITIONING_TAINT_KEY?"
    fi
    log "waiting for the GPU Operator pods to leave: ${left//$'\n'/, }"
    pause "$POLL_INTERVAL_SECONDS"
    waited=$((waited + POLL_INTERVAL_SECONDS))
  done
}

select_profile() {
  local key present=()
  for key in "$DCM_PROFILE_LABEL" "$DCM_STATE_LABEL"; do
    [[ ${NODE_KEYS[$key]} == - ]] || present+=("$key-")
  done
  if ((${#present[@]} > 0)); then
    run kube label node "$NODE_NAME" "${present[@]}" ||
      fail NodeLabelFailed "cannot remove the DCM labels of node $NODE_NAME: $LAST_OUTPUT"
  fi
  run kube label node "$NODE_NAME" "$DCM_PROFILE_LABEL=$DESIRED_DCM" --overwrite ||
    fail NodeLabelFailed "cannot label node $NODE_NAME $DCM_PROFILE_LABEL=$DESIRED_DCM: $LAST_OUTPUT"
  NODE_KEYS[$DCM_PROFILE_LABEL]=$DESIRED_DCM
  NODE_KEYS[$DCM_STATE_LABEL]=-
}

# DCM labels `failure` after a failed attempt and retries a minute later (RetryPartition), so only
# `success` ends the wait; the timeout reports the last state. A transient failure is expected when
# the plan adds a profile: the kubelet refreshes DCM's mounted ConfigMap up to a minute or so after
# the API server has it, and until then DCM finds no such profile (NonExistentProfile).
wait_dcm() {
  local waited=0 state why
  while true; do
    read_node
    dcm_selected || fail DcmProfileChanged "$DCM_PROFILE_LABEL changed to ${NODE_KEYS[$DCM_PROFILE_LABEL]} while DCM applied $DESIRED_DCM; something else selects this node's profile"
    state=${NODE_KEYS[$DCM_STATE_LABEL]}
    if [[ $state == success ]]; then
      log "DCM reports success for $DESIRED_DCM"
      return 0
    fi
    if ((waited >= DCM_TIMEOUT_SECONDS)); then
      why=$(dcm_last_warning)
      why=${why:+"; DCM's last Warning: $why"}
      if [[ $state == failure ]]; then
        fail DcmPartitionFailed "the Device Config Manager reports $DCM_STATE_LABEL=failure for profile $DESIRED_DCM after ${waited}s$why; the node stays cordoned"
      fi
      fail DcmTimeout "the Device Config Manager reported no result for profile $DESIRED_DCM within ${waited}s$why; is its pod on this node running with the ConfigMap aim-gpu-sharing writes? the node stays cordoned"
    fi
    log "waiting for DCM to apply $DESIRED_DCM (state: $state)"
    pause "$POLL_INTERVAL_SECONDS"
    waited=$((waited + POLL_INTERVAL_SECONDS))
  done
}

# DCM applied the profile; bring the node back into service. Restarting the operands first covers
# a pod killed between DCM's change and their restart.
finish() {
  local was=${NODE_KEYS[$PARTITION_STATE_LABEL]}
  if [[ ${NODE_KEYS[$CORDONED_ANNOTATION]} == true && -z $LOCK_HELD ]]; then acquire_lock; fi
  restart_operands
  untaint_node "$PARTITIONING_TAINT_KEY"
  return_to_service
  [[ $was == ready ]] || emit_event Normal Partitioned "$DESIRED_PROFILE applied by the Device Config Manager (profile $DESIRED_DCM): $DESIRED_PARTITIONS partitions, allocatable verified"
}

# Our pod restarted after selecting the profile: the change is ours and DCM is at work; selecting
# again would restart DCM's attempt.
resume() {
  log "profile $DESIRED_DCM already selected, waiting for the Device Config Manager"
  acquire_lock
  wait_dcm
  finish
}

repartition() {
  local from=${NODE_KEYS[$DCM_PROFILE_LABEL]}
  preflight
  log "node has DCM profile $from, plan has $DESIRED_DCM ($DESIRED_PROFILE): repartitioning"
  wait_for_moves
  acquire_lock
  cordon_node
  label_state draining || fail NodeLabelFailed "cannot label node $NODE_NAME"
  emit_event Normal Repartitioning "repartitioning to $DESIRED_PROFILE with the Device Config Manager (profile $DESIRED_DCM): evicting the pods that hold GPUs"
  drain_gpu_pods
  ((DRAIN_YIELDED == 0)) || return 0
  stop_operands
  wait_operands_gone
  label_state partitioning || fail NodeLabelFailed "cannot label node $NODE_NAME"
  NODE_KEYS[$PARTITION_STATE_LABEL]=partitioning
  select_profile
  wait_dcm
  finish
}

reconcile() {
  [[ -n $DESIRED_DCM ]] || fail InvalidProfile "the planned profile of $NODE_NAME names no DCM profile (dcmProfile): the profiles ConfigMap was written for the builtin backend"
  read_node
  if dcm_succeeded; then
    if node_is_ready; then mark_ready; else finish; fi
  elif dcm_selected && [[ ${NODE_KEYS[$PARTITION_STATE_LABEL]} == partitioning ]]; then
    resume
  else
    repartition
  fi
}

rollout_main "$@"
