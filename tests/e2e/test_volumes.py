"""Volumes and API data in pods, as upstream's kubelet serves them: emptyDir on disk and on a
sized tmpfs; hostPath with every type and its checks; configMap and secret volumes (keys, items,
modes, binaryData, optional, the atomic writer's `..data` layout, secrets on tmpfs, updates
reaching a running pod); downwardAPI files (pod fields, labels and annotations, resource limits,
label updates); projected volumes merging configMap, secret, downwardAPI and serviceAccountToken
sources; the kube-api-access volume every pod gets, whose token the apiserver accepts (its
rotation is test_token_rotation.py); fsGroup ownership and read-only mounts; mount propagation;
subPath and subPathExpr, including the symlink escapes of CVE-2017-1002101 and CVE-2021-25741; env from
configMaps and secrets; and no mounts or pod directories left behind once a pod is deleted.

The node agent has no exec or logs API to rely on, so every container reports what it sees
through its termination message (at most 4096 bytes); the rest is read from pod status, events
and the node's own files and /proc/self/mountinfo (the agent runs in the node's mount namespace).
"""

import base64
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import (AGNHOST, HACK, NODE_NAME, STATE, delete_pod, get_pod, in_netns, kubectl, kubectl_json, unique,
                      wait_until)

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"
KUBELET_ROOT = STATE / "kubelet"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# A shell function for container scripts: `show FILE...` prints "F <path> <mode> <base64 content>"
# per file (modes through symlinks, as the atomic writer's names are symlinks).
SHOW = ("show() { for f; do printf 'F %s %s %s\\n' \"$f\" \"$(stat -L -c %a \"$f\")\" "
        "\"$(base64 <\"$f\" | tr -d '\\n')\"; done; }; ")


def cluster_setting(name):
    text = (HACK / "lib" / "cluster.sh").read_text()
    return re.search(rf"^{name}=(\S+)$", text, re.M).group(1)


NODE_IP = cluster_setting("NODE_IP")
APISERVER = f"https://{NODE_IP}:{cluster_setting('APISERVER_PORT')}"


# ---------------------------------------------------------------------------------------- helpers

def ctr(name, script, mounts=(), image=BUSYBOX, **extra):
    return {"name": name, "image": image, "command": ["sh", "-c", script],
            "volumeMounts": list(mounts), **extra}


def mnt(volume, path, **extra):
    return {"name": volume, "mountPath": path, **extra}


def pod(name, containers, volumes=(), init=(), spec=None, labels=None, annotations=None, restart="Never"):
    body = {"containers": list(containers), "volumes": list(volumes), "restartPolicy": restart,
            "nodeName": NODE_NAME, "terminationGracePeriodSeconds": 1, **(spec or {})}
    if init:
        body["initContainers"] = list(init)
    meta = {"name": name, "namespace": NS}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body}


def create(obj):
    """kubectl create (not apply: apply would add a last-applied annotation the downward API shows)."""
    return kubectl("create", "-f", "-", stdin=json.dumps(obj))


def configmap(name, data=None, binary=None):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS},
           "data": data or {}}
    if binary:
        obj["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary.items()}
    create(obj)


def secret(name, data):
    create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
            "data": {k: base64.b64encode(v.encode() if isinstance(v, str) else v).decode()
                     for k, v in data.items()}})


def delete(kind, *names):
    for n in names:
        kubectl("delete", kind, "-n", NS, n, "--wait=false", "--ignore-not-found", check=False)


def statuses(p):
    s = p.get("status", {})
    return {c["name"]: c for c in s.get("initContainerStatuses", []) + s.get("containerStatuses", [])}


def phase(name):
    return get_pod(name).get("status", {}).get("phase")


def running(name):
    p = get_pod(name)
    return p if p.get("status", {}).get("phase") == "Running" else None


def finished(name):
    p = get_pod(name)
    return p if p.get("status", {}).get("phase") in ("Succeeded", "Failed") else None


def messages_of(p):
    """{container: termination message}; every container must have exited 0."""
    out = {}
    for cname, s in statuses(p).items():
        term = s["state"]["terminated"]
        assert term["exitCode"] == 0, (cname, term)
        out[cname] = term.get("message", "")
    return out


def run(manifest, timeout=120):
    """Creates the pod, waits for it to finish and returns (pod, {container: message})."""
    name = manifest["metadata"]["name"]
    create(manifest)
    p = wait_until(f"{name} finished", lambda: finished(name), timeout=timeout)
    return p, messages_of(p)


def waiting(name, container):
    """The container's waiting state (reason, message) or None."""
    s = statuses(get_pod(name)).get(container, {})
    return s.get("state", {}).get("waiting")


def waiting_reason(name, container, reason):
    w = waiting(name, container)
    return w if w and w.get("reason") == reason else None


def pod_events(name, reason):
    return kubectl_json("get", "events", "-n", NS, "--field-selector",
                        f"involvedObject.name={name},reason={reason}")["items"]


def event_with(name, reason, *parts):
    """The first event for the pod with the reason whose message holds every part."""
    for e in pod_events(name, reason):
        if all(p in e["message"] for p in parts):
            return e
    return None


def shown(message):
    """{path: (mode, bytes)} from the lines of `show` in a termination message."""
    files = {}
    for line in message.splitlines():
        if line.startswith("F "):
            parts = line.split(" ")
            files[parts[1]] = (parts[2], base64.b64decode(parts[3]) if len(parts) > 3 else b"")
    return files


def tagged(message, tag):
    """The rest of the line starting with `tag ` (None if there is none)."""
    for line in message.splitlines():
        if line.startswith(tag + " "):
            return line[len(tag) + 1:]
        if line == tag:
            return ""
    return None


def pod_dir(uid):
    return KUBELET_ROOT / "pods" / uid


def empty_dir_path(uid, volume):
    return pod_dir(uid) / "volumes" / "kubernetes.io~empty-dir" / volume


def node_mounts(fragment):
    """Lines of the node's /proc/self/mountinfo that mention `fragment`."""
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if fragment in line]


def delete_and_expect_nothing_left(name, uid):
    """Deletes the pod; within a minute no mount names it and its directory is gone."""
    kubectl("delete", "pod", "-n", NS, name, "--wait=false")
    wait_until("no mount of the pod left", lambda: not node_mounts(uid), timeout=60)
    wait_until("no pod directory left", lambda: not pod_dir(uid).exists(), timeout=60)


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def node_tmp():
    """A unique directory on the node (the tests run on it), removed afterwards."""
    d = Path(f"/tmp/cubelet-e2e-vol-{uuid.uuid4().hex[:8]}")
    d.mkdir(mode=0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------- emptyDir

def test_empty_dir_on_disk_is_shared_by_init_and_app_containers_with_mode_777():
    name = unique("vol-ed")
    script = ("{ cat /data/from-init; stat -c %a /data; stat -f -c %T /data; } > /dev/termination-log; "
              "while [ ! -e /data/done ]; do sleep 0.2; done")
    try:
        create(pod(name, [ctr("main", script, [mnt("data", "/data")])], [{"name": "data", "emptyDir": {}}],
                   init=[ctr("init", "echo hello from init > /data/from-init", [mnt("data", "/data")])]))
        p = wait_until("pod Running", lambda: running(name), timeout=90)
        # On disk, under the pod's directory on the node.
        host = empty_dir_path(p["metadata"]["uid"], "data")
        assert (host / "from-init").read_text() == "hello from init\n"
        assert stat.S_IMODE(host.stat().st_mode) == 0o777
        (host / "done").touch()
        p = wait_until("pod finished", lambda: finished(name), timeout=60)
        content, mode, fstype = messages_of(p)["main"].splitlines()
        assert content == "hello from init"
        assert mode == "777"
        assert fstype != "tmpfs", "a default-medium emptyDir is on the node's disk"
    finally:
        delete_pod(name)


def test_empty_dir_medium_memory_is_a_tmpfs_of_the_size_limit():
    name = unique("vol-edmem")
    script = ("{ stat -f -c %T /mem; stat -c %a /mem; grep ' /mem ' /proc/mounts; "
              "df -k /mem | tail -n 1; "
              "dd if=/dev/zero of=/mem/small bs=1M count=1 2>/dev/null && echo small-ok; rm -f /mem/small; "
              "dd if=/dev/zero of=/mem/big bs=1M count=16 2>/dev/null && echo big-ok || echo big-failed; "
              "} > /dev/termination-log")
    try:
        _, messages = run(pod(name, [ctr("main", script, [mnt("mem", "/mem")])],
                              [{"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}]))
        lines = messages["main"].splitlines()
        assert lines[0] == "tmpfs"
        assert lines[1] == "1777", "the tmpfs root: the kernel's default mode, sticky"
        mount = lines[2].split()
        assert mount[2] == "tmpfs"
        assert "size=8192k" in mount[3].split(","), mount
        assert int(lines[3].split()[1]) == 8192, "df: 8 MiB in 1K blocks"
        assert "small-ok" in lines
        assert "big-failed" in lines and "big-ok" not in lines
    finally:
        delete_pod(name)


# ---------------------------------------------------------------------------------------- hostPath

def block_device():
    for path in sorted(glob.glob("/dev/loop[0-9]*")) + sorted(glob.glob("/dev/[sv]d[a-z]")) + \
            sorted(glob.glob("/dev/nvme[0-9]n[0-9]")):
        try:
            if stat.S_ISBLK(os.stat(path).st_mode):
                return path
        except OSError:
            pass
    return None


def make_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the socket file stays


def test_host_path_types_that_match_run_and_create_what_is_missing(node_tmp):
    name = unique("vol-hp")
    (node_tmp / "dir").mkdir()
    (node_tmp / "file").write_text("host file\n")
    make_socket(node_tmp / "sock")
    blk = block_device()
    volumes = {
        "doc": {"path": str(node_tmp / "made" / "deeper"), "type": "DirectoryOrCreate"},
        "foc": {"path": str(node_tmp / "made.txt"), "type": "FileOrCreate"},
        "dir": {"path": str(node_tmp / "dir"), "type": "Directory"},
        "file": {"path": str(node_tmp / "file"), "type": "File"},
        "sock": {"path": str(node_tmp / "sock"), "type": "Socket"},
        "chr": {"path": "/dev/null", "type": "CharDevice"},
        "unset": {"path": str(node_tmp / "unset" / "missing")},
    }
    if blk:
        volumes["blk"] = {"path": blk, "type": "BlockDevice"}
    script = ("{ for v in " + " ".join(volumes) + "; do echo \"$v $(stat -c %F /hp/$v)\"; done; "
              "cat /hp/file; } > /dev/termination-log")
    try:
        _, messages = run(pod(name, [ctr("main", script, [mnt(v, f"/hp/{v}") for v in volumes])],
                              [{"name": v, "hostPath": src} for v, src in volumes.items()]))
        lines = messages["main"].splitlines()
        kinds = dict(line.split(" ", 1) for line in lines[:len(volumes)])
        assert kinds["doc"] == "directory"
        assert kinds["foc"] in ("regular empty file", "regular file")
        assert kinds["dir"] == "directory"
        assert kinds["file"] == "regular file"
        assert kinds["sock"] == "socket"
        assert kinds["chr"] == "character special file"
        assert kinds["unset"] == "directory", "a missing untyped path is created as a directory"
        if blk:
            assert kinds["blk"] == "block special file"
        assert lines[len(volumes)] == "host file"
        # What the agent created on the node.
        made = node_tmp / "made" / "deeper"
        assert made.is_dir() and stat.S_IMODE(made.stat().st_mode) == 0o755
        assert stat.S_IMODE((node_tmp / "made").stat().st_mode) == 0o755
        created = node_tmp / "made.txt"
        assert created.is_file() and stat.S_IMODE(created.stat().st_mode) == 0o644
        assert created.stat().st_size == 0
        assert (node_tmp / "unset" / "missing").is_dir()
    finally:
        delete_pod(name)


def test_host_path_type_mismatches_fail_the_mount_and_the_pod_waits(node_tmp):
    name = unique("vol-hpbad")
    (node_tmp / "dir").mkdir()
    (node_tmp / "file").write_text("x")
    file, dir_, missing = str(node_tmp / "file"), str(node_tmp / "dir"), str(node_tmp / "missing")
    cases = {  # volume: (hostPath, expected parts of the error)
        "dir-on-file": ({"path": file, "type": "Directory"}, [f": {file} is not a directory, it's a File"]),
        "file-on-dir": ({"path": dir_, "type": "File"}, [f": {dir_} is not a file, it's a Directory"]),
        "sock-on-file": ({"path": file, "type": "Socket"}, [f": {file} is not a socket file, it's a File"]),
        "chr-on-dir": ({"path": dir_, "type": "CharDevice"},
                       [f": {dir_} is not a character device, it's a Directory"]),
        "blk-on-chr": ({"path": "/dev/null", "type": "BlockDevice"},
                       [": /dev/null is not a block device, it's a CharDevice"]),
        "dir-missing": ({"path": missing, "type": "Directory"}, [
            f", {missing} is not a directory, unable to determine its type: path \"{missing}\" does not exist"]),
    }
    try:
        create(pod(name, [ctr("main", "true", [mnt(v, f"/hp/{v}") for v in cases])],
                   [{"name": v, "hostPath": src} for v, (src, _) in cases.items()]))
        for volume, (_, parts) in cases.items():
            event = wait_until(f"FailedMount for {volume}", lambda: event_with(
                name, "FailedMount", f'MountVolume.SetUp failed for volume "{volume}" : ', "hostPath type check failed",
                *parts), timeout=90)
            assert event["type"] == "Warning"
        p = get_pod(name)
        assert p["status"]["phase"] == "Pending"
        assert waiting(name, "main")["reason"] == "ContainerCreating"
        assert not (node_tmp / "missing").exists(), "a typed hostPath is never created"
    finally:
        delete_pod(name)


# ---------------------------------------------------------------------------------------- configMap

def test_config_map_volume_keys_items_modes_binary_data_and_optional():
    name, cm = unique("vol-cm"), unique("cm")
    binary = bytes([0, 1, 2, 255, 254, 10, 13])
    configmap(cm, {"alpha": "first value\n", "beta": "second"}, {"blob": binary})
    volumes = [
        {"name": "all", "configMap": {"name": cm, "defaultMode": 0o400}},
        {"name": "items", "configMap": {"name": cm, "items": [
            {"key": "alpha", "path": "nested/dir/a.txt", "mode": 0o600},
            {"key": "blob", "path": "b.bin"}]}},
        {"name": "optmissing", "configMap": {"name": unique("absent"), "optional": True}},
        {"name": "optkey", "configMap": {"name": cm, "optional": True, "items": [
            {"key": "beta", "path": "beta"}, {"key": "no-such-key", "path": "nothing"}]}},
    ]
    script = (SHOW + "{ show /all/alpha /all/beta /all/blob /items/nested/dir/a.txt /items/b.bin /optkey/beta; "
              "echo \"LSALL $(ls -A /all | tr '\\n' ' ')\"; "
              "echo \"LSITEMS $(ls -A /items | tr '\\n' ' ')\"; "
              "echo \"LSOPT $(ls -A /optmissing | grep -v '^\\.\\.' | tr '\\n' ' ')\"; "
              "echo \"LSOPTKEY $(ls -A /optkey | grep -v '^\\.\\.' | tr '\\n' ' ')\"; "
              "echo \"LINK $(readlink /all/alpha)\"; echo \"DATA $(readlink /all/..data)\"; "
              "echo \"NESTED $(readlink /items/nested) $(stat -c %F /items/..data/nested/dir)\"; "
              "echo \"FSTYPE $(stat -f -c %T /all)\"; "
              "touch /all/new 2>&1 | head -n 1 | sed 's/^/WRITE /'; "
              "} > /dev/termination-log")
    try:
        _, messages = run(pod(name, [ctr("main", script, [mnt(v["name"], "/" + v["name"]) for v in volumes])],
                              volumes))
        msg = messages["main"]
        files = shown(msg)
        assert files["/all/alpha"] == ("400", b"first value\n")
        assert files["/all/beta"] == ("400", b"second")
        assert files["/all/blob"] == ("400", binary), "binaryData is written as bytes"
        assert files["/items/nested/dir/a.txt"] == ("600", b"first value\n"), "per-item mode"
        assert files["/items/b.bin"] == ("644", binary), "default defaultMode 0644"
        assert files["/optkey/beta"] == ("644", b"second")
        # The atomic writer: ..data -> ..<timestamp>, every visible name a symlink into ..data.
        all_names = tagged(msg, "LSALL").split()
        data_dir = tagged(msg, "DATA")
        assert re.fullmatch(r"\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+", data_dir), data_dir
        assert sorted(all_names) == sorted([data_dir, "..data", "alpha", "beta", "blob"])
        assert tagged(msg, "LINK") == "..data/alpha"
        assert sorted(n for n in tagged(msg, "LSITEMS").split() if not n.startswith("..")) == ["b.bin", "nested"]
        assert tagged(msg, "NESTED") == "..data/nested directory", "only the top of a nested path is a link"
        assert tagged(msg, "LSOPT") == "", "an optional missing configMap gives an empty volume"
        assert tagged(msg, "LSOPTKEY").split() == ["beta"], "an optional missing key is skipped"
        assert tagged(msg, "FSTYPE") != "tmpfs", "configMap volumes are on disk"
        assert "Read-only file system" in tagged(msg, "WRITE"), "configMap volumes are mounted read-only"
    finally:
        delete_pod(name)
        delete("configmap", cm)


def test_missing_config_map_volume_fails_the_mount_until_it_is_created():
    name, cm = unique("vol-cmwait"), unique("cm-late")
    try:
        create(pod(name, [ctr("main", "cat /cfg/key > /dev/termination-log", [mnt("cfg", "/cfg")])],
                   [{"name": "cfg", "configMap": {"name": cm}}]))
        event = wait_until("FailedMount", lambda: event_with(
            name, "FailedMount", f'MountVolume.SetUp failed for volume "cfg" : configmap "{cm}" not found'),
            timeout=90)
        assert event["type"] == "Warning"
        assert phase(name) == "Pending"
        assert waiting(name, "main")["reason"] == "ContainerCreating"
        configmap(cm, {"key": "now here"})
        p = wait_until("pod finished once the configMap exists", lambda: finished(name), timeout=180)
        assert messages_of(p)["main"] == "now here"
    finally:
        delete_pod(name)
        delete("configmap", cm)


def test_config_map_update_reaches_a_running_pod_within_two_minutes():
    name, cm = unique("vol-cmupd"), unique("cm-upd")
    configmap(cm, {"value": "one"})
    script = ("while [ \"$(cat /cfg/value)\" = one ]; do sleep 1; done; "
              "echo \"$(cat /cfg/value) $(date +%s)\" > /dev/termination-log")
    try:
        create(pod(name, [ctr("main", script, [mnt("cfg", "/cfg")])], [{"name": "cfg", "configMap": {"name": cm}}]))
        wait_until("pod Running", lambda: running(name), timeout=90)
        changed_at = time.time()
        kubectl("patch", "configmap", "-n", NS, cm, "--type=merge", "-p", json.dumps({"data": {"value": "two"}}))
        p = wait_until("the pod sees the new value", lambda: finished(name), timeout=150)
        value, seen_at = messages_of(p)["main"].split()
        assert value == "two"
        assert int(seen_at) - changed_at <= 120, "the edit reached the pod's file within two minutes"
    finally:
        delete_pod(name)
        delete("configmap", cm)


# ---------------------------------------------------------------------------------------- secret

def test_secret_volume_contents_modes_items_optional_on_tmpfs():
    name, sec = unique("vol-sec"), unique("sec")
    raw = bytes([0x00, 0xff, 0x10]) + b"binary"
    secret(sec, {"username": "admin", "password": raw})
    volumes = [
        {"name": "all", "secret": {"secretName": sec, "defaultMode": 0o400}},
        {"name": "items", "secret": {"secretName": sec, "items": [
            {"key": "password", "path": "creds/pw", "mode": 0o600}]}},
        {"name": "opt", "secret": {"secretName": unique("absent"), "optional": True}},
    ]
    script = (SHOW + "{ show /all/username /all/password /items/creds/pw; "
              "echo \"LSITEMS $(ls -A /items | grep -v '^\\.\\.' | tr '\\n' ' ')\"; "
              "echo \"LSOPT $(ls -A /opt | grep -v '^\\.\\.' | tr '\\n' ' ')\"; "
              "echo \"FSTYPE $(stat -f -c %T /all) $(stat -f -c %T /items) $(stat -f -c %T /opt)\"; "
              "echo \"MOUNT $(grep ' /all ' /proc/mounts)\"; "
              "} > /dev/termination-log")
    try:
        p, messages = run(pod(name, [ctr("main", script, [mnt(v["name"], "/" + v["name"]) for v in volumes])],
                              volumes))
        msg = messages["main"]
        files = shown(msg)
        assert files["/all/username"] == ("400", b"admin")
        assert files["/all/password"] == ("400", raw)
        assert files["/items/creds/pw"] == ("600", raw)
        assert tagged(msg, "LSITEMS").split() == ["creds"]
        assert tagged(msg, "LSOPT") == ""
        assert tagged(msg, "FSTYPE").split() == ["tmpfs"] * 3, "secret data only ever sits on tmpfs"
        mount = tagged(msg, "MOUNT").split()
        assert mount[2] == "tmpfs" and "ro" in mount[3].split(","), mount
    finally:
        delete_pod(name)
        delete("secret", sec)


# ---------------------------------------------------------------------------------------- downwardAPI

def format_map(m):
    """Labels or annotations as the downward API writes them: sorted key="value" lines, no final newline."""
    return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(m.items()))


def test_downward_api_volume_fields_resources_and_label_updates():
    name = unique("vol-dw")
    labels = {"app": "volumes", "tier": "e2e"}
    annotations = {"note": 'says "hi"', "other": "x"}
    items = [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}},
        {"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "meta/annotations", "fieldRef": {"fieldPath": "metadata.annotations"}, "mode": 0o600},
        {"path": "tier", "fieldRef": {"fieldPath": "metadata.labels['tier']"}},
        {"path": "cpu_limit", "resourceFieldRef": {"containerName": "main", "resource": "limits.cpu",
                                                    "divisor": "1m"}},
        {"path": "mem_limit", "resourceFieldRef": {"containerName": "main", "resource": "limits.memory"}},
    ]
    files = " ".join("/dw/" + i["path"] for i in items)
    script = (SHOW + f"show {files} > /tmp/report; "
              "echo \"FSTYPE $(stat -f -c %T /dw)\" >> /tmp/report; "
              "l0=$(cat /dw/labels); while [ \"$(cat /dw/labels)\" = \"$l0\" ]; do sleep 1; done; "
              "{ cat /tmp/report; echo \"NEW $(cat /dw/labels | base64 | tr -d '\\n')\"; } > /dev/termination-log")
    resources = {"limits": {"cpu": "250m", "memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}}
    try:
        create(pod(name, [ctr("main", script, [mnt("dw", "/dw")], resources=resources)],
                   [{"name": "dw", "downwardAPI": {"items": items}}], labels=labels, annotations=annotations))
        p = wait_until("pod Running", lambda: running(name), timeout=90)
        kubectl("label", "pod", "-n", NS, name, "added=later")
        p = wait_until("the label update reaches the file", lambda: finished(name), timeout=150)
        msg = messages_of(p)["main"]
        got = shown(msg)
        meta = p["metadata"]
        assert got["/dw/name"] == ("644", name.encode())
        assert got["/dw/namespace"] == ("644", NS.encode())
        assert got["/dw/uid"] == ("644", meta["uid"].encode())
        assert got["/dw/labels"] == ("644", format_map(labels).encode())
        # The upstream kubelet's own copy of the pod carries kubernetes.io/config.seen and
        # kubernetes.io/config.source annotations, and the downward API shows them too.
        mode, text = got["/dw/meta/annotations"]
        assert mode == "600"
        lines = text.decode().split("\n")
        assert lines == sorted(lines) and not text.endswith(b"\n")
        assert [line for line in lines if not line.startswith("kubernetes.io/config.")] == \
            format_map(annotations).split("\n")
        assert got["/dw/tier"] == ("644", b"e2e")
        assert got["/dw/cpu_limit"] == ("644", b"250")
        assert got["/dw/mem_limit"] == ("644", str(64 * 1024 * 1024).encode())
        assert tagged(msg, "FSTYPE") == "tmpfs"
        assert base64.b64decode(tagged(msg, "NEW")) == format_map({**labels, "added": "later"}).encode()
    finally:
        delete_pod(name)


# ---------------------------------------------------------------------------------------- projected

def test_projected_volume_merges_config_map_secret_downward_api_and_a_token():
    name, cm, sec = unique("vol-proj"), unique("cm"), unique("sec")
    configmap(cm, {"color": "blue", "unused": "no"})
    secret(sec, {"password": "hunter2"})
    volume = {"name": "all", "projected": {"defaultMode": 0o440, "sources": [
        {"configMap": {"name": cm, "items": [{"key": "color", "path": "config/color"}]}},
        {"secret": {"name": sec, "items": [{"key": "password", "path": "secret/password", "mode": 0o400}]}},
        {"downwardAPI": {"items": [{"path": "pod/name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"serviceAccountToken": {"path": "token", "audience": "e2e-audience", "expirationSeconds": 600}},
    ]}}
    script = (SHOW + "{ show /all/config/color /all/secret/password /all/pod/name; "
              "echo \"MODE $(stat -L -c %a /all/token)\"; "
              "echo \"LS $(ls -A /all | grep -v '^\\.\\.' | tr '\\n' ' ')\"; "
              "echo \"FSTYPE $(stat -f -c %T /all)\"; "
              "echo \"TOKEN $(cat /all/token)\"; } > /dev/termination-log")
    try:
        p, messages = run(pod(name, [ctr("main", script, [mnt("all", "/all")])], [volume]))
        msg = messages["main"]
        files = shown(msg)
        assert files["/all/config/color"] == ("440", b"blue")
        assert files["/all/secret/password"] == ("400", b"hunter2")
        assert files["/all/pod/name"] == ("440", name.encode())
        assert tagged(msg, "MODE") == "440", "the token file takes the volume's defaultMode"
        assert sorted(tagged(msg, "LS").split()) == ["config", "pod", "secret", "token"]
        assert tagged(msg, "FSTYPE") == "tmpfs"
        claims = jwt_claims(tagged(msg, "TOKEN"))
        assert claims["aud"] == ["e2e-audience"]
        assert claims["exp"] - claims["iat"] == 600
        assert claims["sub"] == f"system:serviceaccount:{NS}:default"
        assert claims["kubernetes.io"]["pod"] == {"name": name, "uid": p["metadata"]["uid"]}
    finally:
        delete_pod(name)
        delete("configmap", cm)
        delete("secret", sec)


def self_subject_review(token, ca_pem, tmp):
    """(HTTP status, body) of a SelfSubjectReview POSTed with the bearer token, from inside the
    cluster's network namespace, verifying the apiserver against ca_pem. (busybox's wget cannot
    do it from a pod: its built-in TLS client fails the handshake with this Go-built apiserver,
    alert 40, apparently for want of a non-SHA-1 signature algorithm, which Go 1.25+ requires.)"""
    ca = tmp / "ca.crt"
    ca.write_text(ca_pem)
    # HTTP/1.1: over HTTP/2 the Go apiserver may reset the stream of a rejected request whose body
    # it did not read, which curl reports as a partial transfer (exit 18) after the status line.
    p = in_netns("curl", "-sS", "--http1.1", "--max-time", "20", "--cacert", str(ca), "-o", "-", "-w", "\n%{http_code}",
                 "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                 "--data", json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
                 f"{APISERVER}/apis/authentication.k8s.io/v1/selfsubjectreviews")
    body, _, status = p.stdout.rpartition("\n")
    # A transfer cut short after a complete status (exit 18) still says what the apiserver answered.
    assert p.returncode == 0 or (p.returncode == 18 and status.isdigit() and status != "000"), p.stderr
    return int(status), body


# A container that calls the apiserver's /healthz every second for 5 s with client-go's in-cluster
# configuration (agnhost inclusterclient: the token and ca.crt under SA_DIR, the address from the
# env, as there is no kube-proxy) and reports "CALLS <calls> <failed calls> <first error>". A bad
# token makes every call fail with 401 (client-go: "the server has asked for the client to provide
# credentials").
IN_CLUSTER_ENV = [{"name": "KUBERNETES_SERVICE_HOST", "value": NODE_IP},
                  {"name": "KUBERNETES_SERVICE_PORT", "value": cluster_setting("APISERVER_PORT")}]
IN_CLUSTER_CALL = ("timeout 5 /agnhost inclusterclient --poll-interval 1 > /tmp/calls 2>&1; "
                   "echo \"CALLS $(grep -c 'calling /healthz' /tmp/calls) $(grep -c 'status=failed' /tmp/calls) "
                   "$(grep -m 1 'error checking' /tmp/calls | cut -c 1-300)\" >> /dev/termination-log")


def test_default_kube_api_access_token_is_accepted_by_the_apiserver(node_tmp):
    name = unique("vol-sa")
    d = SA_DIR
    script = ("{ echo \"LS $(ls -A " + d + " | grep -v '^\\.\\.' | tr '\\n' ' ')\"; "
              f"echo \"MODES $(stat -L -c %a {d}/token {d}/ca.crt {d}/namespace | tr '\\n' ' ')\"; "
              f"echo \"NS $(cat {d}/namespace)\"; "
              f"echo \"CA $(md5sum {d}/ca.crt | cut -d' ' -f1)\"; "
              f"echo \"FSTYPE $(stat -f -c %T {d})\"; "
              f"echo \"TOKEN $(cat {d}/token)\"; }} > /dev/termination-log; " + IN_CLUSTER_CALL)
    # The second container sees a garbage token (and the real ca.crt) at the same path.
    bad = ctr("bad", IN_CLUSTER_CALL, [mnt("fake", d)], image=AGNHOST, env=IN_CLUSTER_ENV)
    init = ctr("init", f"cp {d}/ca.crt /fake/ca.crt && printf garbage.not.atoken > /fake/token", [mnt("fake", "/fake")])
    try:
        p, messages = run(pod(name, [ctr("main", script, image=AGNHOST, env=IN_CLUSTER_ENV), bad],
                              [{"name": "fake", "emptyDir": {}}], init=[init]))
        msg = messages["main"]
        # The pod itself called the apiserver (client-go's in-cluster config: this token, this ca.crt).
        calls, failed, _ = tagged(msg, "CALLS").split(" ", 2)
        assert int(calls) >= 2 and failed == "0", tagged(msg, "CALLS")
        calls, failed, error = tagged(messages["bad"], "CALLS").split(" ", 2)
        assert int(calls) >= 2 and int(failed) == int(calls) and \
            "the server has asked for the client to provide credentials" in error, messages["bad"]  # 401
        uid = p["metadata"]["uid"]
        volumes = [v for v in p["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
        assert len(volumes) == 1, "the apiserver adds the kube-api-access volume"
        assert tagged(msg, "LS").split() == ["ca.crt", "namespace", "token"]
        assert tagged(msg, "MODES").split() == ["644", "644", "644"]
        assert tagged(msg, "NS") == NS
        root_ca = kubectl_json("get", "configmap", "-n", NS, "kube-root-ca.crt")["data"]["ca.crt"]
        assert tagged(msg, "CA") == hashlib.md5(root_ca.encode()).hexdigest()
        assert tagged(msg, "FSTYPE") == "tmpfs"
        token = tagged(msg, "TOKEN")
        claims = jwt_claims(token)
        assert claims["sub"] == f"system:serviceaccount:{NS}:default"
        assert claims["kubernetes.io"]["namespace"] == NS
        assert claims["kubernetes.io"]["pod"] == {"name": name, "uid": uid}
        assert claims["kubernetes.io"]["serviceaccount"]["name"] == "default"
        assert claims["kubernetes.io"]["node"]["name"] == NODE_NAME
        # The apiserver accepts the token (verified with the pod's own ca.crt) and names the pod.
        status, body = self_subject_review(token, root_ca, node_tmp)
        assert status == 201, body
        user = json.loads(body)["status"]["userInfo"]
        assert user["username"] == f"system:serviceaccount:{NS}:default"
        assert user["extra"]["authentication.kubernetes.io/pod-name"] == [name]
        assert user["extra"]["authentication.kubernetes.io/pod-uid"] == [uid]
        status, body = self_subject_review("garbage." + token.split(".", 1)[1], root_ca, node_tmp)
        assert status == 401, body
    finally:
        delete_pod(name)


# ---------------------------------------------------------------------------------------- fsGroup, readOnly

def test_fs_group_owns_volume_files_and_read_only_mounts_refuse_writes():
    name, cm = unique("vol-fsg"), unique("cm")
    configmap(cm, {"key": "value"})
    script = ("{ echo \"ED $(stat -c '%g %a' /ed)\"; echo \"EDFILE $(stat -c '%g' /ed/from-init)\"; "
              "echo \"CM $(stat -L -c '%g %a' /cm/key) $(stat -c '%g %a' /cm)\"; "
              f"echo \"TOKEN $(stat -L -c '%g %a' {SA_DIR}/token)\"; "
              "echo \"GROUPS $(id -G)\"; "
              "echo \"RO $(echo x 2>&1 > /ro/file)\"; "
              "echo \"CMRO $(echo x 2>&1 > /cm/file)\"; } > /dev/termination-log")
    try:
        _, messages = run(pod(
            name, [ctr("main", script, [mnt("ed", "/ed"), mnt("cm", "/cm"), mnt("ed", "/ro", readOnly=True)])],
            [{"name": "ed", "emptyDir": {}}, {"name": "cm", "configMap": {"name": cm}}],
            init=[ctr("init", "echo hi > /ed/from-init", [mnt("ed", "/ed")])],
            spec={"securityContext": {"fsGroup": 2345, "fsGroupChangePolicy": "OnRootMismatch"}}))
        msg = messages["main"]
        assert tagged(msg, "ED") == "2345 2777", "emptyDir: group fsGroup, setgid"
        assert tagged(msg, "EDFILE") == "2345", "files made in it inherit the group"
        assert tagged(msg, "CM").split() == ["2345", "644", "2345", "2777"], "configMap: file, then volume root"
        assert tagged(msg, "TOKEN") == "2345 640", "with fsGroup the token is written 0600, then gets group read"
        assert "2345" in tagged(msg, "GROUPS").split()
        assert "Read-only file system" in tagged(msg, "RO")
        assert "Read-only file system" in tagged(msg, "CMRO")
    finally:
        delete_pod(name)
        delete("configmap", cm)


# ---------------------------------------------------------------------------------------- mountPropagation

def test_host_to_container_propagation_shows_a_later_node_mount():
    name = unique("vol-h2c")
    script = ("mkdir -p /vol/sub; while [ ! -e /vol/sub/hello ]; do sleep 0.2; done; "
              "{ cat /vol/sub/hello; grep ' /vol/sub ' /proc/mounts; } > /dev/termination-log")
    target = None
    try:
        create(pod(name, [ctr("main", script, [mnt("vol", "/vol", mountPropagation="HostToContainer")])],
                   [{"name": "vol", "emptyDir": {}}]))
        p = wait_until("pod Running", lambda: running(name), timeout=90)
        target = empty_dir_path(p["metadata"]["uid"], "vol") / "sub"
        wait_until("the container made its dir", target.is_dir, timeout=30)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "e2e-h2c", str(target)], check=True)
        (target / "hello").write_text("from the node\n")
        p = wait_until("pod finished", lambda: finished(name), timeout=60)
        lines = messages_of(p)["main"].splitlines()
        assert lines[0] == "from the node"
        assert lines[1].startswith("e2e-h2c /vol/sub tmpfs"), lines
    finally:
        if target is not None and node_mounts(f" {target} "):
            subprocess.run(["umount", "-l", str(target)], check=False)
        delete_pod(name)


def test_bidirectional_propagation_shows_a_container_mount_on_the_node():
    name = unique("vol-bidi")
    script = ("mkdir -p /vol/m && mount -t tmpfs -o size=1m e2e-bidi /vol/m && echo inside > /vol/m/f && "
              "touch /vol/mounted; while [ ! -e /vol/done ]; do sleep 0.2; done; umount /vol/m; "
              "echo unmounted > /dev/termination-log")
    host = None
    try:
        create(pod(name, [ctr("main", script, [mnt("vol", "/vol", mountPropagation="Bidirectional")],
                              securityContext={"privileged": True})],
                   [{"name": "vol", "emptyDir": {}}]))
        p = wait_until("pod Running", lambda: running(name), timeout=90)
        host = empty_dir_path(p["metadata"]["uid"], "vol")
        wait_until("the container mounted", lambda: (host / "mounted").exists(), timeout=30)
        lines = node_mounts(f" {host}/m ")
        assert lines and "e2e-bidi" in lines[0], "the container's mount propagated to the node"
        assert (host / "m" / "f").read_text() == "inside\n"
        (host / "done").touch()
        p = wait_until("pod finished", lambda: finished(name), timeout=60)
        assert messages_of(p)["main"] == "unmounted\n"
        wait_until("the unmount propagated back", lambda: not node_mounts(f" {host}/m "), timeout=10)
    finally:
        if host is not None and node_mounts(f" {host}/m "):
            subprocess.run(["umount", "-l", str(host / "m")], check=False)
        delete_pod(name)


def test_bidirectional_propagation_needs_a_privileged_container():
    name = unique("vol-bidi-np")
    manifest = pod(name, [ctr("main", "true", [mnt("vol", "/vol", mountPropagation="Bidirectional")])],
                   [{"name": "vol", "emptyDir": {}}])
    p = subprocess.run([str(HACK / "kubectl.sh"), "create", "-f", "-"], input=json.dumps(manifest),
                       capture_output=True, text=True, timeout=60)
    try:
        assert p.returncode != 0
        assert "Bidirectional mount propagation is available only to privileged containers" in p.stderr, p.stderr
    finally:
        delete_pod(name)


# ---------------------------------------------------------------------------------------- subPath

def test_sub_path_and_sub_path_expr_mount_parts_of_volumes():
    name, cm = unique("vol-sub"), unique("cm")
    configmap(cm, {"app.conf": "setting=1\n"})
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    init = ("mkdir -p /ed/sub /ed/$POD_NAME && echo in-sub > /ed/sub/f && echo in-expr > /ed/$POD_NAME/g && "
            "echo top > /ed/top")
    script = ("{ echo \"SUB $(cat /s/f) $(ls /s | tr '\\n' ' ')\"; echo \"EXPR $(cat /e/g)\"; "
              "echo \"CONF $(cat /etc/app.conf) $(stat -c %F /etc/app.conf)\"; "
              "echo \"NEW $(stat -c '%F %a' /n)\"; echo written > /s/from-app; } > /dev/termination-log")
    try:
        p, messages = run(pod(
            name, [ctr("main", script, [mnt("ed", "/s", subPath="sub"), mnt("ed", "/e", subPathExpr="$(POD_NAME)"),
                                        mnt("cm", "/etc/app.conf", subPath="app.conf"),
                                        mnt("ed", "/n", subPath="created/by/agent")], env=env),
                   ctr("check", "while [ ! -e /ed/sub/from-app ]; do sleep 0.2; done; "
                                "ls -A /ed/created/by > /dev/termination-log", [mnt("ed", "/ed")])],
            [{"name": "ed", "emptyDir": {}}, {"name": "cm", "configMap": {"name": cm}}],
            init=[ctr("init", init, [mnt("ed", "/ed")], env=env)]))
        msg = messages["main"]
        assert tagged(msg, "SUB").split() == ["in-sub", "f"], "only the subdirectory is visible"
        assert tagged(msg, "EXPR") == "in-expr"
        assert tagged(msg, "CONF") == "setting=1 regular file", "a configMap key mounted as a file"
        assert tagged(msg, "NEW") == "directory 777", "a missing subPath is made with the volume root's mode"
        assert messages["check"] == "agent\n", "writes through the subPath land in the volume"
    finally:
        delete_pod(name)
        delete("configmap", cm)


def test_sub_path_symlink_escapes_are_refused_and_the_host_is_untouched(node_tmp):
    name = unique("vol-subesc")
    victim = node_tmp / "victim"
    victim.write_text("untouched\n")
    up = "../" * 20
    init = ("ln -s / /ed/escape && ln -s /etc /ed/etc2 && mkdir -p /ed/a/b && "
            f"ln -s {up}etc /ed/a/b/rel && ln -s {victim} /ed/victim")
    attempts = {"escape": "escape", "etc2": "etc2", "rel": "a/b/rel", "victim": "victim"}
    # Nothing but the test's own victim file is ever written to, should an escape succeed.
    containers = [ctr(c, "echo pwned > /target" if c == "victim" else "ls /target > /dev/termination-log",
                      [mnt("ed", "/target", subPath=sub)]) for c, sub in attempts.items()]
    try:
        create(pod(name, containers, [{"name": "ed", "emptyDir": {}}],
                   init=[ctr("init", init, [mnt("ed", "/ed")])]))
        for c in attempts:
            w = wait_until(f"{c}: CreateContainerConfigError",
                           lambda: waiting_reason(name, c, "CreateContainerConfigError"), timeout=90)
            assert f'failed to prepare subPath for volumeMount "ed" of container "{c}"' in w["message"], w
        p = get_pod(name)
        assert p["status"]["phase"] == "Pending"
        assert all("running" not in s["state"] and "terminated" not in s["state"]
                   for c, s in statuses(p).items() if c != "init"), "no attempt ever started"
        assert victim.read_text() == "untouched\n"
        assert not node_mounts(str(victim)), "the host file was never bind-mounted"
        uid = p["metadata"]["uid"]
        assert not node_mounts(f"{uid}/volume-subpaths"), "no subPath bind mount was made for the pod"
    finally:
        delete_pod(name)


# ---------------------------------------------------------------------------------------- env

def test_env_from_config_maps_and_secrets_waits_for_a_missing_required_config_map():
    name, cm, sec, late = unique("vol-env"), unique("cm"), unique("sec"), unique("cm-late")
    configmap(cm, {"COLOR": "blue", "SIZE": "large"})
    secret(sec, {"token": "s3cret", "USER": "admin"})
    env = [
        {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "COLOR"}}},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": sec, "key": "token"}}},
        {"name": "OPT_KEY", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "nope", "optional": True}}},
        {"name": "LATE", "valueFrom": {"configMapKeyRef": {"name": late, "key": "k"}}},
    ]
    env_from = [{"configMapRef": {"name": cm}, "prefix": "CFG_"}, {"secretRef": {"name": sec}},
                {"configMapRef": {"name": unique("absent"), "optional": True}, "prefix": "OPT_"}]
    script = ("printf '%s|' \"$FROM_CM\" \"$FROM_SECRET\" \"${OPT_KEY-unset}\" \"$LATE\" \"$CFG_COLOR\" "
              "\"$CFG_SIZE\" \"$USER\" \"$token\" > /dev/termination-log")
    try:
        create(pod(name, [ctr("main", script, env=env, envFrom=env_from)]))
        w = wait_until("CreateContainerConfigError",
                       lambda: waiting_reason(name, "main", "CreateContainerConfigError"), timeout=90)
        assert f'configmap "{late}" not found' in w["message"], w
        assert phase(name) == "Pending"
        configmap(late, {"k": "arrived"})
        p = wait_until("pod finished once the configMap exists", lambda: finished(name), timeout=120)
        assert messages_of(p)["main"].split("|")[:-1] == [
            "blue", "s3cret", "unset", "arrived", "blue", "large", "admin", "s3cret"]
    finally:
        delete_pod(name)
        delete("configmap", cm, late)
        delete("secret", sec)


# ---------------------------------------------------------------------------------------- cleanup

def test_deleting_a_pod_leaves_no_mounts_and_no_pod_directory():
    name, cm, sec = unique("vol-clean"), unique("cm"), unique("sec")
    configmap(cm, {"a": "1"})
    secret(sec, {"b": "2"})
    volumes = [
        {"name": "disk", "emptyDir": {}},
        {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {"name": "sec", "secret": {"secretName": sec}},
        {"name": "cm", "configMap": {"name": cm}},
        {"name": "proj", "projected": {"sources": [{"configMap": {"name": cm}}, {"secret": {"name": sec}}]}},
    ]
    mounts = [mnt(v["name"], "/" + v["name"]) for v in volumes] + [
        mnt("disk", "/sub", subPath="sub"), mnt("cm", "/etc/a", subPath="a"), mnt("mem", "/memsub", subPath="m")]
    try:
        create(pod(name, [ctr("main", "sleep 3600", mounts)], volumes))
        p = wait_until("pod Running", lambda: running(name), timeout=90)
        uid = p["metadata"]["uid"]
        assert pod_dir(uid).is_dir()
        # tmpfs for mem, sec, proj and kube-api-access; binds for the three subPaths.
        assert len(node_mounts(uid)) >= 7, node_mounts(uid)
        delete_and_expect_nothing_left(name, uid)
    finally:
        delete_pod(name)
        delete("configmap", cm)
        delete("secret", sec)
