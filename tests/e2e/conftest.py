"""Helpers for the end-to-end tests: they drive the local cluster (hack/up.sh) with the real,
pinned kubectl through hack/kubectl.sh and read only what any cluster user could read, so the
same tests pass whether the node agent is cubelet or the upstream kubelet."""

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HACK = REPO / "hack"
STATE = Path(os.environ.get("CUBELET_STATE", "/var/lib/cubelet-dev"))
NODE_NAME = os.environ.get("CUBELET_NODE_NAME", "cubelet-node")
NETNS = os.environ.get("CUBELET_NETNS", "cubelet-dev")
# The upstream e2e suite's agnhost (hack/build-images.sh; version from the pinned k8s.io/kubernetes).
AGNHOST = "localhost:5000/e2e-test-images/agnhost:2.66.1"


def kubectl(*args, check=True, timeout=60, stdin=None):
    """Runs hack/kubectl.sh ARGS and returns stdout."""
    p = subprocess.run([str(HACK / "kubectl.sh"), *args], capture_output=True, text=True, timeout=timeout,
                       input=stdin)
    if check and p.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def apply(obj):
    """kubectl apply of one object given as a dict."""
    return kubectl("apply", "-f", "-", stdin=json.dumps(obj))


def kubectl_json(*args):
    return json.loads(kubectl(*args, "-o", "json"))


def get_node():
    return kubectl_json("get", "node", NODE_NAME)


def condition(node, ctype):
    for c in node.get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def wait_until(what, fn, timeout=60, interval=1.0):
    """Polls fn() until it returns a truthy value, which is returned; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (AssertionError, subprocess.SubprocessError, json.JSONDecodeError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def in_netns(*cmd, timeout=30):
    return subprocess.run(["nsenter", f"--net=/run/netns/{NETNS}", "--", *cmd],
                          capture_output=True, text=True, timeout=timeout)


def node_agent():
    """'cubelet' or 'upstream': which agent the running local cluster uses."""
    return (STATE / "node-agent").read_text().strip()


def agent_binary():
    if node_agent() == "cubelet":
        return str(Path(os.environ.get("BUILD_DIR", REPO / "build")) / "bin" / "cubelet")
    versions = dict(line.split("=", 1) for line in (HACK / "versions.env").read_text().splitlines()
                    if line and not line.startswith("#") and "=" in line)
    cache = Path(os.environ.get("CUBELET_CACHE", Path.home() / ".cache" / "cubelet"))
    return str(cache / versions["KUBE_VERSION"] / "bin" / "kubelet")


def component_pid(name):
    pidfile = STATE / "pids" / f"{name}.pid"
    pid = int(pidfile.read_text().strip())
    os.kill(pid, 0)
    return pid


def stop_component(name, sig=signal.SIGTERM, timeout=30):
    """Stops one component the local cluster started, by its recorded PID."""
    pid = component_pid(name)
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"{name} (pid {pid}) did not stop within {timeout}s")


def cluster_up(env=None):
    """Starts whatever component is missing, with the same node agent as before. `env` adds
    variables hack/up.sh reads (CUBELET_MAX_PODS ...)."""
    p = subprocess.run([str(HACK / "up.sh"), f"--node-agent={node_agent()}", "--skip-deps"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert p.returncode == 0, f"hack/up.sh failed: {p.stdout[-2000:]}\n{p.stderr[-2000:]}"


def utc_now():
    """Now, formatted as the apiserver formats metav1.Time (comparable as strings)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def node_events(reason, since="", component="kubelet"):
    """Events about the node with the given reason from `component`, last seen at or after
    `since`, as `kubectl get events` lists them."""
    items = kubectl_json("get", "events", "-n", "default", "--field-selector",
                         f"involvedObject.kind=Node,involvedObject.name={NODE_NAME},reason={reason}")["items"]
    return [e for e in items if e.get("source", {}).get("component") == component
            and (e.get("lastTimestamp") or "") >= since]


def node_ready():
    c = condition(get_node(), "Ready")
    return c if c and c["status"] == "True" else None


NS = "default"


def unique(prefix):
    """A fresh object name, so reruns never meet a terminating object of an earlier run."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def get_pod(name, ns=NS):
    return kubectl_json("get", "pod", "-n", ns, name)


def delete_pod(name, ns=NS):
    """Deletes without waiting (the grace period runs on); a missing pod is fine."""
    kubectl("delete", "pod", "-n", ns, name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def ns():
    """A namespace of the test's own, deleted (without waiting) afterwards."""
    name = unique("e2e")
    kubectl("create", "namespace", name)
    wait_until("the namespace's default service account",
               lambda: kubectl("get", "serviceaccount", "default", "-n", name, check=False), timeout=60)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session", autouse=True)
def cluster():
    assert (STATE / "node-agent").exists(), "the local cluster is not up: run hack/up.sh first"
    wait_until("node Ready before the tests", node_ready, timeout=120)
    # Pods are admitted once the controller-manager made the namespace's default service account.
    wait_until("default service account", lambda: kubectl("get", "serviceaccount", "default", "-n", NS,
                                                          check=False), timeout=60)
    yield
