"""What a container is started with: command, args, workingDir, env (values, fieldRef,
resourceFieldRef, $(VAR) expansion and its $$ escape), read back through the termination
message; the termination message itself (File, a custom path, FallbackToLogsOnError); and
securityContext checks that stop a container from being created."""

from pathlib import Path

import pytest

from conftest import (HACK, NODE_NAME, apply, delete_pod as delete, get_pod, kubectl, kubectl_json, unique,
                      wait_until)

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"


def pod(name, container, labels=None, annotations=None, restart="Never"):
    container = {"name": "main", "image": BUSYBOX, **container}
    meta = {"name": name, "namespace": NS}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [container], "restartPolicy": restart, "automountServiceAccountToken": False,
                     "nodeName": NODE_NAME, "terminationGracePeriodSeconds": 1}}


def finished(name, ns=NS):
    pod = get_pod(name, ns)
    return pod if pod.get("status", {}).get("phase") in ("Succeeded", "Failed") else None


def terminated(name):
    pod = wait_until(f"{name} finished", lambda: finished(name), timeout=90)
    return pod, pod["status"]["containerStatuses"][0]["state"]["terminated"]


def test_env_args_and_expansion_reach_the_container():
    name = unique("envcheck")
    script = ("printf '%s|' \"$1\" \"$2\" \"$(pwd)\" \"$GREETING\" \"$COMBINED\" \"$ESCAPED\" \"$MISSING_REF\" "
              "\"$POD_NAME\" \"$POD_NS\" \"$POD_UID\" \"$NODE\" \"$SA\" \"$POD_IP\" \"$HOST_IP\" \"$APP\" \"$NOTE\" "
              "\"$MEM_LIMIT_MI\" \"$CPU_LIMIT\" > /dev/termination-log")
    container = {
        "command": ["sh", "-c", script, "sh"],
        "args": ["$(GREETING)", "$$(GREETING)"],
        "workingDir": "/tmp",
        "resources": {"limits": {"memory": "64Mi"}},
        "env": [
            {"name": "GREETING", "value": "hello"},
            {"name": "COMBINED", "value": "$(GREETING)-world"},
            {"name": "ESCAPED", "value": "$$(GREETING)"},
            {"name": "MISSING_REF", "value": "$(NOT_DEFINED)"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
            {"name": "MEM_LIMIT_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                         "divisor": "1Mi"}}},
            # No cpu limit: the node's allocatable cpu stands in for it.
            {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
    }
    apply(pod(name, container, labels={"app": "envtest"}, annotations={"note": "a note"}))
    try:
        p, term = terminated(name)
        assert term["exitCode"] == 0, term
        alloc_cpu = kubectl_json("get", "node", NODE_NAME)["status"]["allocatable"]["cpu"]
        fields = term["message"].split("|")[:-1]
        assert fields == [
            "hello", "$(GREETING)", "/tmp", "hello", "hello-world", "$(GREETING)", "$(NOT_DEFINED)",
            name, NS, p["metadata"]["uid"], NODE_NAME, "default", p["status"]["podIP"], p["status"]["hostIP"],
            "envtest", "a note", "64", alloc_cpu,
        ], term["message"]
    finally:
        delete(name)


def test_custom_termination_message_path():
    name = unique("msgpath")
    apply(pod(name, {"command": ["sh", "-c", "echo -n custom done > /tmp/my-message"],
                     "terminationMessagePath": "/tmp/my-message"}))
    try:
        _, term = terminated(name)
        assert term["message"] == "custom done"
        assert term["reason"] == "Completed"
    finally:
        delete(name)


@pytest.mark.parametrize("policy,expected", [("FallbackToLogsOnError", "last words\n"), ("File", None)])
def test_fallback_to_logs_on_error(policy, expected):
    name = unique("fallback")
    apply(pod(name, {"command": ["sh", "-c", "echo first; echo last words; exit 2"],
                     "terminationMessagePolicy": policy}))
    try:
        p, term = terminated(name)
        assert p["status"]["phase"] == "Failed"
        assert term["exitCode"] == 2
        if expected is None:
            assert "message" not in term, term
        else:
            assert term["message"].endswith(expected), term
            assert "first\n" in term["message"]
    finally:
        delete(name)


def test_file_message_wins_over_logs():
    name = unique("filewins")
    apply(pod(name, {"command": ["sh", "-c", "echo from logs; echo -n from file > /dev/termination-log; exit 1"],
                     "terminationMessagePolicy": "FallbackToLogsOnError"}))
    try:
        _, term = terminated(name)
        assert term["message"] == "from file"
    finally:
        delete(name)


def test_run_as_non_root_with_a_root_image_is_a_config_error():
    name = unique("nonroot")
    apply(pod(name, {"command": ["sleep", "3600"], "securityContext": {"runAsNonRoot": True}}, restart="Always"))
    try:
        def waiting():
            statuses = get_pod(name).get("status", {}).get("containerStatuses", [])
            w = statuses[0].get("state", {}).get("waiting", {}) if statuses else {}
            return w if w.get("reason") == "CreateContainerConfigError" else None
        w = wait_until("CreateContainerConfigError", waiting, timeout=90)
        assert w["message"] == "container has runAsNonRoot and image will run as root " \
                               f"(pod: \"{name}_{NS}({get_pod(name)['metadata']['uid']})\", container: main)", w
        assert get_pod(name)["status"]["phase"] == "Pending"
        events = kubectl_json("get", "events", "-n", NS, "--field-selector",
                              f"involvedObject.name={name},reason=Failed")["items"]
        assert any(e["message"].startswith("Error: container has runAsNonRoot") for e in events), events
    finally:
        delete(name)


def test_run_as_non_root_with_a_user_runs():
    name = unique("nonrootok")
    apply(pod(name, {"command": ["sh", "-c", "id -u > /dev/termination-log"],
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 1234}}))
    try:
        _, term = terminated(name)
        assert term["exitCode"] == 0
        assert term["message"].strip() == "1234"
    finally:
        delete(name)


def test_env_from_config_maps_and_secrets():
    name, cm, secret = unique("envfrom"), unique("cm"), unique("sec")
    apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm, "namespace": NS},
           "data": {"COLOR": "blue", "SIZE": "large"}})
    apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": NS},
           "stringData": {"token": "s3cret", "USER": "admin"}})
    container = {
        "command": ["sh", "-c", "printf '%s|' \"$FROM_CM\" \"$FROM_SECRET\" \"$CFG_COLOR\" \"$CFG_SIZE\" \"$USER\" "
                                "\"${OPTIONAL_MISSING-unset}\" > /dev/termination-log"],
        "env": [
            {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "COLOR"}}},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}},
            {"name": "OPTIONAL_MISSING", "valueFrom": {"configMapKeyRef": {"name": "no-such-cm", "key": "x",
                                                                            "optional": True}}},
        ],
        "envFrom": [{"configMapRef": {"name": cm}, "prefix": "CFG_"}, {"secretRef": {"name": secret}}],
    }
    apply(pod(name, container))
    try:
        _, term = terminated(name)
        assert term["exitCode"] == 0, term
        assert term["message"].split("|")[:-1] == ["blue", "s3cret", "blue", "large", "admin", "unset"]
    finally:
        delete(name)
        kubectl("delete", "configmap", "-n", NS, cm, check=False)
        kubectl("delete", "secret", "-n", NS, secret, check=False)


def test_missing_config_map_is_a_config_error():
    name = unique("nocm")
    apply(pod(name, {"command": ["true"], "env": [
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "does-not-exist", "key": "k"}}}]}))
    try:
        def waiting():
            statuses = get_pod(name).get("status", {}).get("containerStatuses", [])
            w = statuses[0].get("state", {}).get("waiting", {}) if statuses else {}
            return w if w.get("reason") == "CreateContainerConfigError" else None
        w = wait_until("CreateContainerConfigError", waiting, timeout=90)
        assert 'configmap "does-not-exist" not found' in w["message"], w
        assert get_pod(name)["status"]["phase"] == "Pending"
    finally:
        delete(name)


def test_sandbox_hostname_dns_and_log_directory():
    name = unique("sandbox")
    apply(pod(name, {"command": ["sh", "-c", "echo to-the-log; "
                                             "printf '%s\\n' \"$(hostname)\" > /dev/termination-log; "
                                             "cat /etc/resolv.conf >> /dev/termination-log"]}))
    try:
        p, term = terminated(name)
        assert term["exitCode"] == 0, term
        lines = term["message"].splitlines()
        assert lines[0] == name
        resolv = "\n".join(lines[1:])
        cluster_dns = next(line.split("=", 1)[1] for line in (HACK / "lib" / "cluster.sh").read_text().splitlines()
                           if line.startswith("CLUSTER_DNS_IP="))
        assert f"nameserver {cluster_dns}" in resolv, resolv
        assert f"search {NS}.svc.cluster.local svc.cluster.local cluster.local" in resolv, resolv
        assert "options ndots:5" in resolv, resolv
        # The container's log, where `kubectl logs` and log collectors look for it.
        log = Path("/var/log/pods") / f"{NS}_{name}_{p['metadata']['uid']}" / "main" / "0.log"
        assert log.exists(), log
        assert " stdout F to-the-log" in log.read_text()
    finally:
        delete(name)


def test_service_environment_variables(ns):
    """Every container gets the master service's variables; with enableServiceLinks (the default)
    also those of each service in its namespace that has a cluster IP, Docker-link style, and
    they take part in $(VAR) expansion. Headless services give none."""
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc", "namespace": ns},
           "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080},
                              {"name": "dns", "port": 53, "protocol": "UDP"}]}}
    headless = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hl", "namespace": ns},
                "spec": {"clusterIP": "None", "ports": [{"port": 9}]}}
    apply(svc)
    apply(headless)
    ip = kubectl_json("get", "service", "-n", ns, "web-svc")["spec"]["clusterIP"]
    master = kubectl_json("get", "service", "-n", "default", "kubernetes")["spec"]

    def run(name, links):
        p = pod(name, {"command": ["sh", "-c", "env | sort > /dev/termination-log; echo \"$0\" >> /dev/termination-log",
                                   "$(WEB_SVC_SERVICE_HOST)"]})
        p["metadata"]["namespace"] = ns
        if links is not None:
            p["spec"]["enableServiceLinks"] = links
        apply(p)
        pod_json = wait_until(f"{name} finished", lambda: finished(name, ns), timeout=90)
        term = pod_json["status"]["containerStatuses"][0]["state"]["terminated"]
        assert term["exitCode"] == 0, term
        lines = term["message"].splitlines()
        return dict(line.split("=", 1) for line in lines[:-1] if "=" in line), lines[-1]

    env, arg = run(unique("svcenv"), None)
    https = next(p["port"] for p in master["ports"] if p["name"] == "https")
    assert env["KUBERNETES_SERVICE_HOST"] == master["clusterIP"]
    assert env["KUBERNETES_SERVICE_PORT"] == str(https)
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == str(https)
    assert env["KUBERNETES_PORT"] == f"tcp://{master['clusterIP']}:{https}"
    assert env["WEB_SVC_SERVICE_HOST"] == ip
    assert env["WEB_SVC_SERVICE_PORT"] == "80"
    assert env["WEB_SVC_SERVICE_PORT_HTTP"] == "80"
    assert env["WEB_SVC_SERVICE_PORT_DNS"] == "53"
    assert env["WEB_SVC_PORT"] == f"tcp://{ip}:80"
    assert env["WEB_SVC_PORT_80_TCP"] == f"tcp://{ip}:80"
    assert env["WEB_SVC_PORT_80_TCP_PROTO"] == "tcp"
    assert env["WEB_SVC_PORT_80_TCP_PORT"] == "80"
    assert env["WEB_SVC_PORT_80_TCP_ADDR"] == ip
    assert env["WEB_SVC_PORT_53_UDP"] == f"udp://{ip}:53"
    assert env["WEB_SVC_PORT_53_UDP_PROTO"] == "udp"
    assert not any(k.startswith("HL_") for k in env), env
    assert arg == ip

    env, arg = run(unique("svcenv-nolinks"), False)
    assert env["KUBERNETES_SERVICE_HOST"] == master["clusterIP"]
    assert not any(k.startswith("WEB_SVC_") for k in env), env
    assert arg == "$(WEB_SVC_SERVICE_HOST)"
