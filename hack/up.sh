#!/usr/bin/env bash
# Sets up and starts the local cluster: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd, a local image registry, the node agent (cubelet, or the
# upstream kubelet with --node-agent=upstream) and metrics-server, all inside the network
# namespace $NETNS with no route off the machine. Waits until the node is Ready.
#
# Usage: hack/up.sh [--node-agent=cubelet|upstream] [--skip-deps]
# Idempotent: components already running are left alone; missing ones are started.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/cluster.sh"
. "$HACK_DIR/lib/pki.sh"
. "$HACK_DIR/lib/registry.sh"

AGENT=cubelet
SKIP_DEPS=0
for arg in "$@"; do
  case $arg in
    --node-agent=cubelet | --node-agent=upstream) AGENT=${arg#--node-agent=} ;;
    --skip-deps) SKIP_DEPS=1 ;;
    -h | --help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (usage: $0 [--node-agent=cubelet|upstream] [--skip-deps])" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "hack/up.sh must run as root (network namespace, containerd, cgroups)"
START=$(date +%s)

if [ "$SKIP_DEPS" = 0 ]; then
  "$HACK_DIR/install-deps.sh"
fi

# cubelet-cni gives pods their network with either agent: cubelet installs it itself, and for
# the upstream kubelet this script does (as a network add-on would).
# CUBELET_NO_BUILD=1 uses the cubelet and cubelet-cni already in $BUILD_DIR/bin (e.g. a second
# checkout sharing one build).
build_cubelet() {
  if [ "${CUBELET_NO_BUILD:-0}" = 1 ]; then
    [ -x "$BUILD_DIR/bin/cubelet" ] && [ -x "$BUILD_DIR/bin/cubelet-cni" ] ||
      die "CUBELET_NO_BUILD=1 but $BUILD_DIR/bin has no cubelet and cubelet-cni"
    return
  fi
  log "building cubelet and cubelet-cni in $BUILD_DIR"
  cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$BUILD_DIR" cubelet cubelet-cni >/dev/null
}
build_cubelet

# ---- network namespace: loopback and the node address on a veth pair ----
setup_netns() {
  if [ ! -e "$NETNS_PATH" ]; then
    log "creating network namespace $NETNS"
    ip netns add "$NETNS"
  fi
  in_netns ip link set lo up
  if ! in_netns ip link show node0 >/dev/null 2>&1; then
    in_netns ip link add node0 type veth peer name node0-peer
  fi
  in_netns ip addr replace "$NODE_IP/24" dev node0
  in_netns ip link set node0-peer up
  in_netns ip link set node0 up
  # The pods' bridge (cni0) and its gateway address are cubelet-cni's to create.
  # No default route and no forwarding: nothing leaves the namespace. The pod and service
  # ranges end here instead of being looked up anywhere else.
  in_netns sysctl -qw net.ipv4.ip_forward=0
  in_netns ip route replace blackhole "$CLUSTER_CIDR"
  in_netns ip route replace blackhole "$SERVICE_CIDR"
  if in_netns ip route show default | grep -q .; then
    die "namespace $NETNS has a default route; refusing to run a cluster that could reach off the machine"
  fi
}
setup_netns

# ---- registry and test images ----
mkdir -p "$REGISTRY_DIR"
in_netns bash -c ". '$HACK_DIR/lib/common.sh'; . '$HACK_DIR/lib/registry.sh'; registry_start '$REGISTRY_DIR' $REGISTRY_PORT"
in_netns env REGISTRY=localhost:$REGISTRY_PORT "$HACK_DIR/build-images.sh"
# The authenticated registry holds busybox as private/busybox, for the pull secret tests.
mkdir -p "$AUTH_REGISTRY_DIR"
if ! htpasswd -vb "$AUTH_REGISTRY_DIR/htpasswd" "$AUTH_REGISTRY_USER" "$AUTH_REGISTRY_PASSWORD" 2>/dev/null; then
  htpasswd -Bbc "$AUTH_REGISTRY_DIR/htpasswd" "$AUTH_REGISTRY_USER" "$AUTH_REGISTRY_PASSWORD"
fi
in_netns bash -c ". '$HACK_DIR/lib/common.sh'; . '$HACK_DIR/lib/registry.sh'; registry_start '$AUTH_REGISTRY_DIR' $AUTH_REGISTRY_PORT '$AUTH_REGISTRY_DIR/htpasswd'"
AUTH_CREDS="$AUTH_REGISTRY_USER:$AUTH_REGISTRY_PASSWORD"
if ! in_netns skopeo --policy "$CUBELET_CACHE/images/policy.json" inspect --tls-verify=false --creds "$AUTH_CREDS" \
  "docker://localhost:$AUTH_REGISTRY_PORT/private/busybox:1.36" >/dev/null 2>&1; then
  in_netns skopeo --policy "$CUBELET_CACHE/images/policy.json" copy --quiet --src-tls-verify=false --dest-tls-verify=false \
    --dest-creds "$AUTH_CREDS" "docker://localhost:$REGISTRY_PORT/busybox:1.36" \
    "docker://localhost:$AUTH_REGISTRY_PORT/private/busybox:1.36"
fi

# ---- PKI and configuration ----
pki_ensure
mkdir -p "$CONF" "$LOGS" "$PIDS" "$CONTAINERD_DIR" "$KUBELET_ROOT" "$CNI_BIN" "$CNI_CONF" \
  "$CUBELET_STATE/manifests" "$CUBELET_STATE/etcd"

# Earlier versions of this script used Debian's bridge plugins: only cubelet-cni remains.
rm -f "$CNI_CONF/10-cubelet-dev.conflist"
for p in bridge host-local loopback portmap; do
  [[ $(readlink "$CNI_BIN/$p" 2>/dev/null) == /usr/lib/cni/* ]] && rm -f "$CNI_BIN/$p"
done

write_if_changed "$CONF/containerd.toml" <<EOF2
version = 2
root = "$CONTAINERD_DIR/root"
state = "$CONTAINERD_DIR/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_DIR/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost:$REGISTRY_PORT/pause:3.10"
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$CNI_CONF"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost:$REGISTRY_PORT"]
    endpoint = ["http://localhost:$REGISTRY_PORT"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost:$AUTH_REGISTRY_PORT"]
    endpoint = ["http://localhost:$AUTH_REGISTRY_PORT"]
EOF2

# One KubeletConfiguration for both agents, so side-by-side runs compare like with like.
write_if_changed "$CONF/kubelet-config.yaml" <<EOF2
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDNS:
- $CLUSTER_DNS_IP
clusterDomain: cluster.local
staticPodPath: $CUBELET_STATE/manifests
failSwapOn: false
failCgroupV1: false
maxPods: ${CUBELET_MAX_PODS:-110}
# The clean machines this runs on often have little free disk: keep image GC and disk
# eviction from reacting to the host's other tenants.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.inodesFree: 1%
# Small logs and a short check interval, so the e2e tests see a rotation within seconds
# (3s is the smallest interval the upstream kubelet accepts).
containerLogMaxSize: 1Mi
containerLogMaxFiles: 5
containerLogMonitorInterval: 3s
EOF2

# ---- control plane ----
proc_start etcd "$ETCD_BIN/etcd" --name default --data-dir "$CUBELET_STATE/etcd/data" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster default=http://127.0.0.1:2380 --listen-metrics-urls "" --log-level warn
wait_for "etcd" 30 in_netns curl -sf http://127.0.0.1:2379/health

# The audit log records the node agent's requests only (user system:node:*), one line per
# request, for hack/bench.sh's API request counts.
write_if_changed "$CONF/audit-policy.yaml" <<EOF2
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:nodes"]
- level: None
EOF2

# An apiserver started by an older version of this script lacks the aggregation flags that
# metrics-server needs, or the audit log: restart it once.
if proc_alive kube-apiserver && ! tr '\0' '\n' <"/proc/$(<"$PIDS/kube-apiserver.pid")/cmdline" |
  grep -qx -- --audit-policy-file="$CONF/audit-policy.yaml"; then
  log "kube-apiserver runs without the aggregation flags or the audit log: restarting it"
  proc_stop kube-apiserver 30
fi
proc_start kube-apiserver "$UPSTREAM_BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port="$APISERVER_PORT" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --enable-bootstrap-token-auth=true --allow-privileged=true --profiling=false \
  --cert-dir="$PKI/apiserver-generated" --v=1 \
  --enable-aggregator-routing=true \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --audit-policy-file="$CONF/audit-policy.yaml" --audit-log-path="$LOGS/audit.log" \
  --audit-log-maxsize=100 --audit-log-maxbackup=2
wait_for "kube-apiserver /readyz" 90 kubectl_admin get --raw /readyz

proc_start kube-controller-manager "$UPSTREAM_BIN/kube-controller-manager" \
  --kubeconfig="$CONF/controller-manager.conf" \
  --authentication-kubeconfig="$CONF/controller-manager.conf" \
  --authorization-kubeconfig="$CONF/controller-manager.conf" \
  --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --controllers='*,bootstrapsigner,tokencleaner' \
  --allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDR" --node-cidr-mask-size=24 \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --node-monitor-period=2s --node-monitor-grace-period=20s --profiling=false --v=1

proc_start kube-scheduler "$UPSTREAM_BIN/kube-scheduler" \
  --kubeconfig="$CONF/scheduler.conf" \
  --authentication-kubeconfig="$CONF/scheduler.conf" --authorization-kubeconfig="$CONF/scheduler.conf" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1

# ---- node ----
proc_start containerd /usr/bin/containerd --config "$CONF/containerd.toml"
wait_for "containerd socket" 30 test -S "$CONTAINERD_SOCK"

AGENT_FLAGS=(
  --kubeconfig="$CONF/kubelet.conf" --config="$CONF/kubelet-config.yaml"
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
  --root-dir="$KUBELET_ROOT" --cert-dir="$KUBELET_ROOT/pki"
  --node-labels=node.kubernetes.io/local-dev=true --v=${CUBELET_V:-2}
)
other=upstream
[ "$AGENT" = upstream ] && other=cubelet
if proc_alive "$other"; then
  log "switching the node agent from $other to $AGENT"
  proc_stop "$other" 30
fi
if [ "$AGENT" = cubelet ]; then
  # The CNI dirs come from containerd's own config (CRI verbose Status).
  proc_start cubelet "$BUILD_DIR/bin/cubelet" "${AGENT_FLAGS[@]}" --cni-data-dir="$CUBELET_STATE/cni/ipam"
else
  proc_start upstream "$UPSTREAM_BIN/kubelet" "${AGENT_FLAGS[@]}"
  # What cubelet does itself: once the node has its podCIDR, install cubelet-cni and its
  # conflist, with the same settings.
  pod_cidrs() { kubectl_admin get node "$NODE_NAME" -o jsonpath='{.spec.podCIDRs}' 2>/dev/null | tr -d '[]" '; }
  has_pod_cidr() { [ -n "$(pod_cidrs)" ]; }
  wait_for "node $NODE_NAME to get a podCIDR" 60 has_pod_cidr
  "$BUILD_DIR/bin/cubelet-cni" install --bin-dir "$CNI_BIN" --conf-dir "$CNI_CONF" --pod-cidr "$(pod_cidrs)" \
    --data-dir "$CUBELET_STATE/cni/ipam" --mtu "$(in_netns ip -o link show node0 | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')"
fi
echo "$AGENT" >"$CUBELET_STATE/node-agent"

# ---- metrics-server (kubectl top) ----
# A plain process on the node address, registered as the metrics.k8s.io API through a Service
# without selector whose EndpointSlice names that address; the apiserver (with aggregator
# routing) dials the endpoint directly, so no kube-proxy is needed. It scrapes the agent's
# /metrics/resource with its own client certificate (RBAC below). Not waited for: the first
# numbers appear about two scrape periods after it starts.
METRICS_SERVER_PORT=4443
if [ -x "$METRICS_SERVER_BIN/metrics-server" ]; then
  kubectl_admin apply -f - >/dev/null <<EOF2
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:metrics-server
rules:
- apiGroups: [""]
  resources: [nodes/metrics]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:metrics-server
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:metrics-server}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: system:metrics-server}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: metrics-server:system:auth-delegator
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: system:metrics-server}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: metrics-server-auth-reader
  namespace: kube-system
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: system:metrics-server}
---
apiVersion: v1
kind: Service
metadata:
  name: metrics-server
  namespace: kube-system
spec:
  ports:
  - {name: https, port: 443, protocol: TCP, targetPort: $METRICS_SERVER_PORT}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: metrics-server
  namespace: kube-system
  labels:
    kubernetes.io/service-name: metrics-server
    endpointslice.kubernetes.io/managed-by: cubelet-dev.hack
addressType: IPv4
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
ports:
- {name: https, port: $METRICS_SERVER_PORT, protocol: TCP}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
spec:
  group: metrics.k8s.io
  version: v1beta1
  service: {name: metrics-server, namespace: kube-system, port: 443}
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
EOF2
  mkdir -p "$CUBELET_STATE/metrics-server"
  proc_start metrics-server "$METRICS_SERVER_BIN/metrics-server" \
    --kubeconfig="$CONF/metrics-server.conf" \
    --authentication-kubeconfig="$CONF/metrics-server.conf" \
    --authorization-kubeconfig="$CONF/metrics-server.conf" \
    --bind-address="$NODE_IP" --secure-port="$METRICS_SERVER_PORT" \
    --cert-dir="$CUBELET_STATE/metrics-server" \
    --kubelet-insecure-tls --kubelet-preferred-address-types=InternalIP \
    --metric-resolution=15s --v=1
else
  log "no metrics-server in $METRICS_SERVER_BIN (run hack/build-upstream.sh metrics-server): kubectl top will not work"
fi

# Ready, and posted by the agent running now (not left over from the previous one).
AGENT_STARTED=$(date -u -d "@$(stat -c %Y "$PIDS/$AGENT.pid")" +%Y-%m-%dT%H:%M:%SZ)
node_ready() {
  local out
  out=$(kubectl_admin get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null) ||
    return 1
  [ "${out%% *}" = True ] && [[ ! "${out#* }" < "$AGENT_STARTED" ]]
}
wait_for "node $NODE_NAME to be Ready" 120 node_ready

log "cluster is up in $(($(date +%s) - START))s: node $NODE_NAME is Ready (agent: $AGENT)"

# A demo pod: busybox serving its own hostname over HTTP on the pod network. Service
# account tokens are volumes, which cubelet does not serve yet, so none is mounted.
demo_running() {
  [ "$(kubectl_admin get pod demo -n default -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]
}
if ! demo_running; then
  wait_for "the default service account" 60 kubectl_admin get serviceaccount default -n default
  kubectl_admin apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata:
  name: demo
  namespace: default
  labels: {app: demo}
spec:
  containers:
  - name: web
    image: localhost:$REGISTRY_PORT/busybox:1.36
    command: ["sh", "-c", "hostname > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
    ports: [{containerPort: 8080}]
EOF2
  wait_for "the demo pod to run" 90 demo_running
fi
log "demo pod: $(kubectl_admin get pod demo -n default -o jsonpath='{.metadata.name} {.status.phase} {.status.podIP}')"
cat <<EOF2

  kubectl:  hack/kubectl.sh get nodes,pods -o wide
  logs:     $LOGS/<component>.log
  state:    $CUBELET_STATE
  stop:     hack/down.sh
EOF2
