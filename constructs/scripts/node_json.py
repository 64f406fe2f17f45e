# node_json.py: the JSON reading and writing of the node scripts (partition-node.sh, dcm-node.sh
# and their shared node-rollout.sh). Bash cannot parse JSON; every image that has amd-smi (a Python
# program) or that the Dockerfile builds has python3. Standard library only (run with python3 -S).
#
# Usage: python3 -S node_json.py COMMAND [ARGS...] < document
# Every command prints plain `key value` lines (or one JSON document) that bash reads with `read`.
import json
import os
import re
import sys
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


def now():
    return datetime.now(timezone.utc)


def timestamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------- amd-smi


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


def rocm(doc):
    if isinstance(doc, list):
        doc = doc[0] if doc and isinstance(doc[0], dict) else {}
    match = re.match(r"\s*(\d+)\.(\d+)", str(leaf(doc.get("rocm_version", ""))))
    print("%s %s" % (match.group(1), match.group(2)) if match else "unknown")


# ------------------------------------------------------------------------------ planned profile


TOKEN = re.compile(r"[A-Za-z0-9._/-]+")


def desired(doc):
    """The node's entry of the profiles ConfigMap (constructs/partition-profiles.ts), checked."""
    try:
        profiles = [str(gpu).split("-") for gpu in doc["gpus"]]
        lines = [("label", doc["label"]), ("profile", doc["profile"]), ("partitions", int(doc["partitions"]))]
        lines += [("dcm", doc["dcmProfile"])] if "dcmProfile" in doc else []
        lines += [("allocatable", "%s %d" % (name, int(value))) for name, value in sorted(doc["allocatable"].items())]
        if not all(isinstance(o, int) for ordinals in doc["replicas"].values() for o in ordinals):
            raise ValueError("replicas must list ordinals")
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        fail("malformed profile: %r" % error)
    memories = {profile[-1] for profile in profiles}
    if not profiles or any(len(profile) != 2 for profile in profiles) or len(memories) != 1:
        fail("malformed profile: gpus must be COMPUTE-MEMORY entries sharing one memory mode")
    lines.append(("memory", memories.pop()))
    lines += [("compute", profile[0]) for profile in profiles]
    for key, value in lines:
        if not all(TOKEN.fullmatch(part) for part in str(value).split(" ")):
            fail("malformed profile: %s %r" % (key, value))
        print(key, value)


# ---------------------------------------------------------------------------------------- node


def node(doc, *keys):
    """Labels, annotations (by key: `-` when absent), cordon, allocatable and KMM modules of a Node."""
    metadata = doc.get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    for key in keys:
        value = labels.get(key, annotations.get(key))
        print("key", key, value if value else "-")
    print("unschedulable", "true" if (doc.get("spec") or {}).get("unschedulable") else "false")
    taints = (doc.get("spec") or {}).get("taints") or []
    for taint in taints:
        print("taint", taint.get("key", "-"), taint.get("effect", "-"))
    for name, value in sorted(((doc.get("status") or {}).get("allocatable") or {}).items()):
        if name.startswith("amd.com/"):
            print("allocatable", name, value)
    # The Kernel Module Management operator labels a node kmm.node.kubernetes.io/<ns>.<module>.ready
    # while a module it manages is loaded (kmm docs, "Ordered upgrade of kernel module").
    for name in sorted(labels):
        if name.startswith("kmm.node.kubernetes.io/") and name.endswith(".ready"):
            print("kmm", name)


# ---------------------------------------------------------------------------------------- pods


def holds_gpus(pod, model_label):
    """A pod holds GPUs when a container requests an amd.com/ resource or it is a model pod (env isolation)."""
    if model_label in ((pod.get("metadata") or {}).get("labels") or {}):
        return True
    spec = pod.get("spec") or {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            if any(name.startswith("amd.com/") for name in (resources.get(kind) or {})):
                return True
    return False


def terminal(pod):
    return ((pod.get("status") or {}).get("phase")) in ("Succeeded", "Failed")


def gpu_pods(doc, model_label):
    """`namespace name owner-kind` of every pod on the node (the list is field-selected) holding GPUs."""
    for pod in doc.get("items") or []:
        if terminal(pod) or not holds_gpus(pod, model_label):
            continue
        metadata = pod.get("metadata") or {}
        owners = metadata.get("ownerReferences") or []
        owner = next((o.get("kind") for o in owners if o.get("controller")), "-")
        print(metadata.get("namespace", "-"), metadata.get("name", "-"), owner or "-")


def ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def planned_nodes(profiles_dir):
    """(model, ordinal) -> the node the profiles ConfigMap places that replica on."""
    planned = {}
    for entry in sorted(os.listdir(profiles_dir)):
        path = os.path.join(profiles_dir, entry)
        # The kubelet's mount holds `..data` and timestamped directories beside the keys.
        if entry.startswith(".") or not os.path.isfile(path):
            continue
        try:
            with open(path) as handle:
                replicas = json.load(handle).get("replicas") or {}
            for model, ordinals in replicas.items():
                for ordinal in ordinals:
                    planned[(str(model), str(int(ordinal)))] = entry
        except (OSError, ValueError, TypeError, AttributeError) as error:
            fail("malformed profile %s: %r" % (entry, error))
    return planned


def moves(doc, node_name, profiles_dir, model_label, replica_label):
    """`moving MODEL#ORDINAL NODE ready|waiting` for each model pod on this node whose replica the
    plan places on another node: `ready` once a pod of that replica is Ready on that node. Pods
    without the replica label (output before 0.3) and replicas the plan no longer has are not moves."""
    planned = planned_nodes(profiles_dir)
    here, ready_at = set(), set()
    for pod in doc.get("items") or []:
        metadata = pod.get("metadata") or {}
        labels = metadata.get("labels") or {}
        replica = (labels.get(model_label), labels.get(replica_label))
        if None in replica or terminal(pod):
            continue
        node = (pod.get("spec") or {}).get("nodeName")
        if node == node_name:
            here.add(replica)
        elif ready(pod) and not metadata.get("deletionTimestamp"):
            ready_at.add(replica + (node,))
    for model, ordinal in sorted(here):
        destination = planned.get((model, ordinal))
        if destination is None or destination == node_name:
            continue
        state = "ready" if (model, ordinal, destination) in ready_at else "waiting"
        print("moving", "%s#%s" % (model, ordinal), destination, state)


def pods(doc):
    """`name ready|unready` of every pod in the (label- and field-selected) list that has not ended."""
    for pod in doc.get("items") or []:
        if terminal(pod):
            continue
        name = (pod.get("metadata") or {}).get("name", "-")
        print(name, "ready" if ready(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp") else "unready")


def last_warning(doc):
    """`REASON: message` of the newest Warning Event in the list, on one line (nothing when there is none)."""
    warnings = [e for e in doc.get("items") or [] if e.get("type") == "Warning"]
    if not warnings:
        return
    def moment(e):
        return e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or ""
    newest = max(warnings, key=moment)
    message = " ".join(str(newest.get("message") or "").split())
    print("%s: %s" % (newest.get("reason") or "-", message[:300]))


# --------------------------------------------------------------------------------------- lease


def lease(doc, holder):
    """`state resourceVersion holder`: state is mine, free (expired or released) or held."""
    metadata = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    current = spec.get("holderIdentity") or ""
    version = metadata.get("resourceVersion") or "-"
    if current == holder:
        print("mine", version, current)
        return
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    duration = as_int(spec.get("leaseDurationSeconds")) or 0
    expired = True
    if current and renewed:
        try:
            moment = datetime.strptime(renewed.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
            expired = (now() - moment).total_seconds() > duration
        except ValueError:
            expired = True
    print("free" if not current or expired else "held", version, current or "-")


def lease_body(name, namespace, holder, duration, version):
    moment = now().strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    metadata = {"name": name, "namespace": namespace}
    if version != "-":
        # replace with the resourceVersion read: the API server refuses it if another node took the lease since.
        metadata["resourceVersion"] = version
    print(json.dumps({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": int(duration), "acquireTime": moment, "renewTime": moment},
    }))


# -------------------------------------------------------------------------------------- events


def event(namespace, node_name, event_type, reason, message, component):
    moment = timestamp(now())
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
        "firstTimestamp": moment,
        "lastTimestamp": moment,
        "count": 1,
    }))


def eviction(namespace, name):
    print(json.dumps({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}))


def main():
    command, arguments = sys.argv[1], sys.argv[2:]
    writers = {"event": event, "eviction": eviction, "lease-body": lease_body}
    readers = {
        "gpus": gpus, "count": count, "rocm": rocm, "desired": desired, "node": node,
        "gpu-pods": gpu_pods, "moves": moves, "pods": pods, "last-warning": last_warning, "lease": lease,
    }
    if command in writers:
        writers[command](*arguments)
    elif command in readers:
        readers[command](load(sys.stdin.read()), *arguments)
    else:
        fail("unknown command " + command)


main()
