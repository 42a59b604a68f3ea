"""The node registers and reports what the machine really has, the way a kubelet does."""

import datetime
import os
import platform
import subprocess

from conftest import (NODE_NAME, agent_binary, condition, get_node, in_netns, kubectl_json,
                      node_ready, wait_until)

NODE_IP = "10.99.0.2"


def parse_quantity(q):
    """Enough of resource.Quantity for the values nodes report."""
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9,
                "m": 1e-3}
    for s in sorted(suffixes, key=len, reverse=True):
        if q.endswith(s):
            return float(q[: -len(s)]) * suffixes[s]
    return float(q)


def test_node_is_ready_with_upstream_conditions():
    node = wait_until("node Ready", lambda: node_ready() and get_node())
    expected = {
        "MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
    }
    for ctype, (status, reason, message) in expected.items():
        c = condition(node, ctype)
        assert c is not None, f"condition {ctype} missing"
        assert (c["status"], c["reason"]) == (status, reason), c
        assert c["message"].startswith(message), c
        assert c["lastHeartbeatTime"] >= c["lastTransitionTime"], c


def test_labels_annotations_and_taints():
    node = get_node()
    labels = node["metadata"]["labels"]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    assert labels["kubernetes.io/hostname"] == NODE_NAME
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"] == arch
    assert labels["beta.kubernetes.io/os"] == "linux"
    assert labels["beta.kubernetes.io/arch"] == arch
    # From --node-labels in hack/up.sh.
    assert labels["node.kubernetes.io/local-dev"] == "true"
    assert node["metadata"]["annotations"]["volumes.kubernetes.io/controller-managed-attach-detach"] == "true"
    # Ready nodes lose the not-ready taint the node lifecycle controller puts on new nodes.
    wait_until("no not-ready taint", lambda: all(
        t["key"] != "node.kubernetes.io/not-ready" for t in get_node()["spec"].get("taints", [])), timeout=60)


def test_capacity_matches_the_machine():
    status = get_node()["status"]
    cap, alloc = status["capacity"], status["allocatable"]
    for r in ("cpu", "memory", "pods", "ephemeral-storage", "hugepages-2Mi", "hugepages-1Gi"):
        assert r in cap, f"capacity lacks {r}: {cap}"
        assert r in alloc, f"allocatable lacks {r}: {alloc}"
        assert parse_quantity(alloc[r]) <= parse_quantity(cap[r]), (r, alloc[r], cap[r])
    assert parse_quantity(cap["cpu"]) == os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    assert cap["memory"] == f"{mem_kib}Ki"
    assert cap["pods"] == "110"
    # memory.available hard eviction threshold is 100Mi in the cluster's config.
    assert parse_quantity(cap["memory"]) - parse_quantity(alloc["memory"]) == 100 * 2**20
    st = os.statvfs("/var/lib")
    assert abs(parse_quantity(cap["ephemeral-storage"]) - st.f_blocks * st.f_frsize) < 2**30


def test_addresses_endpoints_and_node_info():
    status = get_node()["status"]
    addrs = {(a["type"], a["address"]) for a in status["addresses"]}
    assert ("InternalIP", NODE_IP) in addrs
    assert ("Hostname", NODE_NAME) in addrs
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    info = status["nodeInfo"]
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert info["bootID"] == f.read().strip()
    assert info["kernelVersion"] == platform.release()
    with open("/etc/machine-id") as f:
        assert info["machineID"] == f.read().strip()
    assert info["systemUUID"]
    assert info["osImage"].startswith("Debian GNU/Linux")
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert info["operatingSystem"] == "linux"
    version = subprocess.run([agent_binary(), "--version"], capture_output=True, text=True).stdout.split()[-1]
    assert info["kubeletVersion"] == version == "v1.37.2"


def test_status_heartbeat_and_lease_renewal():
    lease = kubectl_json("get", "lease", "-n", "kube-node-lease", NODE_NAME)
    node = get_node()
    spec = lease["spec"]
    assert spec["holderIdentity"] == NODE_NAME
    assert spec["leaseDurationSeconds"] == 40
    owners = lease["metadata"].get("ownerReferences", [])
    assert owners and owners[0]["kind"] == "Node" and owners[0]["name"] == NODE_NAME
    assert owners[0]["uid"] == node["metadata"]["uid"]
    first = spec["renewTime"]
    # Renewed every quarter of the lease duration (10s).
    renewed = wait_until("lease renewal", lambda: (
        kubectl_json("get", "lease", "-n", "kube-node-lease", NODE_NAME)["spec"]["renewTime"] > first and True),
        timeout=25)
    assert renewed
    t = datetime.datetime.fromisoformat(
        kubectl_json("get", "lease", "-n", "kube-node-lease", NODE_NAME)["spec"]["renewTime"].replace("Z", "+00:00"))
    assert abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) < 20


def test_healthz_answers_on_loopback():
    p = in_netns("curl", "-sS", "--max-time", "5", "http://127.0.0.1:10248/healthz")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok"
