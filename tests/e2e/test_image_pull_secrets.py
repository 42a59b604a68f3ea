"""imagePullSecrets: an image in a registry that needs basic auth fails to pull without a
secret and is pulled with a kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg secret
that holds the registry's credentials."""

import base64
import json
import re

import pytest

from conftest import HACK, NODE_NAME, apply, kubectl, kubectl_json, unique, wait_until

NS = "default"


def cluster_setting(name):
    text = (HACK / "lib" / "cluster.sh").read_text()
    return re.search(rf"^{name}=(\S+)$", text, re.M).group(1)


PORT = cluster_setting("AUTH_REGISTRY_PORT")
USER = cluster_setting("AUTH_REGISTRY_USER")
PASSWORD = cluster_setting("AUTH_REGISTRY_PASSWORD")
REGISTRY = f"localhost:{PORT}"
IMAGE = f"{REGISTRY}/private/busybox:1.36"


def pod_manifest(name, secrets=()):
    spec = {"containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "Always",
                            "command": ["sleep", "3600"]}],
            "automountServiceAccountToken": False, "nodeName": NODE_NAME, "terminationGracePeriodSeconds": 1}
    if secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in secrets]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def waiting_reason(name):
    for cs in kubectl_json("get", "pod", "-n", NS, name).get("status", {}).get("containerStatuses", []):
        return cs.get("state", {}).get("waiting", {}).get("reason")
    return None


def phase(name):
    return kubectl_json("get", "pod", "-n", NS, name).get("status", {}).get("phase")


def b64(data):
    return base64.b64encode(data.encode()).decode()


def secret(name, kind, payload):
    key = ".dockerconfigjson" if kind == "kubernetes.io/dockerconfigjson" else ".dockercfg"
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}, "type": kind,
            "data": {key: b64(json.dumps(payload))}}


def test_without_a_secret_the_pull_fails():
    name = unique("nosecret")
    apply(pod_manifest(name))
    try:
        wait_until("ErrImagePull or ImagePullBackOff",
                   lambda: waiting_reason(name) in ("ErrImagePull", "ImagePullBackOff"), timeout=90)
        assert phase(name) == "Pending"
    finally:
        kubectl("delete", "pod", "-n", NS, name, "--wait=false", check=False)


def test_with_a_wrong_password_the_pull_fails():
    name, sname = unique("badsecret"), unique("badcred")
    apply(secret(sname, "kubernetes.io/dockerconfigjson",
                 {"auths": {REGISTRY: {"username": USER, "password": "wrong", "auth": b64(f"{USER}:wrong")}}}))
    apply(pod_manifest(name, [sname]))
    try:
        wait_until("ErrImagePull or ImagePullBackOff",
                   lambda: waiting_reason(name) in ("ErrImagePull", "ImagePullBackOff"), timeout=90)
    finally:
        kubectl("delete", "pod", "-n", NS, name, "--wait=false", check=False)
        kubectl("delete", "secret", "-n", NS, sname, check=False)


@pytest.mark.parametrize("kind", ["kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"])
def test_with_the_secret_the_image_is_pulled(kind):
    name, sname = unique("withsecret"), unique("regcred")
    entry = {"username": USER, "password": PASSWORD, "auth": b64(f"{USER}:{PASSWORD}")}
    payload = {"auths": {REGISTRY: entry}} if kind.endswith("dockerconfigjson") else {REGISTRY: entry}
    apply(secret(sname, kind, payload))
    # A missing secret listed first is skipped (with a warning event); the good one still works.
    apply(pod_manifest(name, ["does-not-exist", sname]))
    try:
        wait_until("pod Running", lambda: phase(name) == "Running", timeout=90)
        cs = kubectl_json("get", "pod", "-n", NS, name)["status"]["containerStatuses"][0]
        assert cs["imageID"]
        events = kubectl_json("get", "events", "-n", NS, "--field-selector", f"involvedObject.name={name}")["items"]
        assert any(e["reason"] == "Pulled" and IMAGE in e["message"] for e in events), events
    finally:
        kubectl("delete", "pod", "-n", NS, name, "--wait=false", check=False)
        kubectl("delete", "secret", "-n", NS, sname, check=False)
