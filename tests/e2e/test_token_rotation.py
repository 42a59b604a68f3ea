"""The agent rotates a pod's projected service account token before it expires: a token of
expirationSeconds 600 is written again once 80 % of its lifetime has passed (at the pod's next
resync), so the file changes between 480 s and 600 s after the token was issued.

That takes 8 to 12 minutes of waiting, so the test is two CTest steps (tests/e2e/e2e.cmake):
the pod starts before the e2e files that leave the node alone run, and its result is collected
after them. The files that restart the agent, the runtime or the apiserver run before the pod
starts, as a restarted agent writes every projected token anew. Run as one pytest file, the
two tests run one after the other and the second waits the whole time.
"""

import json
import time

from conftest import NS, STATE, delete_pod, kubectl_json, unique, wait_until
from test_volumes import create, ctr, finished, jwt_claims, messages_of, mnt, pod, pod_dir, running

TTL = 600
# Where the first step leaves its pod for the second (hack/down.sh removes it with the cluster).
STEP_FILE = STATE / "e2e-token-rotation.json"


def token_on_node(uid):
    return (pod_dir(uid) / "volumes" / "kubernetes.io~projected" / "p" / "token").read_text()


def pod_exists(name, uid):
    items = kubectl_json("get", "pods", "-n", NS, "--field-selector", f"metadata.name={name}")["items"]
    return any(p["metadata"]["uid"] == uid for p in items)


def start_rotating_pod():
    """The pod waits for its token file to change, then reports the old and the new token."""
    name = unique("vol-rotate")
    script = ("t0=$(cat /p/token); while [ \"$(cat /p/token)\" = \"$t0\" ]; do sleep 5; done; "
              "{ echo rotated; echo \"$t0\"; cat /p/token; } > /dev/termination-log")
    create(pod(name, [ctr("main", script, [mnt("p", "/p")])],
               [{"name": "p", "projected": {"sources": [
                   {"serviceAccountToken": {"path": "token", "expirationSeconds": TTL}}]}}]))
    started = time.time()
    p = wait_until("pod Running", lambda: running(name), timeout=90)
    step = {"name": name, "uid": p["metadata"]["uid"], "started": started}
    STEP_FILE.write_text(json.dumps(step))
    return step


def test_a_pod_starts_with_a_projected_token_of_the_requested_lifetime():
    STEP_FILE.unlink(missing_ok=True)
    step = start_rotating_pod()
    claims = jwt_claims(token_on_node(step["uid"]))
    assert claims["exp"] - claims["iat"] == TTL
    assert claims["kubernetes.io"]["pod"] == {"name": step["name"], "uid": step["uid"]}
    assert claims["sub"] == "system:serviceaccount:default:default"


def test_the_projected_token_is_rotated_before_it_expires():
    step = json.loads(STEP_FILE.read_text()) if STEP_FILE.exists() else None
    if step is None or not pod_exists(step["name"], step["uid"]):
        step = start_rotating_pod()  # run on its own: start the pod now
    name = step["name"]
    try:
        # 80 % of the lifetime, then the next pod resync (1 min + jitter) and some slack, from
        # the pod's start; the wait ends as soon as the pod has finished.
        remaining = 0.8 * TTL + 240 - (time.time() - step["started"])
        p = wait_until("the token file changed", lambda: finished(name), timeout=max(remaining, 60), interval=5)
        lines = messages_of(p)["main"].splitlines()
        assert lines[0] == "rotated"
        old, new = jwt_claims(lines[1]), jwt_claims(lines[2])
        for claims in (old, new):
            assert claims["exp"] - claims["iat"] == TTL
            assert claims["kubernetes.io"]["pod"] == {"name": name, "uid": p["metadata"]["uid"]}
        # Upstream's token manager takes up to 10 s of jitter off the 80 %.
        assert new["iat"] - old["iat"] >= 0.8 * TTL - 10, "written again only after about 80 % of its lifetime"
        assert new["iat"] < old["exp"], "written again before the old token expired"
    finally:
        STEP_FILE.unlink(missing_ok=True)
        delete_pod(name)
