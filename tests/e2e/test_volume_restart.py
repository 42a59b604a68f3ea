"""Volumes across a restart of the node agent: a running pod keeps its container, its tmpfs
and what it wrote there, and no volume is mounted twice; a pod deleted while the agent was down
leaves no mounts and no directory once it is back. In a file of its own because a restart
makes the agent request new service-account tokens: it runs before test_token_rotation.py's pod
starts, which a restart would rotate for the wrong reason."""
# e2e order: restarts node components (tests/e2e/e2e.cmake runs this file first)

import time

from conftest import STATE, cluster_up, delete_pod, kubectl, stop_component, unique, wait_until
from test_volumes import (NS, configmap, create, ctr, delete, delete_and_expect_nothing_left, empty_dir_path, mnt,
                          node_mounts, pod, pod_dir, running, statuses)


def test_agent_restart_keeps_running_pods_their_volumes_and_data():
    """The agent goes down and comes back: the pod keeps running in the same container, its
    tmpfs keeps what the container wrote (nothing mounted over it, nothing mounted twice), and
    the volumes still go with the pod afterwards."""
    name, cm = unique("vol-restart"), unique("cm")
    configmap(cm, {"k": "v"})
    volumes = [{"name": "mem", "emptyDir": {"medium": "Memory"}}, {"name": "cfg", "configMap": {"name": cm}}]
    script = "echo kept > /mem/data; exec sleep 3600"
    try:
        create(pod(name, [ctr("main", script, [mnt("mem", "/mem"), mnt("cfg", "/cfg")])], volumes))
        p = wait_until("pod Running", lambda: running(name), timeout=90)
        uid = p["metadata"]["uid"]
        before = statuses(p)["main"]["containerID"]
        data = empty_dir_path(uid, "mem") / "data"
        wait_until("the container wrote its file", lambda: data.exists(), timeout=30)
        mounts_before = sorted(line.split()[4] for line in node_mounts(uid))
        stop_component((STATE / "node-agent").read_text().strip())
        cluster_up()
        time.sleep(5)  # room for a wrongly restarting agent to do it
        after = statuses(wait_until("pod Running", lambda: running(name), timeout=60))["main"]
        assert after["containerID"] == before and after["restartCount"] == 0, after
        assert data.read_text() == "kept\n", "the tmpfs and its data are the same"
        assert sorted(line.split()[4] for line in node_mounts(uid)) == mounts_before
        delete_and_expect_nothing_left(name, uid)
    finally:
        delete_pod(name)
        delete("configmap", cm)


def test_a_pod_deleted_while_the_agent_is_down_leaves_no_mounts_or_directory():
    """The agent is down when its pod is force-deleted: once it is back it finds the pod's
    containers and volumes (a tmpfs among them) with no pod wanting them, and removes them all."""
    name = unique("vol-orphan")
    volumes = [{"name": "mem", "emptyDir": {"medium": "Memory"}}, {"name": "disk", "emptyDir": {}}]
    try:
        create(pod(name, [ctr("main", "exec sleep 3600", [mnt("mem", "/mem"), mnt("disk", "/disk")])], volumes))
        uid = wait_until("pod Running", lambda: running(name), timeout=90)["metadata"]["uid"]
        assert node_mounts(uid), "the pod has mounts to leave behind"
        stop_component((STATE / "node-agent").read_text().strip())
        kubectl("delete", "pod", "-n", NS, name, "--force", "--grace-period=0", "--wait=false", check=False)
        cluster_up()
        wait_until("no mount of the pod left", lambda: not node_mounts(uid), timeout=120)
        wait_until("no pod directory left", lambda: not pod_dir(uid).exists(), timeout=120)
    finally:
        delete_pod(name)
