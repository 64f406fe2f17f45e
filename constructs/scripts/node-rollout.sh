# shellcheck shell=bash disable=SC2034
# (SC2034: the DESIRED_* values read here are used by the backend scripts that source this file.)
# node-rollout.sh: the disruption-safe part of changing a GPU node's partitions, shared by both
# backends (sourced by partition-node.sh, the builtin amd-smi backend, and dcm-node.sh, the GPU
# Operator backend). Both run the same sequence around their own "change the partitions" step:
#
#   wait_for_moves   the replicas the plan moves off this node are Ready elsewhere (bounded)
#   acquire_lock     one of MAX_UNAVAILABLE_NODES Leases: nodes under change, fleet-wide
#   cordon_node      spec.unschedulable (DaemonSet pods still schedule), remembered in an annotation
#   drain_gpu_pods   every pod holding GPUs leaves through the Eviction API, which honours
#                    PodDisruptionBudgets (bounded); nothing else on the node is touched. When
#                    only budgets hold it, the node gives way (uncordon, release) and retries
#   ... the backend changes the partitions ...
#   wait_allocatable node allocatable equals the plan (bounded), else fail loudly, still cordoned
#   uncordon_node, label ready, release_lock
#
# State that must survive a killed pod lives on the Node: PARTITION_STATE_LABEL (draining,
# partitioning, ready, failed, unsupported), CORDONED_ANNOTATION (we cordoned it, so we uncordon it)
# and the Lease, which a failed node keeps: the fleet-wide rollout stops at the first failure.
#
# Every kubectl call goes through `kube`: a client-side request timeout and a hard `timeout`.

: "${NODE_NAME:?NODE_NAME must name this node}"
: "${PROFILE_LABEL:?PROFILE_LABEL must be set}"
: "${PARTITION_STATE_LABEL:?PARTITION_STATE_LABEL must be set}"
: "${PARTITIONING_TAINT_KEY:?PARTITIONING_TAINT_KEY must be set}"
: "${CORDONED_ANNOTATION:?CORDONED_ANNOTATION must be set}"
: "${MODEL_LABEL:?MODEL_LABEL must be set}"
: "${REPLICA_LABEL:?REPLICA_LABEL must be set}"
PROFILES_DIR="${PROFILES_DIR:-/etc/aim-gpu-sharing/profiles}"
READY_FILE="${READY_FILE:-/tmp/partition-ready}"
EVENT_NAMESPACE="${EVENT_NAMESPACE:-default}"
MODEL_NAMESPACE="${MODEL_NAMESPACE:-aim-models}"
LOCK_NAME="${LOCK_NAME:-aim-node-partitioner}"
MAX_UNAVAILABLE_NODES="${MAX_UNAVAILABLE_NODES:-1}"
LOCK_DURATION_SECONDS="${LOCK_DURATION_SECONDS:-3600}"
POLL_INTERVAL_SECONDS="${POLL_INTERVAL_SECONDS:-10}"
KUBECTL_TIMEOUT_SECONDS="${KUBECTL_TIMEOUT_SECONDS:-30}"
MOVE_TIMEOUT_SECONDS="${MOVE_TIMEOUT_SECONDS:-1800}"
DRAIN_TIMEOUT_SECONDS="${DRAIN_TIMEOUT_SECONDS:-600}"
ALLOCATABLE_TIMEOUT_SECONDS="${ALLOCATABLE_TIMEOUT_SECONDS:-300}"
RECHECK_INTERVAL_SECONDS="${RECHECK_INTERVAL_SECONDS:-300}"
# The GPU Operator's operand pods (device plugin, node labeller, metrics exporter), not its DCM.
DEVICE_PLUGIN_NAMESPACE="${DEVICE_PLUGIN_NAMESPACE:-kube-amd-gpu}"
DEVICE_PLUGIN_SELECTOR="${DEVICE_PLUGIN_SELECTOR:-daemonset-name=gpu-operator,app.kubernetes.io/name!=device-config-manager}"
ONESHOT="${ONESHOT:-0}"

NODE_JSON="$(dirname "${BASH_SOURCE[0]}")/node_json.py"
REPORTED=0
TERMINATING=0
CRITICAL=0
LAST_ERROR=''
LAST_OUTPUT=''
PAUSE_PID=''
LOCK_HELD=''
DRAIN_YIELDED=0
DESIRED_LABEL='' DESIRED_PROFILE='' DESIRED_MEMORY='' DESIRED_PARTITIONS='' DESIRED_DCM=''
DESIRED_COMPUTE=()
declare -A DESIRED_ALLOCATABLE=()
declare -A NODE_KEYS=() NODE_ALLOCATABLE=() NODE_TAINTS=()
NODE_UNSCHEDULABLE='' NODE_KMM=''
# Labels or annotations a backend reads besides the shared ones.
NODE_EXTRA_KEYS=()

log() {
  TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T %s\n' -1 "$*" >&2
}

json_tool() {
  # -S: the standard library is all it needs, and skipping site-packages starts it faster.
  python3 -S "$NODE_JSON" "$@"
}

# kubectl with a request timeout, and a hard limit in case the client itself hangs.
kube() {
  timeout -k 5 "$((KUBECTL_TIMEOUT_SECONDS + 5))" kubectl --request-timeout="${KUBECTL_TIMEOUT_SECONDS}s" "$@"
}

# Runs a command, copies its output to the log and keeps its last line for a failure message.
run() {
  local output status=0
  output=$("$@" 2>&1) || status=$?
  if [[ -n $output ]]; then
    printf '%s\n' "$output" >&2
  fi
  LAST_OUTPUT=${output##*$'\n'}
  ((status != 124)) || LAST_OUTPUT="timed out: $*"
  return "$status"
}

# Sleeps in the background so that SIGTERM (pod deletion) is handled at once.
pause() {
  sleep "$1" &
  PAUSE_PID=$!
  wait "$PAUSE_PID" || true
  PAUSE_PID=''
}

# A deleted pod is being replaced, not failing: stop without reporting. Inside a critical section
# (GPU modes half changed) finish it first: the grace period is longer than the section can take.
on_term() {
  TERMINATING=1
  if ((CRITICAL)); then
    log "termination requested: finishing the partition change first"
    return
  fi
  if [[ -n $PAUSE_PID ]]; then
    kill "$PAUSE_PID" 2>/dev/null || true
  fi
  exit 143
}

begin_critical() { CRITICAL=1; }

end_critical() {
  CRITICAL=0
  if ((TERMINATING)); then
    log "partition change finished; stopping as requested (the next pod completes the rollout)"
    exit 143
  fi
}

emit_event() {
  local event
  if event=$(json_tool event "$EVENT_NAMESPACE" "$NODE_NAME" "$1" "$2" "$3" "$EVENT_COMPONENT") &&
    kube create -f - <<<"$event" >/dev/null; then
    return 0
  fi
  log "could not create the $1 Event $2"
}

label_state() {
  kube label node "$NODE_NAME" "$PARTITION_STATE_LABEL=$1" --overwrite >/dev/null
}

# Reports the failure on the node (label and Event) and exits; a cordon, taint and Lease stay, so
# the node stays out of service and the fleet-wide rollout stops here until someone looks.
fail() {
  local reason=$1 message=$2
  log "FAILED $reason: $message"
  rm -f "$READY_FILE"
  label_state failed || log "could not label the node $PARTITION_STATE_LABEL=failed"
  emit_event Warning "$reason" "$message"
  REPORTED=1
  exit 1
}

# Refuses before anything on the node changed: Event and label, the node stays in service.
refuse() {
  local reason=$1 message=$2
  log "REFUSED $reason: $message"
  label_state unsupported || log "could not label the node $PARTITION_STATE_LABEL=unsupported"
  emit_event Warning "$reason" "$message"
  REPORTED=1
  exit 1
}

on_exit() {
  local status=$?
  if ((status != 0 && !REPORTED && !TERMINATING)); then
    fail PartitioningFailed "unexpected error (${LAST_ERROR:-exit status $status})"
  fi
}

check_seconds() {
  local name
  for name in "$@"; do
    [[ ${!name} =~ ^[0-9]+$ ]] || fail InvalidSettings "$name must be a whole number of seconds, got '${!name}'"
  done
}

check_rollout_settings() {
  check_seconds POLL_INTERVAL_SECONDS KUBECTL_TIMEOUT_SECONDS MOVE_TIMEOUT_SECONDS DRAIN_TIMEOUT_SECONDS \
    ALLOCATABLE_TIMEOUT_SECONDS RECHECK_INTERVAL_SECONDS LOCK_DURATION_SECONDS MAX_UNAVAILABLE_NODES
  ((POLL_INTERVAL_SECONDS > 0)) || fail InvalidSettings "POLL_INTERVAL_SECONDS must be at least 1"
  ((MAX_UNAVAILABLE_NODES > 0)) || fail InvalidSettings "MAX_UNAVAILABLE_NODES must be at least 1"
}

# ------------------------------------------------------------------------------ the planned state

# Read at every reconcile: the kubelet updates a mounted ConfigMap in place (one atomic swap for all
# keys), so replica placements stay current without rolling the DaemonSet on every plan change.
load_desired() {
  local file="$PROFILES_DIR/$NODE_NAME" parsed key value name count
  DESIRED_COMPUTE=() DESIRED_ALLOCATABLE=() DESIRED_DCM=''
  [[ -r $file ]] || fail NodeNotInPlan "no planned profile for node $NODE_NAME in $PROFILES_DIR"
  parsed=$(json_tool desired <"$file") || fail InvalidProfile "cannot read the planned profile in $file"
  while read -r key value; do
    case $key in
      label) DESIRED_LABEL=$value ;;
      profile) DESIRED_PROFILE=$value ;;
      partitions) DESIRED_PARTITIONS=$value ;;
      dcm) DESIRED_DCM=$value ;;
      memory) DESIRED_MEMORY=$value ;;
      compute) DESIRED_COMPUTE+=("$value") ;;
      allocatable)
        read -r name count <<<"$value"
        DESIRED_ALLOCATABLE[$name]=$count
        ;;
    esac
  done <<<"$parsed"
}

# ------------------------------------------------------------------------------------ the Node

# Fills NODE_KEYS (the labels and annotations the scripts use, `-` when absent), NODE_UNSCHEDULABLE,
# NODE_TAINTS (key → effect), NODE_ALLOCATABLE (amd.com/ resources) and NODE_KMM.
read_node() {
  local parsed kind a b c
  parsed=$(kube get node "$NODE_NAME" -o json |
    json_tool node "$PROFILE_LABEL" "$PARTITION_STATE_LABEL" "$CORDONED_ANNOTATION" "${NODE_EXTRA_KEYS[@]}") ||
    fail NodeReadFailed "cannot read node $NODE_NAME from the API server"
  NODE_KEYS=() NODE_ALLOCATABLE=() NODE_TAINTS=() NODE_KMM=''
  while read -r kind a b c; do
    case $kind in
      key) NODE_KEYS[$a]=$b ;;
      unschedulable) NODE_UNSCHEDULABLE=$a ;;
      taint) NODE_TAINTS[$a]=$b ;;
      allocatable) NODE_ALLOCATABLE[$a]=$b ;;
      kmm) NODE_KMM+="${NODE_KMM:+, }$a" ;;
    esac
  done <<<"$parsed"
  : "$c"
}

node_is_ready() {
  [[ ${NODE_KEYS[$PROFILE_LABEL]} == "$DESIRED_LABEL" && ${NODE_KEYS[$PARTITION_STATE_LABEL]} == ready &&
    ${NODE_KEYS[$CORDONED_ANNOTATION]} != true && -z ${NODE_TAINTS[$PARTITIONING_TAINT_KEY]:-} ]]
}

cordon_node() {
  if [[ $NODE_UNSCHEDULABLE == true ]]; then
    # Cordoned by someone else (or by us, annotated): leave the decision to uncordon with them.
    return 0
  fi
  run kube annotate node "$NODE_NAME" "$CORDONED_ANNOTATION=true" --overwrite ||
    fail NodeAnnotateFailed "cannot annotate node $NODE_NAME: $LAST_OUTPUT"
  run kube cordon "$NODE_NAME" || fail NodeCordonFailed "cannot cordon node $NODE_NAME: $LAST_OUTPUT"
  NODE_KEYS[$CORDONED_ANNOTATION]=true
}

uncordon_node() {
  [[ ${NODE_KEYS[$CORDONED_ANNOTATION]} == true ]] || return 0
  run kube uncordon "$NODE_NAME" || fail NodeCordonFailed "cannot uncordon node $NODE_NAME: $LAST_OUTPUT"
  run kube annotate node "$NODE_NAME" "$CORDONED_ANNOTATION-" ||
    fail NodeAnnotateFailed "cannot annotate node $NODE_NAME: $LAST_OUTPUT"
}

taint_node() {
  run kube taint node "$NODE_NAME" "$1" --overwrite || fail NodeTaintFailed "cannot taint node $NODE_NAME with $1: $LAST_OUTPUT"
}

# By key alone: removes the taint whatever effect a person (or an older version) gave it.
untaint_node() {
  [[ -n ${NODE_TAINTS[$1]:-} ]] || return 0
  run kube taint node "$NODE_NAME" "$1-" || fail NodeTaintFailed "cannot remove the $1 taint: $LAST_OUTPUT"
  unset 'NODE_TAINTS[$1]'
}

mark_ready() {
  if [[ ${NODE_KEYS[$PROFILE_LABEL]} != "$DESIRED_LABEL" || ${NODE_KEYS[$PARTITION_STATE_LABEL]} != ready ]]; then
    run kube label node "$NODE_NAME" "$PROFILE_LABEL=$DESIRED_LABEL" "$PARTITION_STATE_LABEL=ready" --overwrite ||
      fail NodeLabelFailed "cannot label node $NODE_NAME: $LAST_OUTPUT"
  fi
  : >"$READY_FILE"
}

# ------------------------------------------------------------------------------ moves and drain

# Model pods on this node whose replica the plan places on another node (the replica label, and the
# profiles ConfigMap's ordinals per node): the drain waits until a pod of each such replica is Ready
# at its destination, so a moved replica is serving there before its old pod goes.
# Bounded: a move whose destination waits for this node (a cycle) proceeds after the timeout, and
# the PodDisruptionBudget still keeps the model's minAvailable during the drain.
wait_for_moves() {
  local waited=0 parsed kind replica destination state missing moving
  while true; do
    parsed=$(kube get pods -n "$MODEL_NAMESPACE" -l "$MODEL_LABEL" -o json |
      json_tool moves "$NODE_NAME" "$PROFILES_DIR" "$MODEL_LABEL" "$REPLICA_LABEL") ||
      fail PodReadFailed "cannot list the model pods in $MODEL_NAMESPACE or read the planned replicas in $PROFILES_DIR"
    missing='' moving=0
    while read -r kind replica destination state; do
      [[ $kind == moving ]] || continue
      moving=1
      [[ $state == ready ]] || missing+="${missing:+, }$replica (to $destination)"
    done <<<"$parsed"
    if [[ -z $missing ]]; then
      ((moving == 0)) || log "every replica moving off this node is Ready at its destination"
      return 0
    fi
    if ((waited >= MOVE_TIMEOUT_SECONDS)); then
      emit_event Warning MovesNotReady "after ${waited}s not every replica moving off is Ready at its destination: $missing; draining anyway, within the PodDisruptionBudgets"
      return 0
    fi
    log "waiting for replicas moving off: $missing"
    pause "$POLL_INTERVAL_SECONDS"
    waited=$((waited + POLL_INTERVAL_SECONDS))
  done
}

# Evicts every pod on the node that holds GPUs (an amd.com/ resource, or a model pod under env
# isolation) through the Eviction API: a PodDisruptionBudget refuses with 429 and the next round
# tries again. DaemonSet pods are not evicted (their controller would put them back); one that
# holds GPUs is reported when the timeout ends the wait.
# When, at the timeout, only budgets hold the drain, the node gives way (`yield_drain`, which sets
# DRAIN_YIELDED) instead of failing and stopping the rollout: a model's other replicas may be
# planned on nodes still waiting for this one's Lease (a scale-up onto repartitioned nodes). The
# caller reads the flag; a status tested with `||` would switch errexit off inside the drain.
drain_gpu_pods() {
  local waited=0 pods namespace name owner left held body
  DRAIN_YIELDED=0
  while true; do
    pods=$(kube get pods --all-namespaces --field-selector "spec.nodeName=$NODE_NAME" -o json |
      json_tool gpu-pods "$MODEL_LABEL") || fail PodReadFailed "cannot list the pods on node $NODE_NAME"
    if [[ -z $pods ]]; then
      return 0
    fi
    left='' held=1
    while read -r namespace name owner; do
      left+="${left:+, }$namespace/$name"
      if [[ $owner == DaemonSet ]]; then
        held=0
        continue
      fi
      body=$(json_tool eviction "$namespace" "$name")
      if ! run kube create --raw "/api/v1/namespaces/$namespace/pods/$name/eviction" -f - <<<"$body"; then
        log "eviction of $namespace/$name refused for now: $LAST_OUTPUT"
        [[ $LAST_OUTPUT == *TooManyRequests* ]] || held=0
      else
        held=0
      fi
    done <<<"$pods"
    if ((waited >= DRAIN_TIMEOUT_SECONDS)); then
      if ((held)); then
        yield_drain "$left"
        return 0
      fi
      fail DrainTimeout "pods still hold GPUs on the node after ${waited}s: $left"
    fi
    log "waiting for pods holding GPUs to leave: $left"
    pause "$POLL_INTERVAL_SECONDS"
    waited=$((waited + POLL_INTERVAL_SECONDS))
  done
}

# Budgets hold the drain: back in service as it was (uncordoned, Lease released, still labelled
# draining), and the next reconcile tries again after RECHECK_INTERVAL_SECONDS. Meanwhile other
# nodes take the Lease; their replicas may be what the budgets wait for.
yield_drain() {
  DRAIN_YIELDED=1
  emit_event Warning DrainYielded "PodDisruptionBudgets refused every eviction for ${DRAIN_TIMEOUT_SECONDS}s: $1; node back in service, the Lease released, retrying in ${RECHECK_INTERVAL_SECONDS}s"
  uncordon_node
  release_lock
}

# --------------------------------------------------------------------------------- GPU clients

# The GPU Operator's operands keep the GPUs open and discover partitions only at start. The
# NoSchedule taint keeps them off while the modes change (a DaemonSet tolerates only the
# node.kubernetes.io taints by default); it evicts nothing.
stop_operands() {
  taint_node "$PARTITIONING_TAINT_KEY=true:NoSchedule"
  NODE_TAINTS[$PARTITIONING_TAINT_KEY]=NoSchedule
  restart_operands
}

restart_operands() {
  run kube delete pod -n "$DEVICE_PLUGIN_NAMESPACE" -l "$DEVICE_PLUGIN_SELECTOR" \
    --field-selector "spec.nodeName=$NODE_NAME" --wait=false ||
    fail DevicePluginRestartFailed "cannot restart the GPU Operator pods ($DEVICE_PLUGIN_SELECTOR): $LAST_OUTPUT"
}

# ------------------------------------------------------------------------------- fleet-wide lock

# One of MAX_UNAVAILABLE_NODES Leases, held from before the cordon until the node is back in service.
# A failed node keeps its Lease (its pod takes it again after a restart), so the rollout stops there;
# a Lease whose holder vanished frees itself after LOCK_DURATION_SECONDS, longer than a whole change.
acquire_lock() {
  local slot name state version holder body free_slot
  while true; do
    free_slot=''
    for ((slot = 0; slot < MAX_UNAVAILABLE_NODES; slot++)); do
      name="$LOCK_NAME-$slot"
      state=$(kube get lease "$name" -n "$EVENT_NAMESPACE" -o json --ignore-not-found) ||
        fail LockFailed "cannot read Lease $EVENT_NAMESPACE/$name"
      if [[ -z $state ]]; then
        [[ -n $free_slot ]] || free_slot="$name -"
        continue
      fi
      read -r state version holder < <(json_tool lease "$NODE_NAME" <<<"$state")
      case $state in
        mine) free_slot="$name $version" && break ;;
        free) [[ -n $free_slot ]] || free_slot="$name $version" ;;
        held) log "Lease $name is held by $holder" ;;
      esac
    done
    if [[ -n $free_slot ]]; then
      read -r name version <<<"$free_slot"
      body=$(json_tool lease-body "$name" "$EVENT_NAMESPACE" "$NODE_NAME" "$LOCK_DURATION_SECONDS" "$version")
      # create fails when the Lease appeared meanwhile, replace when its resourceVersion moved on.
      local verb=replace
      [[ $version != - ]] || verb=create
      if run kube "$verb" -f - <<<"$body"; then
        LOCK_HELD=$name
        log "holding Lease $name"
        return 0
      fi
      log "Lease $name was taken meanwhile: $LAST_OUTPUT"
    fi
    log "waiting for one of $MAX_UNAVAILABLE_NODES node(s) under change to finish"
    pause "$POLL_INTERVAL_SECONDS"
  done
}

release_lock() {
  local state version holder body
  [[ -n $LOCK_HELD ]] || return 0
  state=$(kube get lease "$LOCK_HELD" -n "$EVENT_NAMESPACE" -o json --ignore-not-found) || state=''
  if [[ -n $state ]]; then
    read -r state version holder < <(json_tool lease "$NODE_NAME" <<<"$state")
    if [[ $state == mine ]]; then
      body=$(json_tool lease-body "$LOCK_HELD" "$EVENT_NAMESPACE" "" "$LOCK_DURATION_SECONDS" "$version")
      run kube replace -f - <<<"$body" || log "could not release Lease $LOCK_HELD: $LAST_OUTPUT"
    else
      log "Lease $LOCK_HELD is now held by $holder"
    fi
  fi
  LOCK_HELD=''
}

# ------------------------------------------------------------------------------ allocatable

describe_allocatable() {
  local name out=''
  for name in "${!NODE_ALLOCATABLE[@]}"; do
    out+="${out:+, }$name=${NODE_ALLOCATABLE[$name]}"
  done
  echo "${out:-none}"
}

allocatable_matches() {
  local name
  for name in "${!DESIRED_ALLOCATABLE[@]}"; do
    [[ ${NODE_ALLOCATABLE[$name]:-0} == "${DESIRED_ALLOCATABLE[$name]}" ]] || return 1
  done
  for name in "${!NODE_ALLOCATABLE[@]}"; do
    [[ ${NODE_ALLOCATABLE[$name]} == 0 || -n ${DESIRED_ALLOCATABLE[$name]:-} ]] || return 1
  done
}

describe_desired_allocatable() {
  local name out=''
  for name in "${!DESIRED_ALLOCATABLE[@]}"; do
    out+="${out:+, }$name=${DESIRED_ALLOCATABLE[$name]}"
  done
  echo "$out"
}

# The device plugin re-registers after its restart; known bugs leave 63 of 64, 0, or the old count.
# With env isolation there is no device plugin, and the plan has no allocatable to check.
wait_allocatable() {
  local waited=0
  ((${#DESIRED_ALLOCATABLE[@]} > 0)) || return 0
  while true; do
    read_node
    allocatable_matches && return 0
    if ((waited >= ALLOCATABLE_TIMEOUT_SECONDS)); then
      fail AllocatableMismatch "node allocatable is $(describe_allocatable) ${waited}s after repartitioning, plan has $(describe_desired_allocatable); the node stays cordoned"
    fi
    log "waiting for allocatable $(describe_desired_allocatable), node has $(describe_allocatable)"
    pause "$POLL_INTERVAL_SECONDS"
    waited=$((waited + POLL_INTERVAL_SECONDS))
  done
}

# Back in service: allocatable verified, uncordoned, labelled ready, Lease released.
return_to_service() {
  wait_allocatable
  uncordon_node
  mark_ready
  release_lock
}

# The reconcile loop both backends share: `reconcile` is the backend's.
rollout_main() {
  trap 'LAST_ERROR="line $LINENO: $BASH_COMMAND"' ERR
  trap on_exit EXIT
  trap on_term TERM INT
  check_settings
  load_desired
  # Ready means running with a readable plan: the rollout is ordered by the Lease, not by the
  # DaemonSet update, whose pods must not wait for serving objects a later sync wave creates.
  : >"$READY_FILE"
  while true; do
    load_desired
    reconcile
    [[ $ONESHOT != 1 ]] || break
    pause "$RECHECK_INTERVAL_SECONDS"
  done
}
