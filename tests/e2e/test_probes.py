"""Container probes and readiness gates: an exec readiness probe flips the container's ready
flag and the pod's Ready condition both ways; a failing liveness probe restarts the container
with upstream's Unhealthy and Killing events; httpGet (named port, custom headers) and
tcpSocket probes against busybox httpd; a startup probe holds the liveness probe back; a
readiness gate keeps Ready False until its condition is patched True.

The tests steer the containers through busybox httpd CGI scripts, fetched from the cluster's
network namespace, so nothing depends on `kubectl exec` or on timing: only Kubernetes
behaviour is asserted, with generous timeouts, so the tests hold for the upstream kubelet
too."""

import json
import time

from conftest import NODE_NAME, NS, apply, delete_pod as delete, get_pod, in_netns, kubectl, kubectl_json, unique, \
    wait_until

BUSYBOX = "localhost:5000/busybox:1.36"

# A small control server in the container: busybox httpd on :8080 serving /www, with CGI
# scripts that create or remove files the probes look at (/cgi-bin/set?NAME creates
# /tmp/NAME, /cgi-bin/unset?NAME removes it) and one that records the request headers of
# whoever calls it (/cgi-bin/check writes them to /www/seen) and answers 200.
CONTROL_SERVER = r"""
mkdir -p /www/cgi-bin
echo ok > /www/healthz
cat > /www/cgi-bin/set <<'EOF'
#!/bin/sh
touch "/tmp/$QUERY_STRING"
printf 'Content-Type: text/plain\r\n\r\nset\n'
EOF
cat > /www/cgi-bin/unset <<'EOF'
#!/bin/sh
rm -f "/tmp/$QUERY_STRING"
printf 'Content-Type: text/plain\r\n\r\nunset\n'
EOF
cat > /www/cgi-bin/check <<'EOF'
#!/bin/sh
echo "$HTTP_USER_AGENT|$HTTP_X_PROBE|$HTTP_ACCEPT" > /www/seen
printf 'Content-Type: text/plain\r\n\r\nchecked\n'
EOF
chmod +x /www/cgi-bin/*
exec httpd -f -p 8080 -h /www
"""


def pod(name, container_extra, restart="Always", grace=2, spec_extra=None):
    container = {"name": "main", "image": BUSYBOX, "command": ["sh", "-c", CONTROL_SERVER],
                 "ports": [{"name": "http", "containerPort": 8080}]}
    container.update(container_extra)
    spec = {"containers": [container], "restartPolicy": restart, "automountServiceAccountToken": False,
            "nodeName": NODE_NAME, "terminationGracePeriodSeconds": grace}
    spec.update(spec_extra or {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def exec_probe(path, period=1, failure=1, **extra):
    probe = {"exec": {"command": ["cat", path]}, "periodSeconds": period, "failureThreshold": failure}
    probe.update(extra)
    return probe


def main_status(p):
    for cs in p.get("status", {}).get("containerStatuses", []):
        if cs["name"] == "main":
            return cs
    return {}


def pod_condition(p, ctype):
    for c in p.get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def running(name):
    """Waits until the container runs and the pod has an IP; returns the pod."""
    def up():
        p = get_pod(name)
        return p if "running" in main_status(p).get("state", {}) and p["status"].get("podIP") else None
    return wait_until(f"{name} running", up, timeout=120)


def fetch(pod_ip, path):
    """GET http://POD_IP:8080/PATH from the cluster's network namespace; returns the body."""
    script = ("import sys, urllib.request; "
              "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())")
    # httpd may still be binding right after the container started: retry a few times.
    for _ in range(10):
        r = in_netns("python3", "-c", script, f"http://{pod_ip}:8080{path}")
        if r.returncode == 0:
            return r.stdout
        time.sleep(1)
    raise AssertionError(f"GET {path} from {pod_ip}: {r.stderr.strip()}")


def events(name, reason):
    return kubectl_json("get", "events", "-n", NS, "--field-selector",
                        f"involvedObject.name={name},reason={reason}")["items"]


def wait_ready(name, ready, timeout=90):
    def check():
        p = get_pod(name)
        cond = pod_condition(p, "Ready")
        if main_status(p).get("ready") is ready and cond and cond["status"] == ("True" if ready else "False"):
            return p
        return None
    return wait_until(f"{name} ready={ready}", check, timeout=timeout)


def test_exec_readiness_probe_flips_ready_both_ways():
    name = unique("readiness")
    apply(pod(name, {"readinessProbe": exec_probe("/tmp/ready")}))
    try:
        p = running(name)
        ip = p["status"]["podIP"]
        # The file is not there yet: running, but neither the container nor the pod is ready.
        p = wait_ready(name, False)
        ready = pod_condition(p, "Ready")
        assert ready["reason"] == "ContainersNotReady", ready
        assert ready["message"] == "containers with unready status: [main]", ready
        assert pod_condition(p, "ContainersReady")["status"] == "False"

        fetch(ip, "/cgi-bin/set?ready")
        p = wait_ready(name, True)
        assert pod_condition(p, "ContainersReady")["status"] == "True"

        fetch(ip, "/cgi-bin/unset?ready")
        p = wait_ready(name, False)
        assert pod_condition(p, "Ready")["reason"] == "ContainersNotReady"
        assert main_status(p)["restartCount"] == 0, "a readiness probe never restarts a container"

        unhealthy = wait_until("Unhealthy event", lambda: events(name, "Unhealthy"), timeout=60)
        assert any(e["message"].startswith("Readiness probe failed: ") for e in unhealthy), unhealthy
        assert all(e["type"] == "Warning" and e["involvedObject"].get("fieldPath") == "spec.containers{main}"
                   for e in unhealthy), unhealthy
    finally:
        delete(name)


def test_failing_liveness_probe_restarts_the_container():
    name = unique("liveness")
    apply(pod(name, {"livenessProbe": exec_probe("/tmp/alive", failure=2)}))
    try:
        p = wait_until("a restart", lambda: (lambda q: q if main_status(q).get("restartCount", 0) >= 1 else None)(
            get_pod(name)), timeout=180)
        assert "terminated" in main_status(p).get("lastState", {}), main_status(p)

        unhealthy = wait_until("Unhealthy event", lambda: events(name, "Unhealthy"), timeout=60)
        assert any(e["message"].startswith("Liveness probe failed: ") for e in unhealthy), unhealthy
        killing = wait_until("Killing event", lambda: [e for e in events(name, "Killing")
                                                       if "liveness" in e["message"]], timeout=60)
        assert killing[0]["message"] == "Container main failed liveness probe, will be restarted", killing[0]
        assert killing[0]["involvedObject"].get("fieldPath") == "spec.containers{main}"
    finally:
        delete(name)


def test_http_get_and_tcp_socket_probes_against_httpd():
    name = unique("httpprobe")
    apply(pod(name, {
        "readinessProbe": {"httpGet": {"path": "/cgi-bin/check", "port": "http",
                                       "httpHeaders": [{"name": "X-Probe", "value": "e2e"}]},
                           "periodSeconds": 1},
        # The delay lets httpd bind before the first probe (it would otherwise race the start).
        "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 3, "periodSeconds": 1,
                          "failureThreshold": 2},
    }))
    try:
        p = running(name)
        wait_ready(name, True)
        # What the probe sent: the upstream User-Agent, the custom header, Accept */*.
        user_agent, probe_header, accept = fetch(p["status"]["podIP"], "/seen").strip().split("|")
        assert user_agent.startswith("kube-probe/"), user_agent
        assert probe_header == "e2e"
        assert accept == "*/*"
        # The tcpSocket liveness probe passes: the container keeps running, unrestarted.
        p = wait_ready(name, True)
        assert main_status(p)["restartCount"] == 0
        assert not [e for e in events(name, "Unhealthy") if e["message"].startswith("Liveness")]
    finally:
        delete(name)


def test_http_probe_against_a_closed_port_fails():
    name = unique("httpfail")
    apply(pod(name, {"readinessProbe": {"httpGet": {"path": "/healthz", "port": 8081}, "periodSeconds": 1}}))
    try:
        running(name)
        wait_ready(name, False)
        unhealthy = wait_until("Unhealthy event", lambda: events(name, "Unhealthy"), timeout=60)
        msg = unhealthy[0]["message"]
        assert msg.startswith("Readiness probe failed: Get \"http://"), msg
        assert msg.endswith(":8081/healthz\": dial tcp " + msg.split("//")[1].split("/")[0] +
                            ": connect: connection refused"), msg
    finally:
        delete(name)


def test_startup_probe_holds_back_liveness():
    name = unique("startup")
    # Until /tmp/started exists the liveness probe would fail at its first run; the startup
    # probe (many failures allowed) keeps it from running at all.
    apply(pod(name, {"startupProbe": exec_probe("/tmp/started", failure=600),
                     "livenessProbe": exec_probe("/tmp/started", failure=1)}))
    try:
        p = running(name)
        ip = p["status"]["podIP"]
        wait_until("Startup probe failures", lambda: [e for e in events(name, "Unhealthy")
                                                      if e["message"].startswith("Startup probe failed: ")],
                   timeout=60)
        p = get_pod(name)
        assert main_status(p)["started"] is False, main_status(p)
        assert main_status(p)["ready"] is False
        assert main_status(p)["restartCount"] == 0, "liveness ran before the container started"

        fetch(ip, "/cgi-bin/set?started")
        wait_until("started", lambda: main_status(get_pod(name)).get("started") is True, timeout=90)
        p = wait_ready(name, True)
        assert main_status(p)["restartCount"] == 0
        assert not [e for e in events(name, "Unhealthy") if e["message"].startswith("Liveness")]
        assert not events(name, "Killing")
    finally:
        delete(name)


def test_readiness_gate_holds_ready_until_its_condition_is_true():
    name = unique("gate")
    gate = "example.com/feature-ready"
    apply(pod(name, {}, spec_extra={"readinessGates": [{"conditionType": gate}]}))
    try:
        running(name)

        def gated(message):
            def check():
                p = get_pod(name)
                ready, containers = pod_condition(p, "Ready"), pod_condition(p, "ContainersReady")
                if (main_status(p).get("ready") and containers and containers["status"] == "True" and ready
                        and ready["status"] == "False" and ready.get("message") == message):
                    return ready
                return None
            return wait_until(f"Ready False with {message!r}", check, timeout=90)

        ready = gated(f'corresponding condition of pod readiness gate "{gate}" does not exist.')
        assert ready["reason"] == "ReadinessGatesNotReady", ready

        def patch(status):
            kubectl("patch", "pod", "-n", NS, name, "--subresource=status", "--type=strategic", "-p",
                    json.dumps({"status": {"conditions": [{"type": gate, "status": status}]}}))

        patch("False")
        gated(f'the status of pod readiness gate "{gate}" is not "True", but False')

        patch("True")
        p = wait_ready(name, True)
        # The agent's own status writes leave the gate's condition alone.
        assert pod_condition(p, gate)["status"] == "True"
    finally:
        delete(name)
