# Local image registry (Debian's docker-registry) for offline test images. Source it; it defines
# functions only. Everything is relative to the network namespace the caller runs in: the registry
# listens on 127.0.0.1 of that namespace.
#
#   registry_start DIR PORT [HTPASSWD]
#                             config in DIR/config.yml, blobs in DIR/data, log DIR/registry.log,
#                             pid DIR/registry.pid; no-op if that pid is a live docker-registry.
#                             With HTPASSWD (a bcrypt htpasswd file) every request needs basic
#                             auth. Returns once http://127.0.0.1:PORT/v2/ answers (up to 20 s).
#   registry_stop DIR         kills the pid in DIR/registry.pid (and nothing else).
#   registry_ping HOST:PORT   true if an HTTP registry answers GET /v2/ there (200 or 401).
#
# Needs only bash and timeout (coreutils): /dev/tcp instead of curl.
# shellcheck shell=bash

_registry_err() { printf 'registry: %s\n' "$*" >&2; }

# _registry_pid_alive DIR -> prints the pid and succeeds if DIR/registry.pid names a live
# docker-registry process (a recycled pid that now belongs to something else does not count).
_registry_pid_alive() {
  local pidfile=$1/registry.pid pid cmd
  [ -s "$pidfile" ] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *docker-registry* ]] || return 1
  printf '%s\n' "$pid"
}

registry_ping() { # HOST:PORT
  local host=${1%:*} port=${1##*:} status
  host=${host#[}
  host=${host%]}
  # The status line must really come back: a connect() alone proves nothing.
  # shellcheck disable=SC2016
  status=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET /v2/ HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n" "$0" "$1" >&3
    IFS= read -r line <&3 && printf "%s\n" "$line"
  ' "$host" "$port" 2>/dev/null) || return 1
  [[ $status =~ ^HTTP/1\.[01]\ (200|401)\  ]]
}

registry_start() { # DIR PORT [HTPASSWD]
  local dir=${1:?registry_start DIR PORT} port=${2:?registry_start DIR PORT} htpasswd=${3:-} auth="" pid i
  [[ $port =~ ^[0-9]+$ ]] || { _registry_err "bad port: $port"; return 1; }
  mkdir -p "$dir/data" || return 1
  dir=$(cd "$dir" && pwd) || return 1
  command -v docker-registry >/dev/null ||
    { _registry_err "docker-registry not found (apt-get install docker-registry)"; return 1; }

  if pid=$(_registry_pid_alive "$dir"); then
    :
  else
    # Something else on the port would answer our readiness check while our own registry dies
    # on "address already in use": refuse up front.
    if timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$port" 2>/dev/null; then
      _registry_err "127.0.0.1:$port is already in use by another process (not the one in $dir/registry.pid)"
      return 1
    fi
    if [ -n "$htpasswd" ]; then
      [ -r "$htpasswd" ] || { _registry_err "htpasswd file not readable: $htpasswd"; return 1; }
      auth="auth:
  htpasswd:
    realm: cubelet-test
    path: $htpasswd"
    fi
    cat >"$dir/config.yml" <<EOF
$auth
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: "$dir/data"
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
EOF
    # setsid: its own session, so a Ctrl-C aimed at the caller does not take it down. Started with
    # & from a non-interactive shell it is not a group leader, so setsid execs without forking
    # and $! is the registry's own pid.
    setsid docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/registry.pid"
  fi

  for ((i = 0; i < 100; i++)); do
    if registry_ping "127.0.0.1:$port" && _registry_pid_alive "$dir" >/dev/null; then
      return 0
    fi
    # Gone or a zombie. (Not the cmdline check: right after the fork the child may not have
    # exec'd docker-registry yet, and its cmdline is still the shell's.)
    if ! kill -0 "$pid" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
      _registry_err "docker-registry (pid $pid) exited; last lines of $dir/registry.log:"
      tail -n 20 "$dir/registry.log" >&2
      rm -f "$dir/registry.pid"
      return 1
    fi
    sleep 0.2
  done
  _registry_err "no answer from http://127.0.0.1:$port/v2/ after 20s (pid $pid, log $dir/registry.log)"
  return 1
}

registry_stop() { # DIR
  local dir=${1:?registry_stop DIR} pid i
  if ! pid=$(_registry_pid_alive "$dir"); then
    rm -f "$dir/registry.pid"
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  # A zombie (exited, not yet reaped by its parent) has an empty cmdline and counts as gone: its
  # sockets are closed already, so `kill -0 PID` may briefly still succeed after this returns.
  for ((i = 0; i < 50; i++)); do
    _registry_pid_alive "$dir" >/dev/null || break
    sleep 0.1
  done
  if _registry_pid_alive "$dir" >/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Reap it if it is our own child (started by registry_start in this shell); else a no-op.
  wait "$pid" 2>/dev/null || true
  rm -f "$dir/registry.pid"
}
