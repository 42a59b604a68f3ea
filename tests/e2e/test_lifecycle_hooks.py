"""Lifecycle hooks: postStart runs in the container as it starts, preStop runs before the
container gets SIGTERM, and a failing postStart kills the container."""

from conftest import NODE_NAME, apply, delete_pod as delete, get_pod, kubectl, kubectl_json, unique, wait_until

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"


def pod(name, command, lifecycle, restart="Never", grace=5, deadline=None):
    spec = {"containers": [{"name": "main", "image": BUSYBOX, "command": ["sh", "-c", command],
                            "lifecycle": lifecycle}],
            "restartPolicy": restart, "automountServiceAccountToken": False, "nodeName": NODE_NAME,
            "terminationGracePeriodSeconds": grace}
    if deadline:
        spec["activeDeadlineSeconds"] = deadline
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def terminated(name):
    def done():
        p = get_pod(name)
        cs = p.get("status", {}).get("containerStatuses", [{}])[0]
        return cs["state"]["terminated"] if "terminated" in cs.get("state", {}) else None
    return wait_until(f"{name} terminated", done, timeout=90)


def test_post_start_output_is_seen_by_the_main_container():
    name = unique("poststart")
    apply(pod(name, "while [ ! -f /tmp/poststart ]; do sleep 0.1; done; cat /tmp/poststart > /dev/termination-log",
              {"postStart": {"exec": {"command": ["sh", "-c", "echo -n from post-start > /tmp/poststart"]}}}))
    try:
        term = terminated(name)
        assert term["exitCode"] == 0, term
        assert term["message"] == "from post-start"
    finally:
        delete(name)


def test_pre_stop_runs_before_sigterm():
    name = unique("prestop")
    # The deadline stops the pod (so its final status stays readable); the TERM handler
    # reports whether preStop had already run.
    main = ("trap 'if [ -f /tmp/prestop ]; then echo -n prestop-first; else echo -n term-first; fi "
            "> /dev/termination-log; exit 0' TERM; while true; do sleep 0.2; done")
    apply(pod(name, main, {"preStop": {"exec": {"command": ["sh", "-c", "touch /tmp/prestop"]}}}, deadline=4))
    try:
        term = terminated(name)
        assert term["message"] == "prestop-first", term
    finally:
        delete(name)


def test_failing_post_start_kills_the_container():
    name = unique("badhook")
    apply(pod(name, "sleep 3600", {"postStart": {"exec": {"command": ["sh", "-c", "exit 7"]}}}, restart="Always",
              grace=1))
    try:
        events = wait_until("FailedPostStartHook event", lambda: kubectl_json(
            "get", "events", "-n", NS, "--field-selector", f"involvedObject.name={name},reason=FailedPostStartHook"
        )["items"], timeout=90)
        assert events[0]["message"] == "PostStartHook failed", events[0]["message"]
        wait_until("container restarted", lambda: get_pod(name).get("status", {}).get(
            "containerStatuses", [{}])[0].get("restartCount", 0) >= 1, timeout=90)
    finally:
        delete(name)
