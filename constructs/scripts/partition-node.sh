#!/usr/bin/env bash
# partition-node.sh: puts this node's AMD Instinct GPUs into the partition profile the plan gives it.
#
# The only container of the aim-node-partitioner DaemonSet (constructs/node-partitioning.ts), one pod
# per planned GPU node. It reconciles in a loop:
#
#   1. Desired profile: $PROFILES_DIR/$NODE_NAME, a JSON document the compiler writes into the profiles
#      ConfigMap: {"label","profile","partitions","gpus":["CPX-NPS4", ...]} (one entry per physical GPU).
#      It is read once at start, so a plan change reaches a node through the DaemonSet's rolling update,
#      one node at a time and gated by readiness (a container restarted after a crash reads the
#      ConfigMap's current content, though).
#   2. Current profile: `amd-smi static --partition --json` (compute and memory mode of every physical
#      GPU, i.e. of every partition with PARTITION_ID 0) and `amd-smi list --json` (the logical GPUs).
#   3. In profile: label the node (PROFILE_LABEL=<label>, PARTITION_STATE_LABEL=ready), remove a
#      leftover PARTITIONING_TAINT_KEY taint, touch $READY_FILE (the readiness probe), then re-check
#      every RECHECK_INTERVAL_SECONDS and relabel on drift.
#   4. Out of profile: remove $READY_FILE, taint the node NoExecute (evicts model pods) and label it
#      PARTITION_STATE_LABEL=partitioning, wait until `amd-smi process` shows no GPU process, set the
#      memory mode when it differs and reload the driver, set the compute mode, verify the modes and
#      the partition count, restart the device plugin pods on this node, label, untaint, touch
#      $READY_FILE.
#   5. Any failure: remove $READY_FILE, keep the taint, label PARTITION_STATE_LABEL=failed, create a
#      Warning Event on the Node, exit 1. The kubelet restarts the pod with back-off and the next
#      attempt starts again at step 1; the DaemonSet rollout stops at this node until it is fixed.
#
# Idempotent: a pod that finds its node in profile changes nothing on the GPUs. A reboot (or any
# driver reload) brings the GPUs back in their default compute mode; the pod restarts with the node,
# step 2 finds the difference, and the profile is applied again. Until that first check the node
# keeps its labels, so a model pod may start on the unpartitioned GPUs and is evicted when the taint
# goes on.
#
# Driver reload, by the ROCm version `amd-smi version --json` reports (rocm_version):
#   - 6.3 and 6.4: `amd-smi set --memory-partition` restarts amdgpu itself (it takes 40-140 s);
#   - 7.0 and later: the set only records the mode, applied at the next driver load, so this script
#     runs `modprobe -r amdgpu && modprobe amdgpu` (privileged container, host /lib/modules).
#   An unknown version takes the modprobe branch: a redundant reload of idle GPUs is harmless.
# The compute mode is set again after every memory change because a reload may reset it (on MI300X
# NPS4 forces CPX, and SPX is refused while NPS4 is active, hence memory first).
#
# Known pitfalls: GPU clients outside Kubernetes (gpuagent, a metrics exporter run by systemd) keep
# the GPUs busy and end in a GpuBusy failure. amd-smi can report a refused set and still exit 0, so
# the verification step, not the exit status, decides. ROCm 6.4.0/6.4.1 rejected
# `--compute-partition CPX` unless run as root (the container runs as root).
#
# Environment (every tool is looked up on PATH, so tests substitute amd-smi, kubectl, modprobe, sleep):
#   NODE_NAME                 this node (downward API spec.nodeName)                      required
#   PROFILE_LABEL, PARTITION_STATE_LABEL, PARTITIONING_TAINT_KEY  names from constructs/labels.ts  required
#   PROFILES_DIR              mounted profiles ConfigMap        default /etc/aim-gpu-sharing/profiles
#   READY_FILE                readiness marker                  default /tmp/partition-ready
#   EVENT_NAMESPACE           namespace of the Events created   default default
#   DEVICE_PLUGIN_NAMESPACE   default kube-amd-gpu
#   DEVICE_PLUGIN_SELECTOR    default daemonset-name=gpu-operator
#   POLL_INTERVAL_SECONDS     default 10     DRAIN_TIMEOUT_SECONDS     default 600
#   RELOAD_TIMEOUT_SECONDS    default 300    RECHECK_INTERVAL_SECONDS  default 300
#   ONESHOT                   1: exit after the first reconcile instead of re-checking   default 0
set -Eeuo pipefail

: "${NODE_NAME:?NODE_NAME must name this node}"
: "${PROFILE_LABEL:?PROFILE_LABEL must be set}"
: "${PARTITION_STATE_LABEL:?PARTITION_STATE_LABEL must be set}"
: "${PARTITIONING_TAINT_KEY:?PARTITIONING_TAINT_KEY must be set}"
PROFILES_DIR="${PROFILES_DIR:-/etc/aim-gpu-sharing/profiles}"
READY_FILE="${READY_FILE:-/tmp/partition-ready}"
EVENT_NAMESPACE="${EVENT_NAMESPACE:-default}"
DEVICE_PLUGIN_NAMESPACE="${DEVICE_PLUGIN_NAMESPACE:-kube-amd-gpu}"
DEVICE_PLUGIN_SELECTOR="${DEVICE_PLUGIN_SELECTOR:-daemonset-name=gpu-operator}"
POLL_INTERVAL_SECONDS="${POLL_INTERVAL_SECONDS:-10}"
DRAIN_TIMEOUT_SECONDS="${DRAIN_TIMEOUT_SECONDS:-600}"
RELOAD_TIMEOUT_SECONDS="${RELOAD_TIMEOUT_SECONDS:-300}"
RECHECK_INTERVAL_SECONDS="${RECHECK_INTERVAL_SECONDS:-300}"
ONESHOT="${ONESHOT:-0}"

readonly EVENT_COMPONENT=aim-node-partitioner

# JSON parsing lives in python3: amd-smi is a Python program, so every image that has it has python3.
IFS= read -r -d '' JSON_TOOL <<'PY' || true
import json, re, sys
from datetime import datetime, timezone


def fail(message):
    sys.stderr.write(message + "\n")
    sys.exit(2)


def load(text):
    # amd-smi may print warnings before the document, so decode from the first position that parses.
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char in "[{":
            try:
                return decoder.raw_decode(text, start)[0]
            except ValueError:
                continue
    fail("no JSON document in the input")


def leaf(value):
    # Newer amd-smi wraps numbers as {"value": N, "unit": "..."}.
    return value.get("value") if isinstance(value, dict) and "value" in value else value


def as_int(value):
    try:
        return int(leaf(value))
    except (TypeError, ValueError):
        return None


def mode(value):
    value = leaf(value)
    if not isinstance(value, str) or not value.strip():
        return "N/A"
    return value.strip().upper()


def devices(doc):
    # Older amd-smi prints a bare list (a bare object for one GPU); newer wraps it in {"gpu_data": [...]}.
    if isinstance(doc, dict):
        if "gpu_data" in doc:
            doc = doc["gpu_data"]
        elif "gpu" in doc:
            doc = [doc]
    if not isinstance(doc, list):
        fail("unexpected amd-smi JSON layout")
    return [device for device in doc if isinstance(device, dict)]


def gpus(doc):
    """One line per physical GPU: the logical index of its first partition, compute mode, memory mode."""
    for position, device in enumerate(devices(doc)):
        partition = device.get("partition")
        partition = partition if isinstance(partition, dict) else device
        partition_id = as_int(partition.get("partition_id"))
        # ROCm 7.14's amd-smi renamed the compute partition to the accelerator partition.
        compute = mode(partition.get("compute_partition", partition.get("accelerator_partition")))
        # Secondary partitions have PARTITION_ID > 0; some versions also print N/A for their modes.
        if partition_id == 0 or (partition_id is None and compute != "N/A"):
            index = as_int(device.get("gpu"))
            print(position if index is None else index, compute, mode(partition.get("memory_partition")))


def count(doc):
    print(len([device for device in devices(doc) if "gpu" in device]))


def processes(doc):
    """The number of GPU processes and who they are; an unrecognised entry counts (fail closed)."""
    found = []
    for device in devices(doc):
        entries = device.get("process_list") or []
        for entry in entries if isinstance(entries, list) else [entries]:
            info = entry.get("process_info", entry) if isinstance(entry, dict) else entry
            if isinstance(info, str) and info.strip().lower().startswith("no running processes"):
                continue
            if isinstance(info, dict):
                found.append("%s(%s)" % (leaf(info.get("name", "?")), leaf(info.get("pid", "?"))))
            else:
                found.append(str(info).replace(" ", "_"))
    print(len(found), ",".join(sorted(set(found))) or "-")


def rocm(doc):
    if isinstance(doc, list):
        doc = doc[0] if doc and isinstance(doc[0], dict) else {}
    match = re.match(r"\s*(\d+)\.(\d+)", str(leaf(doc.get("rocm_version", ""))))
    print("%s %s" % (match.group(1), match.group(2)) if match else "unknown")


def desired(doc):
    try:
        profiles = [str(gpu).split("-") for gpu in doc["gpus"]]
        lines = [("label", doc["label"]), ("profile", doc["profile"]), ("partitions", int(doc["partitions"]))]
    except (KeyError, TypeError, ValueError) as error:
        fail("malformed profile: %r" % error)
    memories = {profile[-1] for profile in profiles}
    if not profiles or any(len(profile) != 2 for profile in profiles) or len(memories) != 1:
        fail("malformed profile: gpus must be COMPUTE-MEMORY entries sharing one memory mode")
    lines.append(("memory", memories.pop()))
    lines += [("compute", profile[0]) for profile in profiles]
    for key, value in lines:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", str(value)):
            fail("malformed profile: %s %r" % (key, value))
        print(key, value)


def node(doc, profile_label, state_label, taint_key):
    labels = (doc.get("metadata") or {}).get("labels") or {}
    taints = (doc.get("spec") or {}).get("taints") or []
    print("profile", labels.get(profile_label) or "-")
    print("state", labels.get(state_label) or "-")
    print("tainted", "true" if any(taint.get("key") == taint_key for taint in taints) else "false")


def event(namespace, node_name, event_type, reason, message, component):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(json.dumps({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": node_name + ".", "namespace": namespace},
        # kubectl describe node matches Node events by uid == node name, as the kubelet writes them.
        "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_name},
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": component, "host": node_name},
        "reportingComponent": component,
        "reportingInstance": node_name,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }))


command, arguments = sys.argv[1], sys.argv[2:]
if command == "event":
    event(*arguments)
else:
    handlers = {"gpus": gpus, "count": count, "processes": processes, "rocm": rocm, "desired": desired, "node": node}
    handlers[command](load(sys.stdin.read()), *arguments)
PY

REPORTED=0
TERMINATING=0
LAST_ERROR=''
LAST_OUTPUT=''
PAUSE_PID=''
DESIRED_LABEL='' DESIRED_PROFILE='' DESIRED_MEMORY='' DESIRED_PARTITIONS=''
DESIRED_COMPUTE=()
CURRENT_INDEX=() CURRENT_COMPUTE=() CURRENT_MEMORY=()
CURRENT_PARTITIONS=''
NODE_PROFILE='' NODE_STATE='' NODE_TAINTED=''

log() {
  TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T %s\n' -1 "$*" >&2
}

json_tool() {
  # -S: the standard library is all it needs, and skipping site-packages starts it faster.
  python3 -S -c "$JSON_TOOL" "$@"
}

# Runs a command, copies its output to the log and keeps its last line for a failure message.
run() {
  local output status=0
  output=$("$@" 2>&1) || status=$?
  if [[ -n $output ]]; then
    printf '%s\n' "$output" >&2
  fi
  LAST_OUTPUT=${output##*$'\n'}
  return "$status"
}

# Sleeps in the background so that SIGTERM (pod deletion) is handled at once.
pause() {
  sleep "$1" &
  PAUSE_PID=$!
  wait "$PAUSE_PID"
  PAUSE_PID=''
}

# A deleted pod is being replaced, not failing: stop without reporting; a taint stays for the next pod.
on_term() {
  TERMINATING=1
  if [[ -n $PAUSE_PID ]]; then
    kill "$PAUSE_PID" 2>/dev/null || true
  fi
  exit 143
}

emit_event() {
  local event
  if event=$(json_tool event "$EVENT_NAMESPACE" "$NODE_NAME" "$1" "$2" "$3" "$EVENT_COMPONENT") &&
    kubectl create -f - <<<"$event" >/dev/null; then
    return 0
  fi
  log "could not create the $1 Event $2"
}

# Reports the failure on the node (label and Event) and exits; the taint, if any, stays.
fail() {
  local reason=$1 message=$2
  log "FAILED $reason: $message"
  rm -f "$READY_FILE"
  if ! kubectl label node "$NODE_NAME" "$PARTITION_STATE_LABEL=failed" --overwrite >/dev/null; then
    log "could not label the node $PARTITION_STATE_LABEL=failed"
  fi
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

check_settings() {
  local name
  for name in POLL_INTERVAL_SECONDS DRAIN_TIMEOUT_SECONDS RELOAD_TIMEOUT_SECONDS RECHECK_INTERVAL_SECONDS; do
    [[ ${!name} =~ ^[0-9]+$ ]] || fail InvalidSettings "$name must be a whole number of seconds, got '${!name}'"
  done
  ((POLL_INTERVAL_SECONDS > 0)) || fail InvalidSettings "POLL_INTERVAL_SECONDS must be at least 1"
}

load_desired() {
  local file="$PROFILES_DIR/$NODE_NAME" parsed key value
  [[ -r $file ]] || fail NodeNotInPlan "no planned profile for node $NODE_NAME in $PROFILES_DIR"
  parsed=$(json_tool desired <"$file") || fail InvalidProfile "cannot read the planned profile in $file"
  while read -r key value; do
    case $key in
      label) DESIRED_LABEL=$value ;;
      profile) DESIRED_PROFILE=$value ;;
      partitions) DESIRED_PARTITIONS=$value ;;
      memory) DESIRED_MEMORY=$value ;;
      compute) DESIRED_COMPUTE+=("$value") ;;
    esac
  done <<<"$parsed"
}

# Fills CURRENT_INDEX/COMPUTE/MEMORY, one element per physical GPU; fails quietly so callers decide.
read_modes() {
  local parsed index compute memory
  parsed=$(amd-smi static --partition --json | json_tool gpus) || return 1
  CURRENT_INDEX=() CURRENT_COMPUTE=() CURRENT_MEMORY=()
  while read -r index compute memory; do
    [[ -n $index ]] || continue
    CURRENT_INDEX+=("$index")
    CURRENT_COMPUTE+=("$compute")
    CURRENT_MEMORY+=("$memory")
  done <<<"$parsed"
}

read_partition_count() {
  CURRENT_PARTITIONS=$(amd-smi list --json | json_tool count)
}

read_node_state() {
  local parsed key value
  parsed=$(kubectl get node "$NODE_NAME" -o json |
    json_tool node "$PROFILE_LABEL" "$PARTITION_STATE_LABEL" "$PARTITIONING_TAINT_KEY") ||
    fail NodeReadFailed "cannot read node $NODE_NAME from the API server"
  while read -r key value; do
    case $key in
      profile) NODE_PROFILE=$value ;;
      state) NODE_STATE=$value ;;
      tainted) NODE_TAINTED=$value ;;
    esac
  done <<<"$parsed"
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

mark_ready() {
  read_node_state
  if [[ $NODE_PROFILE != "$DESIRED_LABEL" || $NODE_STATE != ready ]]; then
    run kubectl label node "$NODE_NAME" "$PROFILE_LABEL=$DESIRED_LABEL" "$PARTITION_STATE_LABEL=ready" --overwrite ||
      fail NodeLabelFailed "cannot label node $NODE_NAME: $LAST_OUTPUT"
  fi
  if [[ $NODE_TAINTED == true ]]; then
    # By key alone: removes the taint whatever effect a person may have given it by hand.
    run kubectl taint node "$NODE_NAME" "$PARTITIONING_TAINT_KEY-" ||
      fail NodeTaintFailed "cannot remove the $PARTITIONING_TAINT_KEY taint: $LAST_OUTPUT"
  fi
  : >"$READY_FILE"
}

wait_until_idle() {
  local waited=0 status busy users
  while true; do
    status=$(amd-smi process --json | json_tool processes) || fail AmdSmiFailed "amd-smi process --json failed"
    read -r busy users <<<"$status"
    if ((busy == 0)); then
      return 0
    fi
    if ((waited >= DRAIN_TIMEOUT_SECONDS)); then
      fail GpuBusy "GPUs still used by $busy process(es) after ${waited}s: $users"
    fi
    log "waiting for $busy GPU process(es) to exit: $users"
    pause "$POLL_INTERVAL_SECONDS"
    waited=$((waited + POLL_INTERVAL_SECONDS))
  done
}

# amd-smi of ROCm 6.3 and 6.4 restarts amdgpu itself after a memory partition change.
amd_smi_reloads_driver() {
  local version major minor
  version=$(amd-smi version --json | json_tool rocm) || version=unknown
  read -r major minor <<<"$version"
  log "amd-smi reports ROCm $major${minor:+.$minor}"
  [[ $major == 6 && $minor =~ ^[0-9]+$ ]] && ((minor >= 3))
}

wait_for_gpus() {
  local waited=0
  until read_modes && gpu_count_matches; do
    if ((waited >= RELOAD_TIMEOUT_SECONDS)); then
      fail GpusMissingAfterReload "amd-smi shows ${#CURRENT_COMPUTE[@]} GPUs ${waited}s after the driver reload, plan has ${#DESIRED_COMPUTE[@]}"
    fi
    pause "$POLL_INTERVAL_SECONDS"
    waited=$((waited + POLL_INTERVAL_SECONDS))
  done
}

set_memory_mode() {
  log "setting memory partition $DESIRED_MEMORY"
  # amd-smi asks for a Y/N confirmation before changing the memory mode.
  run amd-smi set --memory-partition "$DESIRED_MEMORY" <<<y ||
    fail MemoryPartitionSetFailed "amd-smi set --memory-partition $DESIRED_MEMORY failed: $LAST_OUTPUT"
  if amd_smi_reloads_driver; then
    log "amd-smi reloaded the driver"
  else
    run modprobe -r amdgpu ||
      fail DriverReloadFailed "modprobe -r amdgpu failed (a GPU client may still hold the device): $LAST_OUTPUT"
    run modprobe amdgpu || fail DriverReloadFailed "modprobe amdgpu failed: $LAST_OUTPUT"
  fi
  wait_for_gpus
}

# after_reload=1 sets every GPU: a driver reload may have reset the compute modes.
set_compute_modes() {
  local after_reload=$1 i
  if desired_is_uniform; then
    run amd-smi set --gpu all --compute-partition "${DESIRED_COMPUTE[0]}" ||
      fail ComputePartitionSetFailed "amd-smi set --compute-partition ${DESIRED_COMPUTE[0]} failed: $LAST_OUTPUT"
    return
  fi
  # Per GPU, addressed by the logical index of its first partition, which moves as modes change.
  for i in "${!DESIRED_COMPUTE[@]}"; do
    read_modes || fail AmdSmiFailed "amd-smi static --partition --json failed"
    gpu_count_matches ||
      fail PartitionVerificationFailed "amd-smi shows ${#CURRENT_COMPUTE[@]} GPUs, plan has ${#DESIRED_COMPUTE[@]}"
    if ((after_reload)) || [[ ${CURRENT_COMPUTE[i]} != "${DESIRED_COMPUTE[i]}" ]]; then
      run amd-smi set --gpu "${CURRENT_INDEX[i]}" --compute-partition "${DESIRED_COMPUTE[i]}" ||
        fail ComputePartitionSetFailed "amd-smi set --gpu ${CURRENT_INDEX[i]} --compute-partition ${DESIRED_COMPUTE[i]} failed: $LAST_OUTPUT"
    fi
  done
}

verify() {
  read_modes || fail AmdSmiFailed "amd-smi static --partition --json failed"
  modes_match ||
    fail PartitionVerificationFailed "after partitioning, amd-smi reports $(describe_current), plan has $DESIRED_PROFILE"
  read_partition_count || fail AmdSmiFailed "amd-smi list --json failed"
  ((CURRENT_PARTITIONS == DESIRED_PARTITIONS)) ||
    fail PartitionVerificationFailed "amd-smi lists $CURRENT_PARTITIONS partitions after partitioning, plan has $DESIRED_PARTITIONS"
}

# The device plugin (and the GPU Operator's node labeller, which shares its label) discover
# partitions only at start.
restart_device_plugin() {
  run kubectl delete pod -n "$DEVICE_PLUGIN_NAMESPACE" -l "$DEVICE_PLUGIN_SELECTOR" \
    --field-selector "spec.nodeName=$NODE_NAME" --wait=false ||
    fail DevicePluginRestartFailed "cannot restart the device plugin pods ($DEVICE_PLUGIN_SELECTOR): $LAST_OUTPUT"
}

repartition() {
  local from memory_changed=0
  from=$(describe_current)
  log "node is in $from, plan has $DESIRED_PROFILE: repartitioning"
  rm -f "$READY_FILE"
  run kubectl taint node "$NODE_NAME" "$PARTITIONING_TAINT_KEY=true:NoExecute" --overwrite ||
    fail NodeTaintFailed "cannot taint node $NODE_NAME: $LAST_OUTPUT"
  run kubectl label node "$NODE_NAME" "$PARTITION_STATE_LABEL=partitioning" --overwrite ||
    fail NodeLabelFailed "cannot label node $NODE_NAME: $LAST_OUTPUT"
  emit_event Normal Repartitioning "repartitioning from $from to $DESIRED_PROFILE; model pods are evicted"
  wait_until_idle
  if ! memory_matches; then
    set_memory_mode
    memory_changed=1
  fi
  set_compute_modes "$memory_changed"
  verify
  restart_device_plugin
  mark_ready
  emit_event Normal Partitioned "$DESIRED_PROFILE applied: $DESIRED_PARTITIONS partitions"
}

reconcile() {
  read_modes || fail AmdSmiFailed "amd-smi static --partition --json failed"
  if ! modes_match; then
    repartition
    return
  fi
  read_partition_count || fail AmdSmiFailed "amd-smi list --json failed"
  # Right modes but missing partitions is not fixed by setting the same modes again (seen with a
  # BMC video driver holding the GPU, or a driver regression); report it.
  ((CURRENT_PARTITIONS == DESIRED_PARTITIONS)) ||
    fail PartitionCountMismatch "node is in $DESIRED_PROFILE but amd-smi lists $CURRENT_PARTITIONS partitions, plan has $DESIRED_PARTITIONS"
  mark_ready
}

main() {
  trap 'LAST_ERROR="line $LINENO: $BASH_COMMAND"' ERR
  trap on_exit EXIT
  trap on_term TERM INT
  check_settings
  load_desired
  while true; do
    reconcile
    [[ $ONESHOT != 1 ]] || break
    pause "$RECHECK_INTERVAL_SECONDS"
  done
}

main "$@"
