"""Init containers: one at a time, in order, each to success before the app containers; a
failure fails a restartPolicy Never pod and is retried with back-off otherwise."""

from conftest import NODE_NAME, apply, delete_pod as delete, get_pod, kubectl, kubectl_json, unique, wait_until

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"


def pod_with_inits(name, inits, restart="Always", main="sleep 3600"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"initContainers": [{"name": n, "image": BUSYBOX, "command": ["sh", "-c", cmd]}
                                        for n, cmd in inits],
                     "containers": [{"name": "main", "image": BUSYBOX, "command": ["sh", "-c", main]}],
                     "restartPolicy": restart, "automountServiceAccountToken": False, "nodeName": NODE_NAME,
                     "terminationGracePeriodSeconds": 1}}


def condition(pod, ctype):
    return next((c for c in pod.get("status", {}).get("conditions", []) if c["type"] == ctype), {})


def test_three_init_containers_run_in_order_before_the_app():
    name = unique("inits")
    # Each takes over a second, so their (second-resolution) timestamps tell the order.
    apply(pod_with_inits(name, [(f"init{i}", "sleep 1.2") for i in (1, 2, 3)]))
    try:
        seen_initializing = wait_until("pod initializing", lambda: (lambda p: p if condition(
            p, "Initialized").get("status") == "False" else None)(get_pod(name)), timeout=60)
        assert condition(seen_initializing, "Initialized")["reason"] == "ContainersNotInitialized"
        assert seen_initializing["status"]["phase"] == "Pending"
        main = seen_initializing["status"]["containerStatuses"][0]
        assert main["state"]["waiting"]["reason"] == "PodInitializing", main
        pod = wait_until("pod Running", lambda: (lambda p: p if p.get("status", {}).get("phase") == "Running"
                                                  else None)(get_pod(name)), timeout=90)
        inits = pod["status"]["initContainerStatuses"]
        assert [s["name"] for s in inits] == ["init1", "init2", "init3"]
        for s in inits:
            assert s["state"]["terminated"]["exitCode"] == 0, s
            assert s["state"]["terminated"]["reason"] == "Completed", s
            assert s["ready"] is True, s
            assert s["restartCount"] == 0
        for earlier, later in zip(inits, inits[1:]):
            assert earlier["state"]["terminated"]["finishedAt"] <= later["state"]["terminated"]["startedAt"], inits
        started = pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
        assert inits[-1]["state"]["terminated"]["finishedAt"] <= started
        assert condition(pod, "Initialized")["status"] == "True"
    finally:
        delete(name)


def test_failing_init_container_fails_a_never_pod():
    name = unique("initfail")
    apply(pod_with_inits(name, [("ok", "true"), ("broken", "exit 4"), ("never-runs", "true")], restart="Never"))
    try:
        pod = wait_until("pod Failed", lambda: (lambda p: p if p.get("status", {}).get("phase") == "Failed"
                                                 else None)(get_pod(name)), timeout=90)
        inits = {s["name"]: s for s in pod["status"]["initContainerStatuses"]}
        assert inits["ok"]["state"]["terminated"]["exitCode"] == 0
        assert inits["broken"]["state"]["terminated"]["exitCode"] == 4
        assert "terminated" not in inits["never-runs"]["state"], inits["never-runs"]
        main = pod["status"]["containerStatuses"][0]
        assert "running" not in main["state"] and "terminated" not in main["state"], main
    finally:
        delete(name)


def test_failing_init_container_is_retried_with_back_off():
    name = unique("initretry")
    apply(pod_with_inits(name, [("flaky", "exit 1")]))
    try:
        st = wait_until("init container restarted", lambda: (lambda s: s if s.get("restartCount", 0) >= 1 else None)(
            (get_pod(name).get("status", {}).get("initContainerStatuses") or [{}])[0]), timeout=90)
        assert st["lastState"]["terminated"]["exitCode"] == 1
        pod = get_pod(name)
        assert pod["status"]["phase"] == "Pending"
        assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    finally:
        delete(name)
