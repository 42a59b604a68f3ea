"""The node agent's HTTPS API on :10250, through the real kubectl (logs, exec, attach,
port-forward, cp, top) and directly with curl from the cluster's network namespace
(authentication, authorization, path handling, /stats/summary, /metrics, /metrics/resource).

kubectl runs in the cluster's network namespace (hack/kubectl.sh), so `kubectl port-forward`
listens on that namespace's loopback and the HTTP request goes there too. The log files are
read from the host's /var/log/pods (the tests run as root on the node's host). `kubectl top`
needs the metrics-server hack/up.sh runs.

The expectations are the upstream kubelet's answers (v1.37), recorded where they are not
obvious: a path that is not clean (`..` segments) gets Go's 307 redirect to the cleaned path
before any authentication; an encoded `..%2F` stays one segment and is a 404.
"""

import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import fcntl
import pytest
import termios

from conftest import AGNHOST, HACK, NETNS, NODE_NAME, STATE, in_netns, kubectl, kubectl_json, unique, wait_until

BUSYBOX = "localhost:5000/busybox:1.36"
PKI = STATE / "pki"
POD_LOGS = Path("/var/log/pods")
# Whatever the network namespace and the node's address are: read them from the hack scripts.
NODE_IP = re.search(r"^NODE_IP=(\S+)$", (HACK / "lib" / "cluster.sh").read_text(), re.M).group(1)
KUBELET = f"https://{NODE_IP}:10250"
# The apiserver's own credentials for kubelets (hack/lib/pki.sh): allowed everything.
APISERVER_CLIENT = (PKI / "apiserver-kubelet-client.crt", PKI / "apiserver-kubelet-client.key")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")


# ---------------------------------------------------------------------------------------- helpers

# kubectl talks WebSocket to the apiserver for exec, attach, cp and port-forward by default; the
# apiserver then opens SPDY to the agent. With these variables kubectl speaks SPDY, which the
# apiserver passes through to the agent as it is: the agent sees both.
TRANSPORTS = {"websocket": {},
              "spdy": {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}}


@pytest.fixture(params=list(TRANSPORTS))
def stream_env(request):
    return {**os.environ, **TRANSPORTS[request.param]}


def kubectl_run(*args, stdin=None, timeout=60, text=True, env=None):
    """hack/kubectl.sh ARGS; returns the CompletedProcess whatever the exit code."""
    return subprocess.run([str(HACK / "kubectl.sh"), *args], input=stdin, capture_output=True, text=text,
                          timeout=timeout, env=env)


def kubectl_ok(*args, **kw):
    p = kubectl_run(*args, **kw)
    assert p.returncode == 0, f"kubectl {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr!r}"
    return p.stdout


def kubectl_popen(*args, stdin=None, env=None):
    """hack/kubectl.sh ARGS in the background (hack/kubectl.sh execs nsenter, which execs kubectl,
    so the pid is kubectl's). stdout and stderr are merged and read through a Reader."""
    p = subprocess.Popen([str(HACK / "kubectl.sh"), *args], stdin=stdin, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=env)
    return p, Reader(p.stdout)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Reader:
    """Collects what a pipe (or pty) delivers, in a thread, so tests can wait for text in it."""

    def __init__(self, f=None, fd=None):
        self.data = b""
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.fd = fd if fd is not None else f.fileno()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            while True:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # a pty whose other end closed
                    break
                if not chunk:
                    break
                with self.lock:
                    self.data += chunk
        finally:
            self.done.set()

    def text(self):
        with self.lock:
            return self.data.decode(errors="replace")

    def wait_for(self, what, timeout=60):
        """Waits until `what` was received; returns everything received so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = self.done.is_set()
            text = self.text()
            if what in text:
                return text
            assert not ended, f"the stream ended without {what!r}: {text[-2000:]!r}"
            time.sleep(0.1)
        raise AssertionError(f"no {what!r} within {timeout}s: {self.text()[-2000:]!r}")

    def wait_end(self, timeout=60):
        assert self.done.wait(timeout), f"the stream did not end within {timeout}s: {self.text()[-2000:]!r}"
        return self.text()


def ctr(name, script, image=BUSYBOX, **extra):
    return {"name": name, "image": image, "command": ["sh", "-c", script], **extra}


def make_pod(ns, name, containers, restart="Never", **spec):
    kubectl("create", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": containers, "restartPolicy": restart, "nodeName": NODE_NAME,
                 "terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False, **spec}}))


def get_pod(ns, name):
    return kubectl_json("get", "pod", "-n", ns, name)


def wait_running(ns, name, timeout=90):
    """Every container of the pod running; returns the pod."""
    def ok():
        p = get_pod(ns, name)
        sts = p.get("status", {}).get("containerStatuses", [])
        return p if sts and all("running" in s.get("state", {}) for s in sts) else None
    return wait_until(f"pod {ns}/{name} running", ok, timeout=timeout)


def wait_phase(ns, name, phases=("Succeeded", "Failed"), timeout=90):
    return wait_until(f"pod {ns}/{name} in {phases}",
                      lambda: get_pod(ns, name).get("status", {}).get("phase") in phases, timeout=timeout)


def logs(ns, pod, *args):
    return kubectl("logs", "-n", ns, pod, *args)


def exec_in(ns, pod, *cmd, container=None):
    c = ["-c", container] if container else []
    return kubectl("exec", "-n", ns, pod, *c, "--", *cmd)


def pod_log_dir(ns, name, container):
    uid = get_pod(ns, name)["metadata"]["uid"]
    return POD_LOGS / f"{ns}_{name}_{uid}" / container


def curl_kubelet(path, cert=None, token=None, method="GET"):
    """One request to the agent's :10250 from the cluster's namespace. Returns (status, headers
    as a lower-cased dict, body). The path is sent as written (no `..` folding by curl)."""
    cmd = ["curl", "-sk", "--path-as-is", "-D", "-", "-X", method, "--max-time", "20"]
    if cert:
        cmd += ["--cert", str(cert[0]), "--key", str(cert[1])]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    p = subprocess.run(["nsenter", f"--net=/run/netns/{NETNS}", "--", *cmd, KUBELET + path],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, f"curl {path} failed ({p.returncode}): {p.stderr!r}"
    head, _, raw = p.stdout.partition(b"\r\n\r\n")
    body = raw.decode(errors="replace")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def forbidden_body(user, verb, subresources):
    return f"Forbidden (user={user}, verb={verb}, resource=nodes, subresource(s)=[{' '.join(subresources)}])"


@pytest.fixture(scope="module")
def shared_pod():
    """One long-lived, quiet pod for the stats, metrics and top tests: the metrics pipelines need
    the pod to have lived through a few collection periods, so it starts with the module."""
    name = unique("kapi-shared")
    kubectl("create", "namespace", name)
    try:
        wait_until("the namespace's default service account",
                   lambda: kubectl("get", "serviceaccount", "default", "-n", name, check=False), timeout=60)
        make_pod(name, "ticker", [ctr("tick", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done")])
        wait_running(name, "ticker")
        yield name, "ticker"
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module", autouse=True)
def _start_shared_pod_early(shared_pod):
    yield


# ------------------------------------------------------------------------------------------- logs

def test_logs_options(ns):
    """--tail, --limit-bytes, --timestamps, --since, --since-time and -c on a two-container pod."""
    main = ("for i in 1 2 3 4 5 6 7 8 9 10; do echo early-$i; done; sleep 1; echo err-line >&2; sleep 2; "
            "for i in 1 2 3 4 5; do echo late-$i; done; exec sleep 3600")
    make_pod(ns, "logs", [ctr("main", main), ctr("side", "echo from-side; exec sleep 3600")])
    wait_running(ns, "logs")
    wait_until("all lines logged", lambda: "late-5" in logs(ns, "logs", "-c", "main"), timeout=30, interval=0.5)

    everything = logs(ns, "logs", "-c", "main").splitlines()
    assert [line for line in everything if line != "err-line"] == \
        [f"early-{i}" for i in range(1, 11)] + [f"late-{i}" for i in range(1, 6)]
    assert "err-line" in everything, "stderr is part of the log"

    assert logs(ns, "logs", "-c", "main", "--tail=3") == "late-3\nlate-4\nlate-5\n"
    assert logs(ns, "logs", "-c", "main", "--tail=0") == ""
    assert logs(ns, "logs", "-c", "main", "--limit-bytes=5") == "early"
    assert logs(ns, "logs", "-c", "main", "--limit-bytes=12") == "early-1\nearl"

    stamped = logs(ns, "logs", "-c", "main", "--timestamps").splitlines()
    assert len(stamped) == len(everything)
    for line, plain in zip(stamped, everything):
        assert TIMESTAMP.match(line), line
        assert line.split(" ", 1)[1] == plain
    assert logs(ns, "logs", "-c", "main", "--timestamps", "--tail=1").split(" ", 1)[1] == "late-5\n"

    assert logs(ns, "logs", "-c", "main", "--since=1h").splitlines() == everything
    # Nothing is written after late-5: soon no line is younger than 2 s.
    wait_until("--since=2s to be empty", lambda: logs(ns, "logs", "-c", "main", "--since=2s") == "", timeout=30)
    # sinceTime travels with second precision; the early lines are >= 3 s before late-1.
    late1 = next(line.split(" ", 1)[0] for line in stamped if line.endswith(" late-1"))
    assert logs(ns, "logs", "-c", "main", f"--since-time={late1}") == "".join(
        f"late-{i}\n" for i in range(1, 6))
    assert logs(ns, "logs", "-c", "main", "--since-time=2099-01-01T00:00:00Z") == ""

    assert logs(ns, "logs", "-c", "side") == "from-side\n"
    p = kubectl_run("logs", "-n", ns, "logs", "-c", "no-such-container")
    assert p.returncode != 0 and "no-such-container" in p.stderr


def test_logs_previous_after_restart(ns):
    """--previous shows the run before the last restart; the current run's log is separate."""
    script = ("n=$(cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/n; echo run-$n; "
              "if [ $n -ge 2 ]; then exec sleep 3600; fi; exit 1")
    make_pod(ns, "restarts", [ctr("c", script, volumeMounts=[{"name": "state", "mountPath": "/state"}])],
             restart="Always", volumes=[{"name": "state", "emptyDir": {}}])

    def restarted_and_running():
        p = get_pod(ns, "restarts")
        s = (p.get("status", {}).get("containerStatuses") or [{}])[0]
        return s.get("restartCount", 0) >= 1 and "running" in s.get("state", {})
    wait_until("a restart", restarted_and_running, timeout=120)
    wait_until("the second run's line", lambda: logs(ns, "restarts") == "run-2\n", timeout=30)
    assert logs(ns, "restarts", "--previous") == "run-1\n"
    assert logs(ns, "restarts", "-p", "--timestamps").split(" ", 1)[1] == "run-1\n"


def test_logs_follow_sees_new_lines_and_ends_with_the_container(ns):
    script = "echo first; while [ ! -f /tmp/next ]; do sleep 0.2; done; echo second; sleep 1; echo last"
    make_pod(ns, "follow", [ctr("c", script)])
    wait_running(ns, "follow")
    p, out = kubectl_popen("logs", "-f", "-n", ns, "follow")
    try:
        out.wait_for("first\n")
        assert "second" not in out.text()
        exec_in(ns, "follow", "touch", "/tmp/next")
        out.wait_for("second\n", timeout=30)
        # The container exits after "last": the follower must end by itself.
        text = out.wait_end(timeout=60)
        assert p.wait(timeout=10) == 0, text
        assert text == "first\nsecond\nlast\n"
    finally:
        stop(p)


def test_logs_follow_across_rotation(ns):
    """containerLogMaxSize is 1Mi in the local cluster: ~1.7 MB of CRI log makes the agent rotate
    0.log; a follower started before must see every line written before and after the rotation,
    and end when the container does."""
    pad = "x" * 90
    fill = 12000
    script = ("echo ready; while [ ! -f /tmp/go ]; do sleep 0.2; done; "
              f"seq 1 {fill} | sed 's/.*/fill-&-{pad}/'; echo fill-done; "
              "i=0; while [ ! -f /tmp/stop ]; do i=$((i+1)); echo tick-$i; sleep 0.2; done; echo after-rotation-end")
    make_pod(ns, "rotate", [ctr("c", script)])
    wait_running(ns, "rotate")
    logdir = pod_log_dir(ns, "rotate", "c")
    p, out = kubectl_popen("logs", "-f", "-n", ns, "rotate")
    try:
        out.wait_for("ready\n")
        exec_in(ns, "rotate", "touch", "/tmp/go")
        out.wait_for("fill-done\n", timeout=60)
        rotated = wait_until("a rotated log file", lambda: sorted(logdir.glob("0.log.*")), timeout=60, interval=0.5)
        # Lines written from now on go to the new 0.log only.
        marker_before = len(re.findall(r"^tick-", out.text(), re.M))
        wait_until("ticks after the rotation", lambda: len(re.findall(r"^tick-", out.text(), re.M)) >= marker_before + 5,
                   timeout=30, interval=0.2)
        exec_in(ns, "rotate", "touch", "/tmp/stop")
        text = out.wait_end(timeout=60)
        assert p.wait(timeout=10) == 0, text[-2000:]
    finally:
        stop(p)
    lines = text.splitlines()
    assert lines[0] == "ready"
    assert lines[1:fill + 2] == [f"fill-{i}-{pad}" for i in range(1, fill + 1)] + ["fill-done"]
    ticks = lines[fill + 2:-1]
    assert ticks == [f"tick-{i}" for i in range(1, len(ticks) + 1)], "no tick lost or repeated"
    assert lines[-1] == "after-rotation-end"
    # The rotated file is CRI format and holds the start of the log; the live file the end.
    assert rotated[0].name.startswith("0.log.") and re.fullmatch(r"0\.log\.\d{8}-\d{6}(\.gz)?", rotated[0].name)
    live = (logdir / "0.log").read_text()
    assert "after-rotation-end" in live and "ready" not in live
    # A plain `kubectl logs` afterwards reads the live file only.
    assert "after-rotation-end\n" in logs(ns, "rotate")


def test_logs_partial_lines(ns):
    """A line written in pieces and a line longer than the runtime's 16 KiB line limit (stored as
    P fragments) come back whole; a last line without newline comes back too."""
    long_line = "L" * 40000
    script = ("printf 'part-one '; sleep 1; printf 'part-two\\n'; "
              "head -c 40000 /dev/zero | tr '\\0' L; echo; printf 'no-newline-at-exit'")
    make_pod(ns, "partial", [ctr("c", script)])
    wait_phase(ns, "partial", ("Succeeded",))
    # The runtime stores the unterminated last piece as a P entry; it comes back as written,
    # without a newline added.
    assert logs(ns, "partial") == f"part-one part-two\n{long_line}\nno-newline-at-exit"
    # The runtime did split the long line: the file has P-tagged entries.
    raw = (pod_log_dir(ns, "partial", "c") / "0.log").read_text()
    tags = [line.split(" ", 3)[2] for line in raw.splitlines()]
    assert tags.count("P") >= 3 and tags[-1] == "P", tags
    # --tail counts the file's entries, fragments included.
    assert logs(ns, "partial", "--tail=1") == "no-newline-at-exit"
    tail2 = logs(ns, "partial", "--tail=2")
    assert tail2.endswith("L\nno-newline-at-exit") and tail2.count("L") < len(long_line), len(tail2)
    assert logs(ns, "partial", "--limit-bytes=22") == "part-one part-two\nLLLL"


# ------------------------------------------------------------------------------------------- exec

def test_exec_stdin(ns, stream_env):
    make_pod(ns, "exec", [ctr("c", "exec sleep 3600")])
    wait_running(ns, "exec")
    assert kubectl_ok("exec", "-i", "-n", ns, "exec", "--", "cat", stdin="hello\nworld\n",
                      env=stream_env) == "hello\nworld\n"
    data = os.urandom(3 * 1024 * 1024)
    p = kubectl_run("exec", "-i", "-n", ns, "exec", "--", "md5sum", stdin=data, text=False, timeout=120,
                    env=stream_env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0].decode() == hashlib.md5(data).hexdigest()
    # stdout and stderr stay apart.
    p = kubectl_run("exec", "-n", ns, "exec", "--", "sh", "-c", "echo to-out; echo to-err >&2", env=stream_env)
    assert (p.returncode, p.stdout, p.stderr) == (0, "to-out\n", "to-err\n")


def test_exec_exit_code(ns, stream_env):
    make_pod(ns, "exit", [ctr("c", "exec sleep 3600")])
    wait_running(ns, "exit")
    p = kubectl_run("exec", "-n", ns, "exit", "--", "sh", "-c", "echo before; exit 3", env=stream_env)
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == "before\n"
    assert kubectl_run("exec", "-n", ns, "exit", "--", "true", env=stream_env).returncode == 0
    p = kubectl_run("exec", "-n", ns, "exit", "--", "/no/such/binary", env=stream_env)
    assert p.returncode != 0


def test_exec_tty(ns, stream_env):
    """kubectl exec -it under a pty: the shell has a terminal of the client's size, runs what is
    typed, and the exit code comes back."""
    make_pod(ns, "tty", [ctr("c", "exec sleep 3600")])
    wait_running(ns, "tty")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    p = subprocess.Popen([str(HACK / "kubectl.sh"), "exec", "-it", "-n", ns, "tty", "--", "sh"],
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True, env=stream_env)
    os.close(slave)
    out = Reader(fd=master)
    try:
        out.wait_for("# ", timeout=60)  # the shell's prompt: the session is up
        os.write(master, b"tty; stty size; echo MARK-$((6*7))\n")
        text = out.wait_for("MARK-42", timeout=60)
        os.write(master, b"exit 5\n")
        assert p.wait(timeout=60) == 5
        text = out.text()
        assert re.search(r"/dev/pts/\d+", text), text
        assert "33 111" in text, text
    finally:
        stop(p)
        os.close(master)


def test_attach_stdin(ns, stream_env):
    """kubectl attach -i to a container reading its stdin: lines typed come back; closing stdin
    (stdinOnce) ends the container and the attach."""
    script = "while read l; do echo got:$l; done; echo stdin-closed"
    make_pod(ns, "attach", [ctr("c", script, stdin=True, stdinOnce=True)])
    wait_running(ns, "attach")
    p, out = kubectl_popen("attach", "-i", "-n", ns, "attach", "-c", "c", stdin=subprocess.PIPE, env=stream_env)
    try:
        p.stdin.write(b"ping-1\n")
        p.stdin.flush()
        out.wait_for("got:ping-1\n")
        p.stdin.write(b"ping-2\n")
        p.stdin.flush()
        out.wait_for("got:ping-2\n")
        p.stdin.close()
        out.wait_end(timeout=60)
        assert p.wait(timeout=30) == 0, out.text()
    finally:
        stop(p)
    wait_phase(ns, "attach", ("Succeeded",))
    assert logs(ns, "attach") == "got:ping-1\ngot:ping-2\nstdin-closed\n"


# ------------------------------------------------------------------------------ port-forward, cp

def test_port_forward_http(ns, stream_env):
    script = ("echo pf-marker-4711 > /tmp/index.html; head -c 1048576 /dev/urandom > /tmp/big; "
              "md5sum /tmp/big | cut -d' ' -f1 > /tmp/big.md5; exec httpd -f -p 8080 -h /tmp")
    make_pod(ns, "web", [ctr("c", script, ports=[{"containerPort": 8080}])])
    wait_running(ns, "web")
    p, out = kubectl_popen("port-forward", "-n", ns, "pod/web", ":8080", env=stream_env)
    try:
        text = out.wait_for(" -> 8080", timeout=60)
        port = int(re.search(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", text).group(1))
        base = f"http://127.0.0.1:{port}"
        r = in_netns("curl", "-sf", "--max-time", "20", f"{base}/index.html")
        assert (r.returncode, r.stdout) == (0, "pf-marker-4711\n"), r.stderr
        # A second connection, carrying 1 MiB.
        r = in_netns("sh", "-c", f"curl -sf --max-time 30 {base}/big | md5sum", timeout=60)
        want = in_netns("curl", "-sf", "--max-time", "20", f"{base}/big.md5").stdout.strip()
        assert r.returncode == 0 and r.stdout.split()[0] == want and len(want) == 32
        assert p.poll() is None, "port-forward ended after the requests"
    finally:
        stop(p)


def test_cp_both_directions(ns, tmp_path, stream_env):
    make_pod(ns, "cp", [ctr("c", "exec sleep 3600")])
    wait_running(ns, "cp")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    blob = os.urandom(300 * 1024)
    (src / "a.bin").write_bytes(blob)
    (src / "sub" / "b.txt").write_text("bee\n")
    kubectl_ok("cp", str(src), f"{ns}/cp:/tmp/dst", timeout=120, env=stream_env)
    sums = exec_in(ns, "cp", "md5sum", "/tmp/dst/a.bin", "/tmp/dst/sub/b.txt").split()
    assert sums[0] == hashlib.md5(blob).hexdigest()
    assert sums[2] == hashlib.md5(b"bee\n").hexdigest()

    exec_in(ns, "cp", "sh", "-c", "echo made-in-pod > /tmp/dst/pod.txt")
    back = tmp_path / "back"
    kubectl_ok("cp", f"{ns}/cp:/tmp/dst", str(back), timeout=120, env=stream_env)
    assert (back / "a.bin").read_bytes() == blob
    assert (back / "sub" / "b.txt").read_text() == "bee\n"
    assert (back / "pod.txt").read_text() == "made-in-pod\n"


# ---------------------------------------------------------------------------------------- top

def test_top_node(shared_pod):
    def numbers():
        p = kubectl_run("top", "node", NODE_NAME, "--no-headers")
        m = re.match(rf"^{re.escape(NODE_NAME)}\s+(\d+)m\s+\d+%\s+(\d+)Mi\s+\d+%", p.stdout)
        return m and int(m.group(2)) > 0 and m
    wait_until("kubectl top node to show numbers", numbers, timeout=120, interval=2)


def test_top_pod(shared_pod):
    ns, name = shared_pod

    def numbers():
        p = kubectl_run("top", "pod", "-n", ns, "--no-headers")
        return re.search(rf"^{name}\s+\d+m\s+\d+Mi\s*$", p.stdout, re.M)
    wait_until("kubectl top pod to list the pod", numbers, timeout=120, interval=2)
    p = kubectl_run("top", "pod", "-n", ns, name, "--containers", "--no-headers")
    assert re.search(rf"^{name}\s+tick\s+\d+m\s+\d+Mi", p.stdout, re.M), p.stdout + p.stderr


# ------------------------------------------------------------------- authentication, authorization

@pytest.fixture(scope="module")
def nobody_cert(tmp_path_factory):
    """A client certificate from the cluster CA for a user no RBAC rule mentions."""
    d = tmp_path_factory.mktemp("nobody")
    key, csr, crt, ext = d / "n.key", d / "n.csr", d / "n.crt", d / "ext"
    ext.write_text("extendedKeyUsage=clientAuth\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-subj", "/CN=e2e-kubelet-api-nobody", "-out", csr], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", PKI / "ca.crt", "-CAkey", PKI / "ca.key",
                    "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "1",
                    "-extfile", ext, "-out", crt], check=True, capture_output=True)
    return crt, key


def test_no_credentials_is_401():
    for path in ("/healthz", "/pods", "/stats/summary", "/metrics", "/metrics/resource",
                 "/containerLogs/default/demo/web", "/configz"):
        status, _, body = curl_kubelet(path)
        assert (status, body) == (401, "Unauthorized"), path
    status, _, body = curl_kubelet("/healthz", token="not-a-valid-token")
    assert (status, body) == (401, "Unauthorized")


def test_client_cert_without_rbac_is_403(nobody_cert):
    user = "e2e-kubelet-api-nobody"
    cases = {"/healthz": ["healthz", "proxy"], "/pods": ["pods", "proxy"], "/stats/summary": ["stats"],
             "/metrics": ["metrics"], "/metrics/resource": ["metrics"], "/configz": ["configz", "proxy"],
             "/containerLogs/default/demo/web": ["proxy"], "/logs/": ["log"]}
    for path, subs in cases.items():
        status, headers, body = curl_kubelet(path, cert=nobody_cert)
        assert status == 403, (path, status, body)
        assert body == forbidden_body(user, "get", subs) + "\n", (path, body)
        assert headers.get("content-type", "").startswith("text/plain"), headers
    status, _, body = curl_kubelet("/exec/default/demo/web?command=ls", cert=nobody_cert, method="POST")
    assert (status, body) == (403, forbidden_body(user, "create", ["proxy"]) + "\n")


def test_apiserver_kubelet_client_cert_is_200():
    for path in ("/healthz", "/pods", "/stats/summary", "/metrics", "/metrics/resource"):
        status, _, body = curl_kubelet(path, cert=APISERVER_CLIENT)
        assert status == 200, (path, status, body[:500])
        assert body, path
    assert curl_kubelet("/healthz", cert=APISERVER_CLIENT)[2] == "ok"
    pods = json.loads(curl_kubelet("/pods", cert=APISERVER_CLIENT)[2])
    assert pods["kind"] == "PodList"


def test_healthz_checks_configz_and_running_pods(shared_pod):
    """/healthz with its checks (verbose and one by one), /configz with the agent's configuration
    and /runningpods/ with the pods the runtime runs, as the apiserver's credentials read them."""
    ns, name = shared_pod
    status, _, body = curl_kubelet("/healthz?verbose", cert=APISERVER_CLIENT)
    assert status == 200, body
    lines = body.splitlines()
    assert lines[-1] == "healthz check passed" and {"[+]ping ok", "[+]log ok", "[+]syncloop ok"} <= set(lines), body
    assert curl_kubelet("/healthz/syncloop", cert=APISERVER_CLIENT)[::2] == (200, "ok")
    status, _, body = curl_kubelet("/configz", cert=APISERVER_CLIENT)
    assert status == 200, body
    config = json.loads(body)["kubeletconfig"]
    assert config["containerLogMaxSize"] == "1Mi" and config["staticPodPath"], config
    status, _, body = curl_kubelet("/runningpods/", cert=APISERVER_CLIENT)
    assert status == 200, body
    pods = json.loads(body)
    assert pods["kind"] == "PodList", pods
    ticker = [p for p in pods["items"] if (p["metadata"].get("namespace"), p["metadata"].get("name")) == (ns, name)]
    assert ticker and ticker[0]["metadata"]["uid"] == get_pod(ns, name)["metadata"]["uid"], pods
    assert [c["name"] for c in ticker[0]["spec"]["containers"]] == ["tick"], ticker


def test_service_account_token_authorized_by_rbac(ns):
    """Bearer tokens go through TokenReview and SubjectAccessReview: a service account bound to a
    ClusterRole with nodes/proxy may read /healthz, /pods and container logs (all nodes/proxy,
    with the fine-grained subresource tried first), not /stats (nodes/stats); one without is 403."""
    role = f"{ns}-nodes-proxy"
    kubectl("create", "serviceaccount", "-n", ns, "reader")
    kubectl("create", "serviceaccount", "-n", ns, "stranger")
    make_pod(ns, "logged", [ctr("c", "echo hello from logged; exec sleep 3600")])
    kubectl("create", "clusterrole", role, "--verb=get,create", "--resource=nodes/proxy")
    try:
        kubectl("create", "clusterrolebinding", role, f"--clusterrole={role}", f"--serviceaccount={ns}:reader")
        reader = f"system:serviceaccount:{ns}:reader"
        stranger = f"system:serviceaccount:{ns}:stranger"
        # Ask only once RBAC agrees: the agent caches a denial for 30 s.
        wait_until("RBAC to allow nodes/proxy", lambda: kubectl_run(
            "auth", "can-i", "get", "nodes", "--subresource=proxy", f"--as={reader}").stdout.strip() == "yes",
            timeout=30)
        token = kubectl("create", "token", "-n", ns, "reader").strip()
        wait_running(ns, "logged")
        wait_until("the pod's log line", lambda: logs(ns, "logged") == "hello from logged\n", timeout=30)
        other = kubectl("create", "token", "-n", ns, "stranger").strip()

        assert curl_kubelet("/healthz", token=token)[::2] == (200, "ok")
        status, _, body = curl_kubelet("/pods", token=token)
        assert status == 200 and json.loads(body)["kind"] == "PodList"
        assert curl_kubelet(f"/containerLogs/{ns}/logged/c", token=token)[::2] == (200, "hello from logged\n")
        assert curl_kubelet("/stats/summary", token=token)[::2] == (
            403, forbidden_body(reader, "get", ["stats"]) + "\n")
        assert curl_kubelet("/healthz", token=other)[::2] == (
            403, forbidden_body(stranger, "get", ["healthz", "proxy"]) + "\n")
    finally:
        kubectl("delete", "clusterrolebinding", role, "--ignore-not-found", check=False)
        kubectl("delete", "clusterrole", role, "--ignore-not-found", check=False)


# The upstream kubelet answers a path with `.`/`..` segments with a 307 to the cleaned path (Go's
# ServeMux, before authentication); encoded slashes stay inside one segment, which then names
# no route or no pod (404). Nothing is ever read outside what a route names.
TRAVERSALS = ["/containerLogs/../../etc/passwd", "/containerLogs/ns/pod/..%2F..%2Fetc",
              "/logs/../etc/shadow", "/logs/..%2F..%2Fetc/passwd", "/logs/%2e%2e/%2e%2e/etc/passwd",
              "/containerLogs/default/demo/web/../../../../etc/passwd",
              "/containerLogs/default/demo/..%2F..%2F..%2Fetc%2Fpasswd",
              "/containerLogs/%2e%2e/%2e%2e/..%2Fetc", "/stats/../../etc/passwd"]


def assert_nothing_read(body):
    for leak in ("root:", "daemon:", "/bin/sh", "/usr/sbin/nologin"):
        assert leak not in body, body[:500]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_paths_read_nothing(path):
    status, headers, body = curl_kubelet(path, cert=APISERVER_CLIENT)
    assert status in (307, 400, 404), (status, body[:500])
    assert_nothing_read(body)
    if status == 307:
        location = headers["location"]
        assert ".." not in location and location.startswith("/"), location
        # The redirect target is a plain path the agent serves nothing at, or the cleaned route.
        status2, _, body2 = curl_kubelet(location, cert=APISERVER_CLIENT)
        assert status2 in (400, 404), (location, status2, body2[:500])
        assert_nothing_read(body2)
    # Without credentials nothing is read either.
    status, _, body = curl_kubelet(path)
    assert status in (307, 400, 401, 404), (status, body[:500])
    assert_nothing_read(body)


def test_bad_path_parameters_are_404(shared_pod):
    ns, name = shared_pod
    cases = {f"/containerLogs/{ns}/no-such-pod/tick": 'pod "no-such-pod" does not exist',
             f"/containerLogs/{ns}/{name}/nope": f'container "nope" not found in pod "{name}"',
             f"/containerLogs/{ns}/{name}": "404: Page Not Found"}
    for path, message in cases.items():
        status, _, body = curl_kubelet(path, cert=APISERVER_CLIENT)
        assert (status, body) == (404, message), path
    status, _, body = curl_kubelet(f"/containerLogs/{ns}/{name}/tick?tailLines=1", cert=APISERVER_CLIENT)
    assert status == 200 and re.fullmatch(r"tick-\d+\n", body), body


# ---------------------------------------------------------------------------- stats and metrics

def test_stats_summary(shared_pod):
    ns, name = shared_pod

    def summary_with_pod():
        status, _, body = curl_kubelet("/stats/summary", cert=APISERVER_CLIENT)
        assert status == 200, body[:500]
        s = json.loads(body)
        for p in s.get("pods", []):
            ref = p.get("podRef", {})
            if (ref.get("namespace"), ref.get("name")) != (ns, name):
                continue
            c = next((c for c in p.get("containers", []) if c.get("name") == "tick"), None)
            if (c and c.get("cpu", {}).get("usageCoreNanoSeconds", 0) > 0
                    and c.get("memory", {}).get("workingSetBytes", 0) > 0
                    and p.get("cpu", {}).get("usageCoreNanoSeconds", 0) > 0
                    and p.get("memory", {}).get("workingSetBytes", 0) > 0):
                return s, p
        return None
    s, p = wait_until("the pod's stats in /stats/summary", summary_with_pod, timeout=90, interval=2)
    node = s["node"]
    assert node["nodeName"] == NODE_NAME
    assert node["cpu"]["usageCoreNanoSeconds"] > 0 and node["memory"]["workingSetBytes"] > 0
    assert node["memory"]["workingSetBytes"] <= node["memory"]["usageBytes"] or "usageBytes" not in node["memory"]
    assert p["podRef"]["uid"] == get_pod(ns, name)["metadata"]["uid"]
    assert "startTime" in p


def test_metrics_endpoints(shared_pod):
    ns, name = shared_pod
    status, headers, body = curl_kubelet("/metrics", cert=APISERVER_CLIENT)
    assert status == 200 and headers["content-type"].startswith("text/plain"), headers
    for family in ("kubelet_running_pods", "kubelet_running_containers", "kubelet_runtime_operations_total"):
        assert re.search(rf"^# TYPE {family} ", body, re.M), family
        assert re.search(rf"^{family}(\{{[^}}]*\}})? \d", body, re.M), family
    running = int(float(re.search(r"^kubelet_running_pods (\S+)", body, re.M).group(1)))
    assert running >= 1

    def container_sample():
        st, _, b = curl_kubelet("/metrics/resource", cert=APISERVER_CLIENT)
        assert st == 200
        m = re.search(rf'^container_cpu_usage_seconds_total\{{container="tick",namespace="{ns}",pod="{name}"\}} '
                      r'(\S+) \d+$', b, re.M)
        return m and float(m.group(1)) > 0 and b
    body = wait_until("the pod's container in /metrics/resource", container_sample, timeout=90, interval=2)
    for family in ("node_cpu_usage_seconds_total", "node_memory_working_set_bytes",
                   "container_memory_working_set_bytes", "container_start_time_seconds",
                   "pod_cpu_usage_seconds_total", "pod_memory_working_set_bytes"):
        assert re.search(rf"^{family}(\{{[^}}]*\}})? \S+", body, re.M), family


def test_agnhost_exec_and_logs(ns):
    """agnhost, the upstream e2e suite's image, through exec and logs as the conformance tests use it."""
    make_pod(ns, "agn", [{"name": "c", "image": AGNHOST, "args": ["pause"]}])
    wait_running(ns, "agn")
    assert exec_in(ns, "agn", "/agnhost", "--version").startswith("app version")
    wait_until("agnhost's log line", lambda: "Paused" in logs(ns, "agn"), timeout=30)
