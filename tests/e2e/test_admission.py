"""Admission on the node: a pod bound to it that does not fit (resources, pod count, node
labels) goes Failed with the upstream reason, and the pods already there keep running."""
# e2e order: restarts node components (tests/e2e/e2e.cmake runs this file first)

from conftest import NODE_NAME, STATE, apply, cluster_up, get_pod, kubectl, kubectl_json, stop_component, wait_until

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"


def bound_pod(name, requests=None, node_selector=None, command="sleep 3600"):
    container = {"name": "main", "image": BUSYBOX, "command": ["sh", "-c", command]}
    if requests:
        container["resources"] = {"requests": requests}
    spec = {"containers": [container], "automountServiceAccountToken": False, "nodeName": NODE_NAME,
            "terminationGracePeriodSeconds": 1}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def delete(*names):
    for n in names:
        kubectl("delete", "pod", "-n", NS, n, "--wait=false", "--ignore-not-found", check=False)


def rejected(name, reason):
    st = wait_until(f"{name} Failed", lambda: (lambda s: s if s.get("phase") == "Failed" else None)(
        get_pod(name).get("status", {})), timeout=60)
    assert st.get("reason") == reason, st
    return st


def node_pods():
    return kubectl_json("get", "pods", "-A", "--field-selector", f"spec.nodeName={NODE_NAME}")["items"]


def test_more_cpu_than_allocatable_is_out_of_cpu():
    delete("too-much-cpu")
    wait_until("old pod gone", lambda: kubectl("get", "pod", "-n", NS, "too-much-cpu", "--ignore-not-found") == "")
    apply(bound_pod("too-much-cpu", requests={"cpu": "1000"}))
    try:
        st = rejected("too-much-cpu", "OutOfcpu")
        assert st["message"].startswith("Pod was rejected: Node didn't have enough resource: cpu, requested: 1000000"), st
        events = kubectl_json("get", "events", "-n", NS, "--field-selector",
                              "involvedObject.name=too-much-cpu,reason=OutOfcpu")["items"]
        assert events and events[0]["type"] == "Warning"
        assert "containerStatuses" not in st or all("running" not in c.get("state", {}) for c in st["containerStatuses"])
    finally:
        delete("too-much-cpu")


def test_more_memory_than_allocatable_is_out_of_memory():
    delete("too-much-memory")
    wait_until("old pod gone", lambda: kubectl("get", "pod", "-n", NS, "too-much-memory", "--ignore-not-found") == "")
    apply(bound_pod("too-much-memory", requests={"memory": "100Ti"}))
    try:
        st = rejected("too-much-memory", "OutOfmemory")
        assert "Node didn't have enough resource: memory" in st["message"], st
    finally:
        delete("too-much-memory")


def test_node_selector_mismatch_is_node_affinity():
    delete("wrong-labels")
    wait_until("old pod gone", lambda: kubectl("get", "pod", "-n", NS, "wrong-labels", "--ignore-not-found") == "")
    apply(bound_pod("wrong-labels", node_selector={"cubelet.test/absent": "yes"}))
    try:
        st = rejected("wrong-labels", "NodeAffinity")
        assert st["message"].startswith("Pod was rejected: Predicate NodeAffinity failed"), st
    finally:
        delete("wrong-labels")


def test_max_pods_exceeded_is_out_of_pods():
    names = ["maxpods-a", "maxpods-b"]
    delete(*names)
    # Terminating pods still count on the node; start from a settled count.
    wait_until("no pod terminating on the node", lambda: all(
        not p["metadata"].get("deletionTimestamp") for p in node_pods()), timeout=120)
    active = [p for p in node_pods() if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
    agent = (STATE / "node-agent").read_text().strip()
    stop_component(agent)
    cluster_up({"CUBELET_MAX_PODS": str(len(active) + 1)})
    try:
        wait_until("allocatable pods lowered", lambda: kubectl_json("get", "node", NODE_NAME)["status"][
            "allocatable"]["pods"] == str(len(active) + 1), timeout=60)
        apply(bound_pod(names[0]))
        wait_until("first pod Running", lambda: get_pod(names[0]).get("status", {}).get("phase") == "Running",
                   timeout=90)
        apply(bound_pod(names[1]))
        st = rejected(names[1], "OutOfpods")
        assert st["message"] == (f"Pod was rejected: Node didn't have enough resource: pods, requested: 1, "
                                 f"used: {len(active) + 1}, capacity: {len(active) + 1}"), st
        # The pods already there are untouched.
        assert get_pod(names[0])["status"]["phase"] == "Running"
    finally:
        delete(*names)
        stop_component(agent)
        cluster_up()
