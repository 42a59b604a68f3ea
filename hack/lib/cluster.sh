# The local cluster's layout and process helpers, shared by up.sh, down.sh and kubectl.sh.
# Source after common.sh. Defines variables and functions only.
# shellcheck shell=bash

NETNS=${CUBELET_NETNS:-cubelet-dev}
NETNS_PATH=/run/netns/$NETNS
NODE_NAME=${CUBELET_NODE_NAME:-cubelet-node}
# The node's address lives on a veth pair inside the namespace: nothing links it to the host.
NODE_IP=10.99.0.2
NODE_NET=10.99.0.0/24
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
CLUSTER_DNS_IP=10.96.0.10
CLUSTER_CIDR=10.244.0.0/16
# The first /24 the controller-manager hands out; the bridge gateway is its .1.
NODE_POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1
APISERVER_PORT=6443
REGISTRY_PORT=5000

PKI=$CUBELET_STATE/pki
LOGS=$CUBELET_STATE/logs
PIDS=$CUBELET_STATE/pids
CONF=$CUBELET_STATE/config
CONTAINERD_DIR=$CUBELET_STATE/containerd
CONTAINERD_SOCK=$CONTAINERD_DIR/containerd.sock
KUBELET_ROOT=$CUBELET_STATE/kubelet
CNI_BIN=$CUBELET_STATE/cni/bin
CNI_CONF=$CUBELET_STATE/cni/net.d
REGISTRY_DIR=$CUBELET_CACHE/registry
# A second registry that needs basic auth, for image pull secrets; its credentials are test
# fixtures, not secrets.
AUTH_REGISTRY_PORT=5001
AUTH_REGISTRY_DIR=$CUBELET_CACHE/registry-auth
AUTH_REGISTRY_USER=cubelet
AUTH_REGISTRY_PASSWORD=pull-secret-test
ADMIN_KUBECONFIG=$CONF/admin.conf
KUBECTL=$UPSTREAM_BIN/kubectl

# in_netns CMD...: run a command in the cluster's network namespace only (not a private mount
# namespace as `ip netns exec` would make: cgroup mounts must stay visible to runc).
in_netns() { nsenter --net="$NETNS_PATH" -- "$@"; }

# proc_alive NAME: the pid in $PIDS/NAME.pid is alive and still runs the binary we started.
proc_alive() {
  local pidfile=$PIDS/$1.pid pid exe
  [ -s "$pidfile" ] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1)
  [ -n "$exe" ] && [[ $exe == *"$(<"$PIDS/$1.exe")" ]]
}

# proc_start NAME BINARY ARGS...: start BINARY in the namespace, in the background, logging to
# $LOGS/NAME.log, unless it already runs.
proc_start() {
  local name=$1
  shift
  if proc_alive "$name"; then
    log "$name already running (pid $(<"$PIDS/$name.pid"))"
    return 0
  fi
  mkdir -p "$LOGS" "$PIDS"
  echo "$1" >"$PIDS/$name.exe"
  # nsenter execs the command (no fork for a network namespace), so $! is the component itself.
  nsenter --net="$NETNS_PATH" -- "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
  log "started $name (pid $!), log $LOGS/$name.log"
}

# proc_stop NAME [TIMEOUT]: SIGTERM, then SIGKILL after TIMEOUT seconds (default 10).
proc_stop() {
  local name=$1 timeout=${2:-10} pid i
  proc_alive "$name" || { rm -f "$PIDS/$name.pid"; return 0; }
  pid=$(<"$PIDS/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    proc_alive "$name" || break
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
    sleep 0.1
  done
  if proc_alive "$name" && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    log "$name did not stop in ${timeout}s, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDS/$name.pid"
  log "stopped $name"
}

# wait_for DESCRIPTION TIMEOUT CMD...: poll CMD every 0.5s.
wait_for() {
  local what=$1 timeout=$2 i
  shift 2
  for ((i = 0; i < timeout * 2; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "timed out after ${timeout}s waiting for $what"
}

# write_if_changed FILE < content: replaces FILE only when the content differs, so a second
# hack/up.sh leaves running components' files (and their mtimes) alone.
write_if_changed() {
  local f=$1 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$f"; then
    rm -f "$tmp"
  else
    chmod 644 "$tmp"
    mv -f "$tmp" "$f"
  fi
}

kubectl_admin() { in_netns "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
