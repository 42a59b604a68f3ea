"""Pods run end to end through CRI: status as the upstream kubelet reports it, restart
policies, image errors, graceful deletion, and an agent restart that restarts nothing."""
# e2e order: restarts node components (tests/e2e/e2e.cmake runs this file first)

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from conftest import (NODE_NAME, STATE, apply, cluster_up, component_pid, delete_pod as delete, get_pod, kubectl,
                      kubectl_json, stop_component, unique, wait_until)

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"


def pod_manifest(name, command, restart="Always", image=BUSYBOX, grace=None, pull=None):
    container = {"name": "main", "image": image, "command": ["sh", "-c", command]}
    if pull:
        container["imagePullPolicy"] = pull
    spec = {"containers": [container], "restartPolicy": restart, "automountServiceAccountToken": False,
            "nodeName": NODE_NAME}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def container_status(pod):
    statuses = pod.get("status", {}).get("containerStatuses", [])
    return statuses[0] if statuses else {}


def phase_is(name, phase):
    pod = get_pod(name)
    return pod if pod.get("status", {}).get("phase") == phase else None


def test_sleeping_pod_runs_with_full_status():
    name = unique("sleeper")
    apply(pod_manifest(name, "sleep 3600"))
    try:
        pod = wait_until("pod Running", lambda: phase_is(name, "Running"), timeout=90)
        st = pod["status"]
        assert st["hostIP"] == "10.99.0.2"
        assert st["hostIPs"] == [{"ip": "10.99.0.2"}]
        assert st["podIP"].startswith("10.244.0."), st["podIP"]
        assert st["podIPs"][0]["ip"] == st["podIP"]
        assert st["qosClass"] == "BestEffort"
        assert st["startTime"]
        conds = {c["type"]: c for c in st["conditions"]}
        for ctype in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"):
            assert conds[ctype]["status"] == "True", (ctype, conds)
        cs = container_status(pod)
        assert cs["name"] == "main"
        assert "running" in cs["state"] and cs["state"]["running"]["startedAt"]
        assert cs["ready"] is True and cs["started"] is True
        assert cs["restartCount"] == 0
        assert cs["image"] == BUSYBOX
        assert cs["imageID"]
        assert cs["containerID"].startswith("containerd://")
    finally:
        delete(name)


@pytest.mark.parametrize("code,phase,reason", [(0, "Succeeded", "Completed"), (3, "Failed", "Error")])
def test_exit_with_never_ends_the_pod(code, phase, reason):
    name = unique(f"exit{code}")
    apply(pod_manifest(name, f"exit {code}", restart="Never"))
    try:
        pod = wait_until(f"pod {phase}", lambda: phase_is(name, phase), timeout=90)
        term = container_status(pod)["state"]["terminated"]
        assert term["exitCode"] == code
        assert term["reason"] == reason
        assert term["startedAt"] and term["finishedAt"]
        assert container_status(pod)["restartCount"] == 0
    finally:
        delete(name)


def test_on_failure_restarts_only_on_failure():
    ok, bad = unique("onfail-ok"), unique("onfail-bad")
    apply(pod_manifest(ok, "exit 0", restart="OnFailure"))
    apply(pod_manifest(bad, "exit 1", restart="OnFailure"))
    try:
        pod = wait_until("OnFailure pod with exit 0 Succeeded", lambda: phase_is(ok, "Succeeded"), timeout=90)
        assert container_status(pod)["restartCount"] == 0
        wait_until("OnFailure pod with exit 1 restarted", lambda: container_status(get_pod(bad)).get(
            "restartCount", 0) >= 1, timeout=90)
        assert get_pod(bad)["status"]["phase"] in ("Running", "Pending")
    finally:
        delete(ok)
        delete(bad)


def test_crash_loop_backs_off_with_last_state():
    name = unique("crash")
    apply(pod_manifest(name, "exit 1"))
    try:
        pod = get_pod(name)
        uid = pod["metadata"]["uid"]
        created = time.monotonic()
        # The back-off is announced as an event with the upstream wording.
        wait_until("BackOff event", lambda: [e for e in kubectl_json(
            "get", "events", "-n", NS, "--field-selector", f"involvedObject.name={name},reason=BackOff")["items"]
            if e["message"] == f"Back-off restarting failed container main in pod {name}_{NS}({uid})"], timeout=90)
        cs = wait_until("second restart", lambda: (lambda cs: cs if cs.get("restartCount", 0) >= 2 else None)(
            container_status(get_pod(name))), timeout=90)
        assert cs["lastState"]["terminated"]["exitCode"] == 1
        if "running" not in cs.get("state", {}):  # it may be caught in its brief run
            assert cs["ready"] is False
        waiting = cs.get("state", {}).get("waiting")
        if waiting:
            assert waiting["reason"] == "CrashLoopBackOff"
            assert waiting["message"].startswith("back-off ")
        # Growing back-off (10s, 20s, 40s ...): without it, a container that exits at once
        # would have restarted dozens of times by now.
        time.sleep(max(0.0, 45 - (time.monotonic() - created)))
        assert container_status(get_pod(name))["restartCount"] <= 4
    finally:
        delete(name)


def test_missing_image_is_err_image_pull_then_back_off():
    name = unique("noimage")
    apply(pod_manifest(name, "true", image="localhost:5000/does-not-exist:1"))
    try:
        def reason():
            w = container_status(get_pod(name)).get("state", {}).get("waiting", {})
            return w.get("reason") if w.get("reason") in ("ErrImagePull", "ImagePullBackOff") else None
        assert wait_until("image pull error", reason, timeout=90)
        wait_until("ImagePullBackOff", lambda: reason() == "ImagePullBackOff", timeout=90)
        assert get_pod(name)["status"]["phase"] == "Pending"
    finally:
        delete(name)


def test_never_pull_with_absent_image():
    name = unique("neverpull")
    apply(pod_manifest(name, "true", image="localhost:5000/absent-never:1", pull="Never"))
    try:
        w = wait_until("ErrImageNeverPull", lambda: (lambda w: w if w.get("reason") == "ErrImageNeverPull" else None)(
            container_status(get_pod(name)).get("state", {}).get("waiting", {})), timeout=90)
        assert "Never" in w.get("message", "")
    finally:
        delete(name)


def test_graceful_deletion_gives_the_grace_then_kills():
    name = unique("graceful")
    # Ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    apply(pod_manifest(name, "trap '' TERM; while true; do sleep 1; done", grace=5))
    wait_until("pod Running", lambda: phase_is(name, "Running"), timeout=90)
    start = time.monotonic()
    kubectl("delete", "pod", "-n", NS, name, "--wait=true", "--timeout=90s", timeout=120)
    took = time.monotonic() - start
    assert took >= 4, f"the pod was gone after {took:.1f}s, before its 5s grace period"
    assert kubectl("get", "pod", "-n", NS, name, "--ignore-not-found") == ""


def test_agent_restart_restarts_nothing():
    names = [unique("steady") for _ in range(5)]
    for n in names:
        apply(pod_manifest(n, "sleep 3600"))
    try:
        before = {}
        for n in names:
            pod = wait_until(f"{n} Running", lambda n=n: phase_is(n, "Running"), timeout=90)
            before[n] = container_status(pod)["containerID"]
        agent = open(STATE / "node-agent").read().strip()
        stop_component(agent)
        cluster_up()
        time.sleep(5)  # give a wrongly restarting agent the time to do it
        for n in names:
            cs = container_status(wait_until(f"{n} Running", lambda n=n: phase_is(n, "Running"), timeout=60))
            assert cs["containerID"] == before[n], n
            assert cs["restartCount"] == 0, n
    finally:
        for n in names:
            delete(n)


def test_killing_the_container_process_from_the_host_restarts_it():
    name = unique("hostkill")
    marker = f"cubelet-e2e-{uuid.uuid4().hex}"
    # The marker is the shell's $0, so the container's main process can be found on the host.
    apply({**pod_manifest(name, "while true; do sleep 1; done"), "spec": {
        **pod_manifest(name, "")["spec"],
        "containers": [{"name": "main", "image": BUSYBOX,
                        "command": ["sh", "-c", "while true; do sleep 1; done", marker]}]}})
    try:
        pod = wait_until("pod Running", lambda: phase_is(name, "Running"), timeout=90)
        first = container_status(pod)["containerID"]
        pids = [p for p in os.listdir("/proc") if p.isdigit() and marker in _cmdline(p)]
        assert len(pids) == 1, pids
        os.kill(int(pids[0]), signal.SIGKILL)
        cs = wait_until("restartCount 1", lambda: (lambda cs: cs if cs.get("restartCount") == 1 and "running" in
                                                    cs.get("state", {}) else None)(container_status(get_pod(name))),
                        timeout=60)
        assert cs["containerID"] != first
        assert cs["lastState"]["terminated"]["exitCode"] == 137
        assert cs["lastState"]["terminated"]["reason"] == "Error"
    finally:
        delete(name)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def test_changing_the_image_replaces_the_container():
    name = unique("newimage")
    apply(pod_manifest(name, "trap 'exit 0' TERM; while true; do sleep 1; done", grace=5))
    try:
        pod = wait_until("pod Running", lambda: phase_is(name, "Running"), timeout=90)
        first = container_status(pod)
        # The same content named by digest: a new definition for the container.
        by_digest = first["imageID"].split("://", 1)[-1]
        assert "@sha256:" in by_digest, by_digest
        kubectl("patch", "pod", "-n", NS, name, "--type=json", "-p",
                json.dumps([{"op": "replace", "path": "/spec/containers/0/image", "value": by_digest}]))
        cs = wait_until("container replaced", lambda: (lambda cs: cs if cs.get("restartCount") == 1 and "running" in
                                                        cs.get("state", {}) else None)(container_status(get_pod(name))),
                        timeout=90)
        assert cs["containerID"] != first["containerID"]
        assert cs["lastState"]["terminated"]["exitCode"] == 0
        events = kubectl_json("get", "events", "-n", NS, "--field-selector",
                              f"involvedObject.name={name},reason=Killing")["items"]
        assert any(e["message"] == "Container main definition changed, will be restarted" for e in events), events
    finally:
        delete(name)


def test_runtime_class_handler_runs_the_pod():
    rc = "cubelet-e2e-runc"
    apply({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": rc}, "handler": "runc"})
    name = unique("runtimeclass")
    manifest = pod_manifest(name, "sleep 3600")
    manifest["spec"]["runtimeClassName"] = rc
    apply(manifest)
    try:
        pod = wait_until("pod Running", lambda: phase_is(name, "Running"), timeout=90)
        assert pod["spec"]["runtimeClassName"] == rc
        assert container_status(pod)["ready"] is True
    finally:
        delete(name)


def test_pod_force_deleted_while_the_agent_is_down_is_cleaned_up():
    name = unique("orphan")
    marker = f"cubelet-e2e-{uuid.uuid4().hex}"
    apply({**pod_manifest(name, ""), "spec": {
        **pod_manifest(name, "")["spec"],
        "containers": [{"name": "main", "image": BUSYBOX,
                        "command": ["sh", "-c", "while true; do sleep 1; done", marker]}]}})
    pod = wait_until("pod Running", lambda: phase_is(name, "Running"), timeout=90)
    uid = pod["metadata"]["uid"]
    assert [p for p in os.listdir("/proc") if p.isdigit() and marker in _cmdline(p)]
    agent = open(STATE / "node-agent").read().strip()
    stop_component(agent)
    try:
        kubectl("delete", "pod", "-n", NS, name, "--grace-period=0", "--force", "--wait=false")
        wait_until("pod gone from the apiserver",
                   lambda: kubectl("get", "pod", "-n", NS, name, "--ignore-not-found") == "", timeout=60)
        # Its container still runs: nobody was there to stop it.
        assert [p for p in os.listdir("/proc") if p.isdigit() and marker in _cmdline(p)]
    finally:
        cluster_up()
    wait_until("the orphaned container stopped", lambda: not [
        p for p in os.listdir("/proc") if p.isdigit() and marker in _cmdline(p)], timeout=90)
    # Its pod cgroup goes too, once empty.
    cgroups = Path("/sys/fs/cgroup")
    wait_until("pod cgroup removed", lambda: not (list(cgroups.glob(f"*/kubepods/besteffort/pod{uid}")) +
                                                 list(cgroups.glob(f"kubepods/besteffort/pod{uid}"))), timeout=120)


def test_active_deadline_ends_the_pod():
    name = unique("deadline")
    manifest = pod_manifest(name, "sleep 3600", restart="Never", grace=1)
    manifest["spec"]["activeDeadlineSeconds"] = 3
    apply(manifest)
    try:
        wait_until("pod Running", lambda: phase_is(name, "Running"), timeout=90)
        pod = wait_until("pod Failed", lambda: phase_is(name, "Failed"), timeout=60)
        assert pod["status"]["reason"] == "DeadlineExceeded", pod["status"]
        assert pod["status"]["message"] == "Pod was active on the node longer than the specified deadline"
        assert "terminated" in container_status(pod)["state"], container_status(pod)
        events = kubectl_json("get", "events", "-n", NS, "--field-selector",
                              f"involvedObject.name={name},reason=DeadlineExceeded")["items"]
        assert events, "no DeadlineExceeded event"
    finally:
        delete(name)


def test_ephemeral_debug_container_shares_the_targets_processes_and_is_never_restarted():
    """`kubectl debug --target`: the ephemeral container starts in the running pod, sees the
    target container's processes, serves exec and logs, and stays terminated after it exits."""
    name = unique("debugme")
    apply(pod_manifest(name, "exec sleep 3600", grace=1))
    try:
        wait_until(f"{name} running", lambda: phase_is(name, "Running"), timeout=60)
        kubectl("debug", "-n", NS, name, f"--image={BUSYBOX}", "--target=main", "--container=dbg",
                "--", "sh", "-c", "echo debugger-up; sleep 15")

        def dbg_status(state):
            p = get_pod(name)
            for s in p.get("status", {}).get("ephemeralContainerStatuses", []):
                if s["name"] == "dbg" and state in s.get("state", {}):
                    return s
            return None
        running = wait_until("the debug container running", lambda: dbg_status("running"), timeout=60)
        assert running["restartCount"] == 0 and running["ready"] is False
        # The target's PID namespace: its `sleep 3600` is visible from the debugger.
        ps = kubectl("exec", "-n", NS, name, "-c", "dbg", "--", "ps", "-o", "args")
        assert "sleep 3600" in ps, ps
        wait_until("the debug container's log", lambda: "debugger-up" in kubectl(
            "logs", "-n", NS, name, "-c", "dbg"), timeout=30)
        done = wait_until("the debug container terminated", lambda: dbg_status("terminated"), timeout=60)
        assert done["state"]["terminated"]["exitCode"] == 0
        # Never restarted, whatever the pod's restartPolicy (Always here); the pod keeps running.
        time.sleep(5)
        again = dbg_status("terminated")
        assert again and again["restartCount"] == 0, get_pod(name)["status"]
        pod = get_pod(name)
        assert pod["status"]["phase"] == "Running"
        assert container_status(pod)["restartCount"] == 0
    finally:
        delete(name)
