"""Sidecar containers (init containers with restartPolicy Always): they start in order
before the app, gate the next init container on their startup probe, keep running beside
the app, are restarted when they exit, and are stopped after the app containers."""

from conftest import NODE_NAME, apply, delete_pod as delete, get_pod, unique, wait_until

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"
# Exits at once on SIGTERM, so its finishedAt is when the agent stopped it.
SERVE = "trap 'exit 0' TERM; while true; do sleep 0.2; done"


def container(name, command, sidecar=False, **extra):
    c = {"name": name, "image": BUSYBOX, "command": ["sh", "-c", command], **extra}
    if sidecar:
        c["restartPolicy"] = "Always"
    return c


def pod(name, inits, main, restart="Always", grace=10, deadline=None):
    spec = {"initContainers": inits, "containers": [main], "restartPolicy": restart,
            "automountServiceAccountToken": False, "nodeName": NODE_NAME, "terminationGracePeriodSeconds": grace}
    if deadline:
        spec["activeDeadlineSeconds"] = deadline
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def statuses(p, key="initContainerStatuses"):
    return {s["name"]: s for s in p.get("status", {}).get(key, [])}


def phase_is(name, *phases):
    return wait_until(f"{name} in {phases}", lambda: (lambda p: p if p.get("status", {}).get("phase") in phases
                                                       else None)(get_pod(name)), timeout=120)


def condition(p, ctype):
    return next((c for c in p.get("status", {}).get("conditions", []) if c["type"] == ctype), {})


def test_sidecar_keeps_running_beside_the_app_and_is_restarted_when_it_exits():
    name = unique("sidecar")
    # The sidecar exits every few seconds; the pod's restartPolicy does not matter to it.
    apply(pod(name, [container("helper", "sleep 4; exit 1", sidecar=True), container("setup", "true")],
              container("main", "sleep 3600"), restart="Never"))
    try:
        p = phase_is(name, "Running")
        inits = statuses(p)
        assert inits["setup"]["state"]["terminated"]["exitCode"] == 0
        assert condition(p, "Initialized")["status"] == "True"

        def restarted():
            x = get_pod(name)
            helper = statuses(x)["helper"]
            return x if helper["restartCount"] >= 1 else None
        p = wait_until("the sidecar restarted", restarted, timeout=120)
        assert p["status"]["phase"] == "Running"
        assert statuses(p)["helper"]["lastState"]["terminated"]["exitCode"] == 1
        main = statuses(p, "containerStatuses")["main"]
        assert main["restartCount"] == 0 and "running" in main["state"], main
        assert statuses(p)["setup"]["restartCount"] == 0, "the regular init container is not run again"
    finally:
        delete(name)


def test_sidecar_startup_probe_gates_the_next_init_container():
    name = unique("sidecar-gate")
    # The first sidecar is started only when its startup probe passes, about 4 s after it
    # runs; the init container after it must not start before that.
    probe = {"exec": {"command": ["test", "-f", "/tmp/started"]}, "periodSeconds": 1, "failureThreshold": 60}
    apply(pod(name, [container("first", "sleep 4; touch /tmp/started; " + SERVE, sidecar=True, startupProbe=probe),
                     container("second", SERVE, sidecar=True), container("setup", "true")],
              container("main", "sleep 3600")))
    try:
        p = phase_is(name, "Running")
        inits = statuses(p)
        assert inits["first"]["started"] is True and inits["second"]["started"] is True
        first = inits["first"]["state"]["running"]["startedAt"]
        second = inits["second"]["state"]["running"]["startedAt"]
        setup = inits["setup"]["state"]["terminated"]["startedAt"]
        main = statuses(p, "containerStatuses")["main"]["state"]["running"]["startedAt"]
        # metav1.Time has second resolution: the 4 s gate shows as a gap of at least 3 s.
        assert _seconds(second) - _seconds(first) >= 3, (first, second)
        assert _seconds(first) <= _seconds(second) <= _seconds(setup) <= _seconds(main)
    finally:
        delete(name)


def test_sidecars_stop_after_the_app_when_a_never_pod_completes():
    name = unique("sidecar-done")
    apply(pod(name, [container("first", SERVE, sidecar=True), container("second", SERVE, sidecar=True)],
              container("main", "sleep 3"), restart="Never"))
    try:
        p = phase_is(name, "Succeeded", "Failed")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        main = statuses(p, "containerStatuses")["main"]["state"]["terminated"]
        assert main["exitCode"] == 0
        inits = statuses(p)
        for s in ("first", "second"):
            t = inits[s]["state"]["terminated"]
            assert _seconds(t["finishedAt"]) >= _seconds(main["finishedAt"]), (s, t, main)
    finally:
        delete(name)


def test_sidecars_are_stopped_last_in_reverse_order():
    name = unique("sidecar-order")
    # The app takes 3 s to handle SIGTERM, each sidecar 2 s: a sidecar stopped with the
    # app, or the first before the second, would finish too early.
    slow_app = "trap 'sleep 3; exit 0' TERM; while true; do sleep 0.2; done"
    slow_side = "trap 'sleep 2; exit 0' TERM; while true; do sleep 0.2; done"
    apply(pod(name, [container("first", slow_side, sidecar=True), container("second", slow_side, sidecar=True)],
              container("main", slow_app), restart="Never", deadline=8))
    try:
        p = phase_is(name, "Failed")
        assert p["status"]["reason"] == "DeadlineExceeded"

        def all_terminated():
            x = get_pod(name)
            s = {**statuses(x), **statuses(x, "containerStatuses")}
            return s if all("terminated" in v["state"] for v in s.values()) else None
        s = wait_until("all containers terminated", all_terminated, timeout=60)
        main = _seconds(s["main"]["state"]["terminated"]["finishedAt"])
        second = _seconds(s["second"]["state"]["terminated"]["finishedAt"])
        first = _seconds(s["first"]["state"]["terminated"]["finishedAt"])
        assert second - main >= 1, (main, second)
        assert first - second >= 1, (second, first)
    finally:
        delete(name)


def _seconds(ts):
    import calendar
    import time
    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
