"""Pod and container cgroups: the QoS tree (kubepods, kubepods/burstable, kubepods/besteffort,
then pod<uid>) holds the pod's limits, and each container's cgroup below it holds its own.
Read from the host's cgroup filesystem, as an operator would check it."""

from pathlib import Path

import pytest

from conftest import NODE_NAME, apply, kubectl, kubectl_json, wait_until

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"
CGROUP = Path("/sys/fs/cgroup")
V2 = (CGROUP / "cgroup.controllers").exists()


def pod_manifest(name, resources):
    container = {"name": "main", "image": BUSYBOX, "command": ["sleep", "3600"]}
    if resources:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [container], "automountServiceAccountToken": False, "nodeName": NODE_NAME,
                     "terminationGracePeriodSeconds": 1}}


def read(controller, rel, name):
    base = CGROUP if V2 else CGROUP / controller
    return (base / rel / name).read_text().strip()


def cpu_settings(rel):
    """(shares-or-weight, quota, period) of a cgroup; quota None when unlimited."""
    if V2:
        quota, period = read("cpu", rel, "cpu.max").split()
        return int(read("cpu", rel, "cpu.weight")), None if quota == "max" else int(quota), int(period)
    quota = int(read("cpu", rel, "cpu.cfs_quota_us"))
    return int(read("cpu", rel, "cpu.shares")), None if quota == -1 else quota, int(read("cpu", rel, "cpu.cfs_period_us"))


def memory_limit(rel):
    if V2:
        v = read("memory", rel, "memory.max")
        return None if v == "max" else int(v)
    v = int(read("memory", rel, "memory.limit_in_bytes"))
    return None if v >= 1 << 62 else v  # v1 writes "unlimited" as a page-rounded max int64


def shares(cpu_shares):
    """cpu.shares as v1 shows it, or the cpu.weight v2 derives from it."""
    return cpu_shares if not V2 else 1 + ((cpu_shares - 2) * 9999) // 262142


def running(name):
    pod = kubectl_json("get", "pod", "-n", NS, name)
    return pod if pod.get("status", {}).get("phase") == "Running" else None


@pytest.mark.parametrize("qos,qos_dir,resources,pod_cpu,pod_mem,ctr_cpu,ctr_mem", [
    ("Burstable", "kubepods/burstable",
     {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
     (102, 20000), 64 << 20, (102, 20000), 64 << 20),
    ("Guaranteed", "kubepods",
     {"requests": {"cpu": "250m", "memory": "48Mi"}, "limits": {"cpu": "250m", "memory": "48Mi"}},
     (256, 25000), 48 << 20, (256, 25000), 48 << 20),
    ("BestEffort", "kubepods/besteffort", None, (2, None), None, (2, None), None),
])
def test_pod_and_container_cgroups_hold_the_limits(qos, qos_dir, resources, pod_cpu, pod_mem, ctr_cpu, ctr_mem):
    name = f"cgroups-{qos.lower()}"
    kubectl("delete", "pod", "-n", NS, name, "--ignore-not-found", "--wait=true", timeout=120)
    apply(pod_manifest(name, resources))
    try:
        pod = wait_until(f"{name} Running", lambda: running(name), timeout=90)
        assert pod["status"]["qosClass"] == qos
        uid = pod["metadata"]["uid"]
        cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
        pod_rel = f"{qos_dir}/pod{uid}"
        ctr_rel = f"{pod_rel}/{cid}"
        s, quota, period = cpu_settings(pod_rel)
        assert (s, quota) == (shares(pod_cpu[0]), pod_cpu[1]), pod_rel
        assert memory_limit(pod_rel) == pod_mem
        s, quota, period = cpu_settings(ctr_rel)
        assert (s, quota) == (shares(ctr_cpu[0]), ctr_cpu[1]), ctr_rel
        if quota is not None:
            assert period == 100000
        assert memory_limit(ctr_rel) == ctr_mem
        # The container's main process lives in that cgroup.
        procs = read("memory", ctr_rel, "cgroup.procs").split()
        assert procs, ctr_rel
    finally:
        kubectl("delete", "pod", "-n", NS, name, "--ignore-not-found", "--wait=true", timeout=120)


def test_qos_cgroups_exist_with_their_shares():
    for rel in ("kubepods", "kubepods/burstable", "kubepods/besteffort"):
        assert (CGROUP / ("" if V2 else "memory") / rel).is_dir(), rel
    assert cpu_settings("kubepods/besteffort")[0] == shares(2)
