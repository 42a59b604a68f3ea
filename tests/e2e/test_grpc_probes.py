"""gRPC probes (grpc.health.v1.Health/Check) against agnhost's grpc-health-checking server,
built offline by hack/build-images.sh: readiness follows the served status both ways, and
the probe's service name reaches the server."""

import time

from conftest import AGNHOST, NODE_NAME, apply, delete_pod as delete, get_pod, in_netns, unique, wait_until

NS = "default"


def grpc_pod(name, service=None, probe_service=None):
    args = ["grpc-health-checking", "--port=5000", "--http-port=8080"]
    if service:
        args.append(f"--service={service}")
    probe = {"grpc": {"port": 5000}, "periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 2}
    if probe_service:
        probe["grpc"]["service"] = probe_service
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [{"name": "main", "image": AGNHOST, "args": args, "readinessProbe": probe}],
                     "automountServiceAccountToken": False, "nodeName": NODE_NAME,
                     "terminationGracePeriodSeconds": 1}}


def ready(name, want):
    def check():
        p = get_pod(name)
        cs = p.get("status", {}).get("containerStatuses") or [{}]
        return p if cs[0].get("ready") is want and "running" in cs[0].get("state", {}) else None
    return wait_until(f"{name} ready={want}", check, timeout=120)


def toggle(pod, path):
    url = f"http://{pod['status']['podIP']}:8080/{path}"
    p = in_netns("timeout", "5", "wget", "-q", "-O", "-", url, timeout=15)
    assert p.returncode == 0, f"{url}: {p.stderr}"


def test_grpc_readiness_follows_the_served_status():
    name = unique("grpc")
    apply(grpc_pod(name))
    try:
        p = ready(name, True)
        toggle(p, "make-not-serving")
        ready(name, False)
        toggle(p, "make-serving")
        p = ready(name, True)
        assert p["status"]["containerStatuses"][0]["restartCount"] == 0
    finally:
        delete(name)


def test_grpc_probe_sends_its_service_name():
    good, bad = unique("grpc-svc"), unique("grpc-svc-bad")
    apply(grpc_pod(good, service="alpha", probe_service="alpha"))
    # The server knows only "alpha": a probe for another service never passes.
    apply(grpc_pod(bad, service="alpha", probe_service="beta"))
    try:
        ready(good, True)
        p = wait_until(f"{bad} running", lambda: (lambda x: x if "running" in (
            (x.get("status", {}).get("containerStatuses") or [{}])[0].get("state", {})) else None)(get_pod(bad)),
            timeout=120)
        # Long enough for several probes at periodSeconds 1.
        time.sleep(5)
        p = get_pod(bad)
        assert p["status"]["containerStatuses"][0]["ready"] is False, p["status"]
    finally:
        delete(good)
        delete(bad)
