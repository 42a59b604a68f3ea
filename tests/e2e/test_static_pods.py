"""Static pods: a manifest in the node's staticPodPath runs as a pod, shows up in the
apiserver as a mirror pod, follows edits of its file, goes when the file goes, keeps running
while the apiserver is down, and runs under an agent that has no apiserver at all."""
# e2e order: restarts node components (tests/e2e/e2e.cmake runs this file first)

import json
import os
import signal
import subprocess
import time

from conftest import (NODE_NAME, STATE, agent_binary, cluster_up, component_pid, in_netns, kubectl, kubectl_json,
                      node_agent, node_ready, stop_component, unique, wait_until)

BUSYBOX = "localhost:5000/busybox:1.36"
MANIFESTS = STATE / "manifests"
NODE_IP = "10.99.0.2"


def manifest(name, command, env_value="1", host_network=False):
    spec = {"containers": [{"name": "main", "image": BUSYBOX, "command": ["sh", "-c", command],
                            "env": [{"name": "VERSION", "value": env_value}]}],
            "terminationGracePeriodSeconds": 2}
    if host_network:
        spec["hostNetwork"] = True
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"test": "static"}}, "spec": spec}


def write_manifest(path, obj, as_yaml=False):
    """Writes next to the target and renames, as an editor or config tool would."""
    tmp = path.parent / f".{path.name}.tmp"
    if as_yaml:
        # JSON is YAML; a hand-written YAML flavour checks the YAML reader.
        text = "\n".join(["apiVersion: v1", "kind: Pod", "metadata:", f"  name: {obj['metadata']['name']}",
                          "spec:", f"  terminationGracePeriodSeconds: {obj['spec']['terminationGracePeriodSeconds']}",
                          "  containers:", "  - name: main", f"    image: {BUSYBOX}",
                          f"    command: {json.dumps(obj['spec']['containers'][0]['command'])}",
                          "    env:", "    - name: VERSION",
                          f"      value: \"{obj['spec']['containers'][0]['env'][0]['value']}\"", ""])
    else:
        text = json.dumps(obj)
    tmp.write_text(text)
    os.rename(tmp, path)


def mirror(name):
    out = kubectl("get", "pod", "-n", "default", f"{name}-{NODE_NAME}", "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


def running_mirror(name, check=lambda m: True):
    def ready():
        m = mirror(name)
        if not m or m["metadata"].get("deletionTimestamp") or m.get("status", {}).get("phase") != "Running":
            return None
        cs = m["status"].get("containerStatuses") or [{}]
        return m if "running" in cs[0].get("state", {}) and check(m) else None
    return wait_until(f"mirror pod of {name} running", ready, timeout=120)


def container_id(m):
    return m["status"]["containerStatuses"][0]["containerID"]


def test_mirror_pod_follows_the_manifest_edits_and_removal():
    name = unique("static")
    path = MANIFESTS / f"{name}.yaml"
    write_manifest(path, manifest(name, "sleep 3600"), as_yaml=True)
    try:
        m = running_mirror(name)
        ann = m["metadata"]["annotations"]
        assert ann["kubernetes.io/config.source"] == "file"
        assert ann["kubernetes.io/config.mirror"] == ann["kubernetes.io/config.hash"]
        owners = m["metadata"]["ownerReferences"]
        node_uid = kubectl_json("get", "node", NODE_NAME)["metadata"]["uid"]
        assert [(o["kind"], o["name"], o["uid"], o.get("controller")) for o in owners] == \
            [("Node", NODE_NAME, node_uid, True)], owners
        assert m["spec"]["nodeName"] == NODE_NAME
        first_hash, first_container = ann["kubernetes.io/config.hash"], container_id(m)

        # Someone deletes the mirror pod: it comes back; the pod itself is untouched.
        kubectl("delete", "pod", "-n", "default", f"{name}-{NODE_NAME}", "--wait=false")
        again = running_mirror(name, lambda x: x["metadata"]["uid"] != m["metadata"]["uid"])
        assert container_id(again) == first_container, "deleting a mirror pod must not restart the static pod"
        assert again["status"]["containerStatuses"][0]["restartCount"] == 0

        # An edit replaces the pod with the new spec, and the mirror with it.
        write_manifest(path, manifest(name, "sleep 3600", env_value="2"))
        edited = running_mirror(name, lambda x: x["metadata"]["annotations"]["kubernetes.io/config.hash"] != first_hash
                                and x["spec"]["containers"][0]["env"][0]["value"] == "2")
        assert container_id(edited) != first_container

        # The file goes: so do the pod and its mirror.
        path.unlink()
        wait_until("mirror pod gone", lambda: mirror(name) is None, timeout=120)
    finally:
        path.unlink(missing_ok=True)


def test_malformed_manifest_leaves_the_other_static_pods_alone():
    good, bad = unique("static-good"), unique("static-bad")
    good_path, bad_path = MANIFESTS / f"{good}.json", MANIFESTS / f"{bad}.yaml"
    write_manifest(good_path, manifest(good, "sleep 3600"))
    try:
        m = running_mirror(good)
        bad_path.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + bad +
                            "\nspec:\n  containers:\n  - name: main\n    command: [sleep, '1']\n")
        time.sleep(5)
        assert mirror(bad) is None, "a pod without an image must not run"
        after = running_mirror(good)
        assert after["metadata"]["uid"] == m["metadata"]["uid"]
        assert container_id(after) == container_id(m)
    finally:
        bad_path.unlink(missing_ok=True)
        good_path.unlink(missing_ok=True)
    wait_until("mirror pod gone", lambda: mirror(good) is None, timeout=120)


def http_get(url):
    p = in_netns("timeout", "5", "wget", "-q", "-O", "-", url, timeout=15)
    return p.stdout if p.returncode == 0 else None


def test_static_pod_keeps_running_while_the_apiserver_is_stopped():
    name = unique("static-outage")
    path = MANIFESTS / f"{name}.json"
    write_manifest(path, manifest(name, "mkdir -p /www && echo -n alive > /www/index.html && httpd -f -p 8080 -h /www"))
    try:
        m = running_mirror(name)
        url = f"http://{m['status']['podIP']}:8080/"
        assert wait_until("the static pod serves", lambda: http_get(url), timeout=30) == "alive"
        stop_component("kube-apiserver", sig=signal.SIGKILL)
        try:
            # Long enough for the agent to notice (failed status and lease updates).
            for _ in range(4):
                time.sleep(5)
                assert http_get(url) == "alive", "the static pod must keep serving without an apiserver"
        finally:
            cluster_up()
        wait_until("node Ready after the apiserver returned", node_ready, timeout=120)
        after = running_mirror(name)
        assert container_id(after) == container_id(m)
        assert after["status"]["containerStatuses"][0]["restartCount"] == 0
    finally:
        path.unlink(missing_ok=True)
    wait_until("mirror pod gone", lambda: mirror(name) is None, timeout=120)


def standalone_config():
    """The cluster's KubeletConfiguration without what needs an apiserver (webhook
    authentication and authorization)."""
    text = (STATE / "config" / "kubelet-config.yaml").read_text()
    text = text.replace("  webhook:\n    enabled: true", "  webhook:\n    enabled: false")
    text = text.replace("  mode: Webhook", "  mode: AlwaysAllow")
    path = STATE / "config" / "standalone-config.yaml"
    path.write_text(text)
    return path


def test_standalone_agent_runs_static_pods_without_an_apiserver():
    name = unique("standalone")
    path = MANIFESTS / f"{name}.json"
    port = 18000 + int(time.time()) % 1000
    url = f"http://{NODE_IP}:{port}/"
    agent = node_agent()
    stop_component(agent)
    proc = None
    try:
        cmd = ["nsenter", f"--net=/run/netns/{os.environ.get('CUBELET_NETNS', 'cubelet-dev')}", "--",
               agent_binary(), f"--config={standalone_config()}", f"--hostname-override={NODE_NAME}",
               f"--node-ip={NODE_IP}", f"--root-dir={STATE / 'kubelet'}", f"--cert-dir={STATE / 'kubelet' / 'pki'}",
               "--v=2"]
        log = open(STATE / "logs" / f"standalone-{agent}.log", "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        write_manifest(path, manifest(name, f"mkdir -p /www && echo -n {name} > /www/index.html && "
                                            f"httpd -f -p {port} -h /www", host_network=True))
        assert wait_until("the standalone static pod serves", lambda: http_get(url), timeout=120) == name
        assert proc.poll() is None, "the standalone agent must keep running"
        path.unlink()
        wait_until("the static pod stopped", lambda: http_get(url) is None, timeout=60)
    finally:
        path.unlink(missing_ok=True)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        cluster_up()
    wait_until("node Ready after the standalone run", node_ready, timeout=120)
    assert component_pid(agent)
