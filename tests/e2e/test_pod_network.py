"""Pod networking as cubelet-cni gives it (the same plugin serves the upstream kubelet in the
local cluster, installed by hack/up.sh as a network add-on would be): addresses from the
node's podCIDR, pod to pod and pod to node over HTTP, hostPort on the node address, address
reuse over hundreds of pods, distinct addresses for a burst, no leak when the plugin is
killed in the middle of an ADD, and nothing routed or NATed off the machine."""

import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import (NODE_NAME, STATE, get_node, get_pod, in_netns, kubectl, kubectl_json, unique, wait_until)

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"
NODE_IP = next(line.split("=", 1)[1] for line in (Path(__file__).resolve().parents[2] / "hack" / "lib" /
                                                   "cluster.sh").read_text().splitlines()
               if line.startswith("NODE_IP="))
IPAM_DIR = STATE / "cni" / "ipam" / "cubelet"
CNI_BIN = STATE / "cni" / "bin"


def pod(name, command, ports=None, labels=None):
    container = {"name": "main", "image": BUSYBOX, "command": ["sh", "-c", command]}
    if ports:
        container["ports"] = ports
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels or {"test": "pod-network"}},
            "spec": {"containers": [container], "restartPolicy": "Never", "automountServiceAccountToken": False,
                     "nodeName": NODE_NAME, "terminationGracePeriodSeconds": 0}}


def server(name, text, port=8080, host_port=None):
    """busybox httpd serving `text` at /."""
    ports = [{"containerPort": port, **({"hostPort": host_port} if host_port else {})}]
    return pod(name, f"mkdir -p /www && echo -n {text} > /www/index.html && exec httpd -f -p {port} -h /www", ports)


def apply_all(objs):
    kubectl("apply", "-f", "-", stdin=json_dump({"apiVersion": "v1", "kind": "List", "items": objs}), timeout=120)


def json_dump(obj):
    import json
    return json.dumps(obj)


def running_ip(name):
    p = get_pod(name)
    if p.get("status", {}).get("phase") == "Running" and p["status"].get("podIP"):
        return p["status"]["podIP"]
    return None


def delete(*names, wait=False):
    if names:
        kubectl("delete", "pod", "-n", NS, *names, "--grace-period=0", "--ignore-not-found", f"--wait={str(wait).lower()}",
                check=False, timeout=180)


def finished_message(name, timeout=90):
    p = wait_until(f"{name} finished", lambda: (lambda q: q if q.get("status", {}).get("phase") in
                                                ("Succeeded", "Failed") else None)(get_pod(name)), timeout=timeout)
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    return term.get("exitCode"), term.get("message", "")


def pod_cidrs():
    spec = get_node()["spec"]
    return [ipaddress.ip_network(c) for c in spec.get("podCIDRs") or [spec["podCIDR"]]]


def records():
    """IPAM records: address -> {id, ifname, netns, pod_uid, created}."""
    out = {}
    for f in IPAM_DIR.iterdir():
        if f.name == "lock" or f.name.startswith("last_reserved") or f.name.startswith("."):
            continue
        fields = {}
        for line in f.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k] = v
        out[f.name] = fields
    return out


def test_pod_ips_come_from_the_node_pod_cidr_and_pods_talk_over_http():
    a, b = unique("net-a"), unique("net-b")
    apply_all([server(a, f"hello-from-{a}"), server(b, f"hello-from-{b}")])
    try:
        ip_a = wait_until(f"{a} running", lambda: running_ip(a), timeout=90)
        ip_b = wait_until(f"{b} running", lambda: running_ip(b), timeout=90)
        cidrs = pod_cidrs()
        for ip in (ip_a, ip_b):
            assert any(ipaddress.ip_address(ip) in c for c in cidrs), f"{ip} not in the node's podCIDRs {cidrs}"
        assert ip_a != ip_b
        # A third pod fetches pod a's page over the pod network (retrying while httpd starts)
        # and reports the address on its own eth0, which must be the podIP the API shows.
        client = unique("net-client")
        kubectl("apply", "-f", "-", stdin=json_dump(pod(
            client, f"ip -o -4 addr show eth0 | awk '{{print $4}}' > /dev/termination-log; "
                    f"for i in $(seq 20); do if timeout 3 wget -qO- http://{ip_a}:8080/ >> /dev/termination-log; "
                    f"then exit 0; fi; sleep 0.5; done; exit 1")))
        try:
            code, message = finished_message(client)
            own, _, page = message.partition("\n")
            assert code == 0 and page == f"hello-from-{a}", (code, message)
            assert own.split("/")[0] == get_pod(client)["status"]["podIP"], (own, get_pod(client)["status"])
        finally:
            delete(client)
    finally:
        delete(a, b)


def test_pod_reaches_the_node_internal_ip():
    # A server of the test's own in the cluster's namespace, on the node address.
    port = 19000 + int(time.time()) % 500
    www = Path(f"/tmp/cubelet-e2e-node-www-{os.getpid()}")
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("node-says-hi")
    srv = subprocess.Popen(["nsenter", f"--net=/run/netns/{os.environ.get('CUBELET_NETNS', 'cubelet-dev')}", "--",
                            "python3", "-m", "http.server", str(port), "--bind", NODE_IP, "--directory", str(www)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    name = unique("net-node")
    try:
        kubectl("apply", "-f", "-", stdin=json_dump(pod(
            name, f"for i in $(seq 20); do if timeout 3 wget -qO- http://{NODE_IP}:{port}/ > /dev/termination-log; "
                  f"then exit 0; fi; sleep 0.5; done; exit 1")))
        code, message = finished_message(name)
        assert code == 0 and message == "node-says-hi", (code, message)
    finally:
        delete(name)
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=10)
        for f in www.iterdir():
            f.unlink()
        www.rmdir()


def test_host_port_is_reachable_on_the_node_address():
    name = unique("net-hostport")
    host_port = 18100 + int(time.time()) % 500
    kubectl("apply", "-f", "-", stdin=json_dump(server(name, f"via-hostport-{name}", host_port=host_port)))
    try:
        wait_until(f"{name} running", lambda: running_ip(name), timeout=90)

        def fetch():
            r = in_netns("curl", "-s", "--max-time", "3", f"http://{NODE_IP}:{host_port}/")
            return r.stdout if r.returncode == 0 and r.stdout else None

        assert wait_until("the hostPort answers", fetch, timeout=30) == f"via-hostport-{name}"
    finally:
        delete(name, wait=True)
    # The rules go with the pod.
    r = in_netns("curl", "-s", "--max-time", "2", f"http://{NODE_IP}:{host_port}/")
    assert r.stdout != f"via-hostport-{name}"
    nat = in_netns("iptables-save", "-t", "nat").stdout
    assert f"--dport {host_port} " not in nat, nat


def test_three_hundred_pods_in_sequence_never_run_out_of_addresses():
    """300 pods pass through a /24 (253 usable addresses) in batches of 10: every address
    must come back when its pod goes."""
    cidr = pod_cidrs()[0]
    assert cidr.prefixlen >= 24, cidr
    total, batch = 300, 10
    prefix = unique("net-seq")
    seen = set()
    for start in range(0, total, batch):
        names = [f"{prefix}-{i}" for i in range(start, start + batch)]
        apply_all([pod(n, "sleep 3600") for n in names])

        def all_running():
            items = kubectl_json("get", "pods", "-n", NS, "-l", f"batch={prefix}-{start}")["items"] if False else None
            ips = {}
            for n in names:
                ip = running_ip(n)
                if not ip:
                    return None
                ips[n] = ip
            return ips

        ips = wait_until(f"batch {start // batch} running", all_running, timeout=120, interval=0.5)
        assert len(set(ips.values())) == batch, ips
        for ip in ips.values():
            assert ipaddress.ip_address(ip) in cidr
        seen.update(ips.values())
        delete(*names)
    wait_until("every sequence pod gone", lambda: not [
        p for p in kubectl_json("get", "pods", "-n", NS)["items"] if p["metadata"]["name"].startswith(prefix)],
        timeout=180, interval=1)
    # More pods than addresses ran: addresses were reused.
    assert len(seen) <= 253
    # None of them still holds an address.
    wait_until("their addresses released", lambda: not [
        a for a, r in records().items() if r.get("pod_uid") and r.get("pod_uid") not in live_pod_uids()],
        timeout=60)


def live_pod_uids():
    return {p["metadata"]["uid"] for p in kubectl_json("get", "pods", "-A")["items"]}


def test_twenty_pods_at_once_get_distinct_addresses():
    prefix = unique("net-burst")
    names = [f"{prefix}-{i}" for i in range(20)]
    apply_all([pod(n, "sleep 3600") for n in names])
    try:
        def all_running():
            ips = [running_ip(n) for n in names]
            return ips if all(ips) else None

        ips = wait_until("20 pods running", all_running, timeout=180, interval=1)
        assert len(set(ips)) == 20, ips
        cidrs = pod_cidrs()
        assert all(any(ipaddress.ip_address(ip) in c for c in cidrs) for ip in ips)
    finally:
        delete(*names)


def plugin_pids(sandbox):
    """The cubelet-cni process the cluster's containerd runs to ADD `sandbox` (by its binary
    path and its CNI environment; other pods' DELs may be running at the same time)."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            exe = os.readlink(p / "exe")
            env = (p / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (exe == str(CNI_BIN / "cubelet-cni") and b"CNI_COMMAND=ADD" in env
                and f"CNI_CONTAINERID={sandbox}".encode() in env):
            pids.append(int(p.name))
    return pids


def test_killing_the_plugin_in_the_middle_of_an_add_leaks_no_address():
    fault = IPAM_DIR / "fault-injection"
    name = unique("net-kill")
    before = set(records())
    fault.write_text("pause-after-reserve=60\n")
    try:
        kubectl("apply", "-f", "-", stdin=json_dump(pod(name, "sleep 3600")))
        uid = get_pod(name)["metadata"]["uid"]
        # The ADD has reserved its address and now waits: find both.
        reserved = wait_until("the paused ADD's reservation", lambda: [
            (a, r) for a, r in records().items() if r.get("pod_uid") == uid], timeout=60, interval=0.2)
        killed_sandbox = reserved[0][1]["id"]
        pids = wait_until("the paused plugin", lambda: plugin_pids(killed_sandbox), timeout=30, interval=0.2)
    finally:
        fault.unlink(missing_ok=True)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    try:
        # The agent retries the sandbox; the pod runs.
        ip = wait_until(f"{name} running after the failed ADD", lambda: running_ip(name), timeout=120)
        assert ipaddress.ip_address(ip) in pod_cidrs()[0]
    finally:
        delete(name, wait=True)
    # Nothing names the pod or the killed sandbox any more.
    wait_until("no address held for the deleted pod", lambda: not [
        a for a, r in records().items() if r.get("pod_uid") == uid or r.get("id") == killed_sandbox], timeout=60)
    assert set(records()) <= before | set(records())


def test_nothing_is_routed_or_natted_off_the_machine():
    # The cluster namespace forwards nothing, has no default route, and masquerades nothing.
    assert in_netns("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    assert in_netns("ip", "route", "show", "default").stdout.strip() == ""
    nat = in_netns("iptables-save", "-t", "nat").stdout
    assert "MASQUERADE" not in nat and "SNAT" not in nat, nat
    # The pod and service ranges end in blackhole routes; pods get a route to the node only
    # through their gateway.
    routes = in_netns("ip", "route", "show").stdout
    assert "blackhole 10.244.0.0/16" in routes and "blackhole 10.96.0.0/16" in routes, routes
