"""The node's Ready condition follows reality: a stopped runtime, a killed agent, a restart,
and bad input to a second agent process must all be reported or refused without harm."""
# e2e order: restarts node components (tests/e2e/e2e.cmake runs this file first)

import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import (NODE_NAME, STATE, agent_binary, cluster_up, component_pid, condition, get_node,
                      kubectl_json, node_events, utc_now,
                      node_ready, stop_component, wait_until)


def ready_condition():
    return condition(get_node(), "Ready")


def test_runtime_stopped_makes_node_not_ready_then_ready_again():
    before = ready_condition()
    assert before["status"] == "True"
    since = utc_now()
    stop_component("containerd")
    try:
        # The kubelet declares the runtime down once no status check succeeded for 30s.
        down = wait_until("Ready=False after containerd stopped", lambda: (
            lambda c: c if c["status"] == "False" else None)(ready_condition()), timeout=120)
        assert down["reason"] == "KubeletNotReady", down
        assert "container runtime is down" in down["message"], down
        assert down["lastTransitionTime"] >= before["lastTransitionTime"]
    finally:
        cluster_up()
    up = wait_until("Ready=True after containerd restarted", node_ready, timeout=120)
    assert up["reason"] == "KubeletReady"
    assert up["lastTransitionTime"] >= down["lastTransitionTime"]
    # Both transitions are announced as node events.
    for reason in ("NodeNotReady", "NodeReady"):
        events = wait_until(f"{reason} event", lambda: node_events(reason, since), timeout=30)
        assert any(e["message"] == f"Node {NODE_NAME} status is now: {reason}" for e in events), events


def test_killed_agent_lets_node_go_unknown_and_restart_recovers():
    agent = open(STATE / "node-agent").read().strip()
    since = utc_now()
    stop_component(agent, sig=signal.SIGKILL)
    try:
        # The node lifecycle controller (grace period 20s in hack/up.sh) notices the lease
        # is not renewed any more.
        unknown = wait_until("Ready=Unknown after the agent was killed", lambda: (
            lambda c: c if c["status"] == "Unknown" else None)(ready_condition()), timeout=120)
        assert unknown["reason"] == "NodeStatusUnknown", unknown
    finally:
        start = time.monotonic()
        cluster_up()
    wait_until("Ready=True after restart", node_ready, timeout=60)
    # "Within seconds": generous bound for a loaded CI machine, not a benchmark.
    assert time.monotonic() - start < 60
    # A restarted agent announces itself.
    starting = wait_until("Starting event", lambda: node_events("Starting", since), timeout=30)
    assert any(e["source"].get("host") == NODE_NAME for e in starting), starting


def test_clean_shutdown_and_restart_keeps_the_node():
    agent = open(STATE / "node-agent").read().strip()
    uid = get_node()["metadata"]["uid"]
    stop_component(agent, sig=signal.SIGTERM)
    cluster_up()
    node = get_node()
    assert node["metadata"]["uid"] == uid, "the restarted agent must adopt its node, not recreate it"
    wait_until("Ready=True after a clean restart", node_ready, timeout=60)


BAD_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: [ {name: x, cluster: {server: \n"
BAD_CONFIG = ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
              "nodeStatusUpdateFrequency: [not, a, duration\n")


@pytest.mark.parametrize("flag,content", [("kubeconfig", BAD_KUBECONFIG), ("config", BAD_CONFIG)])
def test_malformed_input_file_is_refused_with_its_path(flag, content):
    """A second agent process given a malformed kubeconfig or config file exits non-zero with
    an error naming the file, and disturbs nothing: the running agent stays the same process,
    the node stays Ready and no node is registered by the failed process."""
    agent = open(STATE / "node-agent").read().strip()
    pid = component_pid(agent)
    files = {"kubeconfig": f"{STATE}/config/kubelet.conf", "config": f"{STATE}/config/kubelet-config.yaml"}
    with tempfile.TemporaryDirectory() as root:
        bad = os.path.join(root, f"bad-{flag}.yaml")
        with open(bad, "w") as f:
            f.write(content)
        files[flag] = bad
        p = subprocess.run(["nsenter", "--net=/run/netns/cubelet-dev", "--", agent_binary(),
                            f"--root-dir={root}/root", f"--cert-dir={root}/pki", "--hostname-override=bad-input-node",
                            f"--kubeconfig={files['kubeconfig']}", f"--config={files['config']}"],
                           capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert bad in p.stdout + p.stderr, p.stderr[-2000:]
    assert component_pid(agent) == pid
    assert node_ready()
    assert not any(n["metadata"]["name"] == "bad-input-node" for n in kubectl_json("get", "nodes")["items"])


def test_apiserver_restart_is_survived():
    agent = open(STATE / "node-agent").read().strip()
    pid = component_pid(agent)
    # A crash, not a graceful stop: the agent must cope with connections cut mid-request.
    stop_component("kube-apiserver", sig=signal.SIGKILL)
    time.sleep(5)
    cluster_up()
    # The agent reconnects on its own (same process) and keeps posting status and renewing
    # its lease.
    assert component_pid(agent) == pid
    lease_before = kubectl_json("get", "lease", "-n", "kube-node-lease",
                                                       NODE_NAME)["spec"]["renewTime"]
    wait_until("lease renewed after the apiserver restart", lambda: kubectl_json(
        "get", "lease", "-n", "kube-node-lease", NODE_NAME)["spec"]["renewTime"] > lease_before, timeout=30)
    assert node_ready()
