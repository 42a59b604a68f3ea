#!/usr/bin/env python3
"""Node benchmarks, cubelet and the upstream kubelet side by side (driven by hack/bench.sh).

Runs inside the local cluster's network namespace with the cluster up. Talks to the
apiserver with the admin certificate (stdlib HTTPS, so that the client adds no process start
per pod), watches the benchmark namespace for the moments a pod runs and goes away, reads
the node agent's RSS and CPU from /proc, counts the node's API requests in the apiserver's
audit log, and runs cri-floor for the runtime's own time. Switches agents with hack/up.sh.

Every figure is printed; none makes the run fail. The run fails only when something did
not work (a pod never ran, an agent did not come up).
"""
import argparse
import datetime
import http.client
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import queue

NS = "bench"
LABEL = "cubelet.dev/bench"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values, p):
    """Nearest-rank percentile (the same rule as cri-floor)."""
    if not values:
        return None
    v = sorted(values)
    rank = max(1, min(len(v), int(-(-p * len(v) // 100))))
    return v[rank - 1]


class Api:
    """A tiny Kubernetes API client: one TLS connection per thread, admin credentials."""

    def __init__(self, host, port, pki):
        self.host, self.port = host, port
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        self.local = threading.local()

    def conn(self, fresh=False):
        c = getattr(self.local, "conn", None)
        if c is None or fresh:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=120)
            self.local.conn = c
        return c

    def send(self, method, path, body=None, accept="application/json"):
        """One request on this thread's connection, on a fresh one when that fails (the
        apiserver may have closed an idle connection); returns (status, payload bytes)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": accept}
        for attempt in range(3):
            c = self.conn(fresh=attempt > 0)
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")  # pragma: no cover

    def request(self, method, path, body=None, ok=(200, 201, 202)):
        status, payload = self.send(method, path, body)
        if status not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {payload[:300]!r}")
        return status, (json.loads(payload) if payload else None)

    def request_text(self, path):
        """A GET whose answer is text (e.g. /metrics)."""
        status, payload = self.send("GET", path, accept="text/plain")
        text = payload.decode()
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {text[:300]!r}")
        return status, text

    def watch(self, path):
        """Yields the events of a watch (blocking); the caller's thread owns the connection."""
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=3600)
        c.request("GET", path, headers={"Accept": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"watch {path}: HTTP {r.status}: {r.read()[:300]!r}")
        return c, r


class PodWatch:
    """Watches the benchmark namespace; remembers when each pod was first seen Running and
    when it was deleted (the watch's DELETED event), in time.time() seconds."""

    def __init__(self, api):
        _, lst = api.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={LABEL}")
        rv = lst["metadata"]["resourceVersion"]
        self.running, self.gone, self.failed = {}, {}, {}
        self.cv = threading.Condition()
        self.conn, self.resp = api.watch(
            f"/api/v1/namespaces/{NS}/pods?watch=1&labelSelector={LABEL}&resourceVersion={rv}"
            "&allowWatchBookmarks=false")
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    raise RuntimeError("the watch ended")
                now = time.time()
                ev = json.loads(line)
                obj = ev.get("object", {})
                if ev.get("type") == "ERROR":
                    raise RuntimeError(f"watch error: {obj}")
                name = obj.get("metadata", {}).get("name")
                phase = obj.get("status", {}).get("phase")
                with self.cv:
                    if ev["type"] == "DELETED":
                        self.gone.setdefault(name, now)
                    elif phase == "Running":
                        self.running.setdefault(name, now)
                    elif phase == "Failed":
                        self.failed.setdefault(name, obj.get("status", {}).get("message", ""))
                    self.cv.notify_all()
        except Exception as e:  # noqa: BLE001 - reported to the waiter
            with self.cv:
                self.error = e
                self.cv.notify_all()

    def wait(self, names, table, timeout):
        deadline = time.time() + timeout
        with self.cv:
            while True:
                if self.error:
                    raise RuntimeError(f"pod watch: {self.error}")
                missing = [n for n in names if n not in table]
                bad = [n for n in missing if n in self.failed] if table is self.running else []
                if bad:
                    raise RuntimeError(f"pod {NS}/{bad[0]} failed: {self.failed[bad[0]]}")
                if not missing:
                    return
                left = deadline - time.time()
                if left <= 0:
                    raise RuntimeError(f"{len(missing)} pods (e.g. {NS}/{missing[0]}) not done after {timeout}s")
                self.cv.wait(min(left, 1.0))

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


class Bench:
    def __init__(self, args):
        self.a = args
        self.api = Api(args.apiserver_host, args.apiserver_port, args.pki)
        self.results = {"cubelet": {}, "upstream": {}, "floor": {}}
        self.seq = 0
        self.agent = None

    # ---- helpers -------------------------------------------------------------------------
    def add(self, agent, key, values):
        self.results[agent].setdefault(key, []).extend(values if isinstance(values, list) else [values])

    def pod(self, name):
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {LABEL: "true"}},
            "spec": {
                # Bound to the node directly: the figures are the node agent's, not the scheduler's.
                "nodeName": self.a.node_name,
                "containers": [{
                    "name": "main", "image": self.a.image,
                    # Exits on SIGTERM at once, so a deletion measures the agent, not a grace period.
                    "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
                }],
            },
        }

    def add_batch(self, agent, key, what, times, t0):
        """Each pod's time and the batch's (from t0 to the last pod) of a burst or deletion."""
        last = max(v[1] for v in times.values())
        self.add(agent, f"{key}_ms", [(v[1] - v[0]) * 1000 for v in times.values()])
        self.add(agent, f"{key}_batch_ms", (last - t0) * 1000)
        log(f"  {agent} {key}: {what} after {(last - t0):.1f}s")

    def names(self, n):
        self.seq += 1
        return [f"b{self.seq}-{i}" for i in range(n)]

    def parallel(self, fn, items, workers):
        """Runs fn(item) on `workers` threads (each with its own connection); returns when all did."""
        q = queue.Queue()
        for it in items:
            q.put(it)
        errors = []

        def work():
            while True:
                try:
                    it = q.get_nowait()
                except queue.Empty:
                    return
                try:
                    fn(it)
                except Exception as e:  # noqa: BLE001
                    errors.append(e)

        ts = [threading.Thread(target=work) for _ in range(min(workers, len(items)))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]

    def at_once(self, names, send, watch, seen):
        """Sends one request per pod (`send(name)`) over the client connections, then waits until
        the watch has each pod in `seen`; returns {name: (sent_at, seen_at)}."""
        sent = {}

        def one(n):
            sent[n] = time.time()
            send(n)

        self.parallel(one, names, self.a.clients)
        watch.wait(names, seen, self.a.timeout)
        return {n: (sent[n], seen[n]) for n in names}

    def create(self, names, watch):
        return self.at_once(names, lambda n: self.api.request("POST", f"/api/v1/namespaces/{NS}/pods", self.pod(n)),
                            watch, watch.running)

    def delete(self, names, watch):
        return self.at_once(names, lambda n: self.api.request("DELETE", f"/api/v1/namespaces/{NS}/pods/{n}"),
                            watch, watch.gone)

    def agent_pid(self, agent):
        with open(os.path.join(self.a.state, "pids", f"{agent}.pid")) as f:
            return int(f.read().strip())

    def footprint(self, agent, pods):
        """Steady state: settle, then RSS and CPU over the measuring window."""
        time.sleep(self.a.settle)
        pid = self.agent_pid(agent)
        tick = os.sysconf("SC_CLK_TCK")

        def cpu():
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

        def rss():
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
            return 0.0

        c0, t0 = cpu(), time.time()
        samples = []
        while time.time() - t0 < self.a.cpu_window:
            samples.append(rss())
            time.sleep(min(5, self.a.cpu_window))
        c1, t1 = cpu(), time.time()
        samples.append(rss())
        cpu_pct = 100.0 * (c1 - c0) / (t1 - t0)
        self.add(agent, f"rss_mib_{pods}", statistics.median(samples))
        self.add(agent, f"cpu_pct_{pods}", cpu_pct)
        log(f"  {agent} with {pods} pods: RSS {statistics.median(samples):.1f} MiB, CPU {cpu_pct:.2f}% of a core")

    # ---- audit log -----------------------------------------------------------------------
    def audit(self, t_from, t_to):
        """The node agent's requests between two times: (bench-namespace ones by verb+resource, all)."""
        user = f"system:node:{self.a.node_name}"
        per, everything = {}, 0
        paths = [self.a.audit_log + ".1", self.a.audit_log] if os.path.exists(self.a.audit_log + ".1") else [self.a.audit_log]
        # The apiserver writes audit events as requests complete; give it a moment.
        time.sleep(1)
        for path in paths:
            with open(path, errors="replace") as f:
                for line in f:
                    if user not in line:
                        continue
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if ev.get("user", {}).get("username") != user:
                        continue
                    if ev.get("stage") not in ("ResponseComplete", "Panic", "ResponseStarted"):
                        continue
                    if ev.get("stage") == "ResponseComplete" and ev.get("verb") == "watch":
                        continue  # counted at ResponseStarted
                    ts = datetime.datetime.fromisoformat(ev["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
                    if not (t_from <= ts < t_to):
                        continue
                    everything += 1
                    ref = ev.get("objectRef", {})
                    if ref.get("namespace") == NS:
                        key = ev["verb"] + " " + ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")
                        per[key] = per.get(key, 0) + 1
        return per, everything

    # ---- agents --------------------------------------------------------------------------
    def switch(self, agent):
        if self.agent == agent:
            return
        log(f"node agent -> {agent}")
        with open(os.path.join(self.a.report_dir, "up.log"), "a") as out:
            subprocess.run([os.path.join(self.a.hack, "up.sh"), f"--node-agent={agent}", "--skip-deps"],
                           check=True, stdout=out, stderr=out)
        self.agent = agent

    def stop_agent(self):
        subprocess.run(["bash", "-c", f". '{self.a.hack}/lib/common.sh'; . '{self.a.hack}/lib/cluster.sh'; "
                        "for a in cubelet upstream; do proc_stop $a 30; done"], check=True, stderr=subprocess.DEVNULL)
        self.agent = None

    # ---- scenarios -----------------------------------------------------------------------
    def round(self, agent):
        # Every round starts the agent afresh: no agent carries the heap of an earlier round.
        self.stop_agent()
        self.switch(agent)
        watch = PodWatch(self.api)
        try:
            self.footprint(agent, 0)
            # 1: single pods, one at a time.
            for n in self.names(self.a.single):
                t = self.create([n], watch)[n]
                self.add(agent, "single_ms", (t[1] - t[0]) * 1000)
                d = self.delete([n], watch)[n]
                self.add(agent, "single_delete_ms", (d[1] - d[0]) * 1000)
            # 2-5: bursts; the pods stay for the footprint, then all go at once.
            for size in self.a.bursts:
                names = self.names(size)
                t0 = time.time()
                self.add_batch(agent, f"burst{size}", "all running", self.create(names, watch), t0)
                self.footprint(agent, size)
                t1 = time.time()
                self.add_batch(agent, f"delete{size}", "all gone", self.delete(names, watch), t1)
                if size == self.a.api_burst:
                    time.sleep(2)  # late writes of the deleted pods (none expected)
                    per_run, all_run = self.audit(t0, t1)
                    per_del, all_del = self.audit(t1, time.time())
                    self.add(agent, "api_run", [{"per": per_run, "all": all_run, "pods": size}])
                    self.add(agent, "api_delete", [{"per": per_del, "all": all_del, "pods": size}])
            if agent == "cubelet":
                self.start_phases(self.a.single + sum(self.a.bursts))
        finally:
            watch.close()

    PHASE_METRIC = "kubelet_pod_start_phase_duration_seconds"

    def start_phases(self, started):
        """Cubelet's start-up breakdown from its /metrics (through the apiserver's node proxy):
        this round's agent started `started` benchmark pods (and perhaps others), and each must
        have reported its phases."""
        _, text = self.api.request_text(f"/api/v1/nodes/{self.a.node_name}/proxy/metrics")
        sums, counts = {}, {}
        for line in text.splitlines():
            for suffix, into in (("_sum{", sums), ("_count{", counts)):
                if line.startswith(self.PHASE_METRIC + suffix):
                    phase = line.split('phase="', 1)[1].split('"', 1)[0]
                    into[phase] = float(line.rsplit(" ", 1)[1])
        if counts.get("start", 0) < started:
            raise RuntimeError(f"cubelet reported start-up phases for {counts.get('start', 0):.0f} of the {started} pods "
                               f"it started ({self.PHASE_METRIC} on /metrics)")
        for phase, n in counts.items():
            self.add("cubelet", f"phase_{phase}", [{"sum": sums.get(phase, 0.0), "count": n}])

    def floor(self):
        """The CRI floor: no agent runs (it would stop pods it does not know)."""
        self.stop_agent()
        work = tempfile.mkdtemp(prefix="cri-floor-")
        tokdir, logs, podfile = os.path.join(work, "token"), os.path.join(work, "logs"), os.path.join(work, "pod.json")
        try:
            os.makedirs(tokdir)
            os.makedirs(logs)
            for f, content in (("token", "x" * 900), ("ca.crt", "-----BEGIN CERTIFICATE-----\n"), ("namespace", NS)):
                with open(os.path.join(tokdir, f), "w") as fh:
                    fh.write(content)
            with open(podfile, "w") as fh:
                json.dump(self.pod("floor"), fh)

            def run(count, burst):
                out = subprocess.run(
                    [self.a.cri_floor, "--runtime-endpoint", "unix://" + self.a.containerd_sock, "--pod", podfile,
                     "--count", str(count), "--burst", str(burst), "--node-ip", self.a.node_ip,
                     "--cluster-dns", self.a.cluster_dns, "--cluster-domain", "cluster.local",
                     "--resolv-conf", "/etc/resolv.conf", "--pod-logs-dir", logs, "--cgroup-root", "/cri-floor",
                     "--mount", tokdir + ":/var/run/secrets/kubernetes.io/serviceaccount"],
                    check=True, stdout=subprocess.PIPE, text=True)
                return json.loads(out.stdout)

            for _ in range(self.a.rounds):
                r = run(self.a.single, 1)
                self.add("floor", "single_ms", r["pods_ms"])
                for size in self.a.bursts:
                    r = run(size, size)
                    self.add("floor", f"burst{size}_ms", r["pods_ms"])
                    self.add("floor", f"burst{size}_batch_ms", r["batches_ms"])
            log(f"  CRI floor: single p50 {pct(self.results['floor']['single_ms'], 50):.0f} ms")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def prepare(self):
        s, _ = self.api.request("GET", f"/api/v1/namespaces/{NS}", ok=(200, 404))
        if s == 404:
            self.api.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for _ in range(120):
            s, _ = self.api.request("GET", f"/api/v1/namespaces/{NS}/serviceaccounts/default", ok=(200, 404))
            if s == 200:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"no default service account in namespace {NS}")
        # Leftovers of an interrupted run.
        _, lst = self.api.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={LABEL}")
        if lst["items"]:
            log(f"deleting {len(lst['items'])} pods left by an earlier run")
            self.api.request("DELETE", f"/api/v1/namespaces/{NS}/pods?labelSelector={LABEL}&gracePeriodSeconds=0")

    def run(self):
        self.prepare()
        order = self.a.agents
        for r in range(self.a.rounds):
            for agent in (order if r % 2 == 0 else order[::-1]):
                log(f"round {r + 1}/{self.a.rounds}: {agent}")
                self.round(agent)
        if not self.a.no_floor:
            self.floor()
        self.switch(self.a.leave_agent)
        return self.results


# ---- the table ---------------------------------------------------------------------------
def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float):
        v = f"{v:.1f}" if abs(v) < 100 else f"{v:.0f}"
    return f"{v}{unit}"


def ratio(c, u):
    if c is None or u is None or u == 0:
        return "-"
    return f"{c / u:.2f}"


def table(res, a):
    rows = []
    c, u, f = res["cubelet"], res["upstream"], res["floor"]

    def row(label, key, fn, floor=True):
        cv = fn(c.get(key)) if c.get(key) else None
        uv = fn(u.get(key)) if u.get(key) else None
        fv = fn(f.get(key)) if floor and f.get(key) else None
        rows.append((label, fmt(cv), fmt(uv), ratio(cv, uv), fmt(fv)))

    p = lambda q: (lambda v: pct(v, q))  # noqa: E731
    row(f"single pod create->Running p50 (ms, n={len(c.get('single_ms', []))})", "single_ms", p(50))
    row("single pod create->Running p99 (ms)", "single_ms", p(99))
    for size in a.bursts:
        for q in (50, 90, 99):
            row(f"burst {size}: create->Running p{q} (ms)", f"burst{size}_ms", p(q))
        row(f"burst {size}: whole batch running (ms, median of rounds)", f"burst{size}_batch_ms", statistics.median)
    for size in a.bursts:
        for q in (50, 99):
            row(f"deletion burst {size}: delete->gone p{q} (ms)", f"delete{size}_ms", p(q), floor=False)
        row(f"deletion burst {size}: whole batch gone (ms, median)", f"delete{size}_batch_ms", statistics.median, floor=False)
    row("single pod delete->gone p50 (ms)", "single_delete_ms", p(50), floor=False)
    for pods in [0] + list(a.bursts):
        row(f"RSS with {pods} pods (MiB, median of rounds)", f"rss_mib_{pods}", statistics.median, floor=False)
        row(f"CPU with {pods} pods (% of a core over {a.cpu_window}s)", f"cpu_pct_{pods}", statistics.median, floor=False)
    for phase, key in (("to Running", "api_run"), ("deletion", "api_delete")):
        def per_pod(runs, which):
            return statistics.median([(sum(x["per"].values()) if which == "ns" else x["all"]) / x["pods"] for x in runs])
        row(f"API requests per pod, {phase} (pod's namespace)", key, lambda v: per_pod(v, "ns"), floor=False)
        row(f"API requests per pod, {phase} (all node requests)", key, lambda v: per_pod(v, "all"), floor=False)
    # The agent's own time over the runtime's.
    for agent, d in (("cubelet", c), ("upstream", u)):
        if d.get("single_ms") and f.get("single_ms"):
            res.setdefault("overhead_ms", {})[agent] = pct(d["single_ms"], 50) - pct(f["single_ms"], 50)
    if "overhead_ms" in res:
        o = res["overhead_ms"]
        rows.append(("overhead above the CRI floor, single pod p50 (ms)", fmt(o.get("cubelet")), fmt(o.get("upstream")),
                     ratio(o.get("cubelet"), o.get("upstream")), "-"))
    head = ("figure", "cubelet", "upstream kubelet", "cubelet/upstream", "CRI floor")
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def phases(res):
    """Cubelet's start-up phases: the mean over every pod it started, from its /metrics."""
    order = ["admission", "cgroups", "volumes", "sandbox", "image", "create", "start", "status_write"]
    parts, pods = [], 0
    for phase in order:
        runs = res["cubelet"].get(f"phase_{phase}", [])
        n = sum(x["count"] for x in runs)
        if n:
            parts.append(f"{phase} {1000 * sum(x['sum'] for x in runs) / n:.1f}")
            pods = max(pods, int(n))
    return f"cubelet's start-up phases, mean ms over {pods} pods: " + ", ".join(parts) if parts else ""


def breakdown(res):
    """API requests by verb and resource, per pod (median over rounds)."""
    lines = []
    for key, title in (("api_run", "create -> Running"), ("api_delete", "delete -> gone")):
        for agent in ("cubelet", "upstream"):
            runs = res[agent].get(key, [])
            if not runs:
                continue
            keys = sorted({k for x in runs for k in x["per"]})
            parts = [f"{k} {statistics.median([x['per'].get(k, 0) / x['pods'] for x in runs]):.2f}" for k in keys]
            lines.append(f"- {agent}, {title}: " + (", ".join(parts) or "none"))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hack", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--pki", required=True)
    ap.add_argument("--apiserver-host", required=True)
    ap.add_argument("--apiserver-port", type=int, required=True)
    ap.add_argument("--node-name", required=True)
    ap.add_argument("--node-ip", required=True)
    ap.add_argument("--cluster-dns", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--containerd-sock", required=True)
    ap.add_argument("--cri-floor", required=True)
    ap.add_argument("--audit-log", required=True)
    ap.add_argument("--report-dir", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--single", type=int, default=10, help="single pods per round")
    ap.add_argument("--bursts", default="30,100")
    ap.add_argument("--api-burst", type=int, default=30, help="the burst whose API requests are counted")
    ap.add_argument("--cpu-window", type=int, default=60)
    ap.add_argument("--settle", type=int, default=10)
    ap.add_argument("--clients", type=int, default=10, help="concurrent API connections for bursts")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--leave-agent", default="cubelet")
    ap.add_argument("--agents", default="cubelet,upstream", help="for trying a change: e.g. cubelet alone")
    ap.add_argument("--no-floor", action="store_true", help="for trying a change: skip the CRI floor")
    ap.add_argument("--table-only", help="print the table of an earlier results.json")
    a = ap.parse_args()
    a.bursts = [int(x) for x in a.bursts.split(",") if x]
    a.agents = [x for x in a.agents.split(",") if x]
    if not a.agents or any(x not in ("cubelet", "upstream") for x in a.agents):
        ap.error("--agents: cubelet and/or upstream")
    if a.table_only:
        with open(a.table_only) as f:
            res = json.load(f)
    else:
        os.makedirs(a.report_dir, exist_ok=True)
        res = Bench(a).run()
        res["settings"] = {k: v for k, v in vars(a).items() if k in ("rounds", "single", "bursts", "cpu_window", "settle", "clients")}
        with open(os.path.join(a.report_dir, "results.json"), "w") as f:
            json.dump(res, f, indent=1)
    out = (table(res, a) + "\n\nAPI requests per pod by verb and resource:\n" + breakdown(res) + "\n\n" +
           phases(res) + "\n")
    if not a.table_only:
        with open(os.path.join(a.report_dir, "table.md"), "w") as f:
            f.write(out)
    print(out)


if __name__ == "__main__":
    main()
