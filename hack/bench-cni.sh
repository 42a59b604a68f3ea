#!/usr/bin/env bash
# Times CNI ADD (and DEL) of cubelet-cni beside Debian's bridge + host-local plugins, on the
# same machine, the same /24 and the same kind of throwaway namespaces: a "node" namespace
# standing in for the host and a fresh pod namespace per run. Each plugin is exec'd exactly as
# a runtime does (environment + config on stdin), so process start-up counts, as it does for
# a real pod. Runs alternate between the two plugins. No cluster is needed; nothing outside
# the namespaces it creates (and removes) is touched.
#
# Usage: hack/bench-cni.sh [RUNS]   (default 100)
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
[ "$(id -u)" = 0 ] || die "hack/bench-cni.sh must run as root (network namespaces)"
RUNS=${1:-100}
PLUGIN=$BUILD_DIR/bin/cubelet-cni
if [ ! -x "$PLUGIN" ]; then
  cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$BUILD_DIR" cubelet-cni >/dev/null
fi
[ -x /usr/lib/cni/bridge ] || die "Debian's containernetworking-plugins are needed for the comparison (hack/install-deps.sh)"

exec python3 - "$RUNS" "$PLUGIN" <<'PY'
import ctypes, json, os, shutil, statistics, subprocess, sys, tempfile, time

runs, plugin = int(sys.argv[1]), sys.argv[2]
libc = ctypes.CDLL("libc.so.6", use_errno=True)
CLONE_NEWNET = 0x40000000
tag = f"cnibench-{os.getpid()}"

def ip(*args):
    subprocess.run(["ip", *args], check=True)

def enter(path):
    fd = os.open(path, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), f"setns {path}")
    os.close(fd)

work = tempfile.mkdtemp(prefix="cnibench-")
node = f"{tag}-node"
ip("netns", "add", node)
pods = []
results = {"cubelet-cni": {"ADD": [], "DEL": []}, "debian bridge+host-local": {"ADD": [], "DEL": []}}
confs = {
    "cubelet-cni": {"cniVersion": "1.0.0", "name": "bench-cubelet", "type": "cubelet-cni", "bridge": "cbench0",
                    "hairpinMode": True, "ipam": {"ranges": [{"subnet": "10.250.0.0/24"}], "dataDir": f"{work}/cubelet"}},
    "debian bridge+host-local": {"cniVersion": "1.0.0", "name": "bench-debian", "type": "bridge", "bridge": "dbench0",
                                 "isGateway": False, "ipMasq": False, "hairpinMode": True,
                                 "ipam": {"type": "host-local", "dataDir": f"{work}/debian",
                                          "ranges": [[{"subnet": "10.251.0.0/24", "gateway": "10.251.0.1"}]],
                                          "routes": [{"dst": "0.0.0.0/0", "gw": "10.251.0.1"}]}},
}
binaries = {"cubelet-cni": plugin, "debian bridge+host-local": "/usr/lib/cni/bridge"}
try:
    enter(f"/run/netns/{node}")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    def call(name, command, cid, netns):
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": "eth0",
               "CNI_PATH": "/usr/lib/cni", "PATH": os.environ["PATH"]}
        t0 = time.perf_counter()
        p = subprocess.run([binaries[name]], input=json.dumps(confs[name]), env=env, capture_output=True, text=True)
        dt = (time.perf_counter() - t0) * 1000
        if p.returncode != 0:
            raise RuntimeError(f"{name} {command} failed: {p.stdout} {p.stderr}")
        results[name][command].append(dt)
    for i in range(runs):
        for name in (list(binaries) if i % 2 == 0 else list(reversed(list(binaries)))):
            pod = f"{tag}-p{i}-{'c' if name == 'cubelet-cni' else 'd'}"
            subprocess.run(["ip", "netns", "add", pod], check=True)
            pods.append(pod)
            call(name, "ADD", f"c{i}", f"/run/netns/{pod}")
            call(name, "DEL", f"c{i}", f"/run/netns/{pod}")
            subprocess.run(["ip", "netns", "del", pod], check=True)
            pods.remove(pod)
finally:
    for pod in pods:
        subprocess.run(["ip", "netns", "del", pod])
    subprocess.run(["ip", "netns", "del", node])
    shutil.rmtree(work, ignore_errors=True)

def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]

print(f"CNI ADD/DEL, {runs} runs each, alternating; ms per exec (process start included)")
print(f"{'plugin':28} {'ADD p50':>8} {'ADD p90':>8} {'DEL p50':>8} {'DEL p90':>8}")
for name, r in results.items():
    print(f"{name:28} {statistics.median(r['ADD']):8.2f} {q(r['ADD'], 0.9):8.2f} "
          f"{statistics.median(r['DEL']):8.2f} {q(r['DEL'], 0.9):8.2f}")
c, d = statistics.median(results["cubelet-cni"]["ADD"]), statistics.median(results["debian bridge+host-local"]["ADD"])
print(f"ADD median ratio cubelet-cni / debian: {c / d:.2f}")
PY
