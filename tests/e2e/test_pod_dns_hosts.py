"""A pod's name resolution as its containers see it: /etc/resolv.conf for each dnsPolicy (the
node agent sends the DNS config, containerd writes the file), dnsConfig merged in, the search
line cut to its limits with a DNSConfigForming event; the hostname with hostname, subdomain
and setHostnameAsFQDN; and the /etc/hosts the agent manages for every container: its header,
a line per pod IP, the hostAliases block, the node's file for a host-network pod, and a
volume mounted at /etc/hosts left alone. Each container reports what it sees through its
termination message; expectations are upstream's, worked out from the node's own files, so
the tests pass with either agent."""

import hashlib
from pathlib import Path

import pytest

from conftest import (HACK, NODE_NAME, STATE, apply, delete_pod as delete, get_pod, kubectl_json,
                      unique, wait_until)

BUSYBOX = "localhost:5000/busybox:1.36"
NS = "default"
CLUSTER_DOMAIN = "cluster.local"
CLUSTER_SEARCHES = [f"{NS}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
# Resolver limits the kubelet cuts a pod's configuration to.
MAX_NAMESERVERS, MAX_SEARCHES, MAX_SEARCH_CHARS, MAX_SEARCH_PATH = 3, 32, 2048, 253
HOSTS_PREAMBLE = ("# Kubernetes-managed hosts file.\n"
                  "127.0.0.1\tlocalhost\n"
                  "::1\tlocalhost ip6-localhost ip6-loopback\n"
                  "fe00::0\tip6-localnet\n"
                  "fe00::0\tip6-mcastprefix\n"
                  "fe00::1\tip6-allnodes\n"
                  "fe00::2\tip6-allrouters\n")
HOST_NETWORK_HEADER = "# Kubernetes-managed hosts file (host network).\n"
ALIASES = [{"ip": "10.123.0.1", "hostnames": ["db.example.test", "db"]},
           {"ip": "10.123.0.2", "hostnames": ["cache.example.test"]}]
ALIASES_BLOCK = ("\n# Entries added by HostAliases.\n"
                 "10.123.0.1\tdb.example.test\tdb\n"
                 "10.123.0.2\tcache.example.test\n")


def cluster_dns_ip():
    return next(line.split("=", 1)[1] for line in (HACK / "lib" / "cluster.sh").read_text().splitlines()
                if line.startswith("CLUSTER_DNS_IP="))


def pod(name, script, spec=None, init_script=None):
    """A Never pod whose container runs `script` (and an init container `init_script`)."""
    body = {"containers": [{"name": "main", "image": BUSYBOX, "command": ["sh", "-c", script]}],
            "restartPolicy": "Never", "automountServiceAccountToken": False, "nodeName": NODE_NAME,
            "terminationGracePeriodSeconds": 1, **(spec or {})}
    if init_script:
        body["initContainers"] = [{"name": "init", "image": BUSYBOX, "command": ["sh", "-c", init_script]}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": body}


def finished(name):
    p = get_pod(name)
    return p if p.get("status", {}).get("phase") in ("Succeeded", "Failed") else None


def run(manifest):
    """Applies the pod, waits for it to finish and returns (pod, {container: termination message});
    every container must have exited 0."""
    name = manifest["metadata"]["name"]
    apply(manifest)
    p = wait_until(f"{name} finished", lambda: finished(name), timeout=90)
    messages = {}
    for s in p["status"].get("initContainerStatuses", []) + p["status"]["containerStatuses"]:
        term = s["state"]["terminated"]
        assert term["exitCode"] == 0, (s["name"], term)
        messages[s["name"]] = term.get("message", "")
    return p, messages


def parse_resolv_conf(text):
    """resolv.conf as the kubelet reads it: every nameserver, the last search line (a trailing dot
    cut, "." dropped), the options by name (the last of a name wins)."""
    servers, searches, options = [], [], {}
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("#"):
            continue
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            servers.append(fields[1])
        elif fields[0] == "search":
            searches = [s[:-1] if s.endswith(".") else s for s in fields[1:] if s != "."]
        elif fields[0] == "options":
            for o in fields[1:]:
                options[o.split(":", 1)[0]] = o
    return servers, searches, list(options.values())


def pod_resolv_conf(text):
    """The pod's resolv.conf as containerd writes it: search, nameserver and options lines only."""
    servers, searches, options = [], [], []
    for line in text.splitlines():
        fields = line.split()
        assert fields and fields[0] in ("search", "nameserver", "options"), f"unexpected line {line!r} in {text!r}"
        if fields[0] == "nameserver":
            servers.append(fields[1])
        elif fields[0] == "search":
            searches = fields[1:]
        else:
            options = fields[1:]
    return servers, searches, options


def dedupe(items):
    return list(dict.fromkeys(items))


def fit_searches(searches):
    """The search line cut to the resolver limits, as the kubelet cuts it."""
    searches = [s for s in searches[:MAX_SEARCHES] if len(s) <= MAX_SEARCH_PATH]
    while searches and len(" ".join(searches)) > MAX_SEARCH_CHARS:
        searches.pop()
    return searches


def node_resolv_conf_path():
    """The resolvConf of the agents' KubeletConfiguration (hack/up.sh sets none: /etc/resolv.conf);
    None when it is set to "" (no host resolver configuration)."""
    for line in (STATE / "config" / "kubelet-config.yaml").read_text().splitlines():
        if line.startswith("resolvConf:"):
            value = line.split(":", 1)[1].strip().strip("'\"")
            return value or None
    return "/etc/resolv.conf"


def node_dns():
    """(nameservers, searches, options) a Default pod gets from the node."""
    path = node_resolv_conf_path()
    if path is None:
        return ["127.0.0.1"], ["."], []
    servers, searches, options = parse_resolv_conf(Path(path).read_text())
    return servers[:MAX_NAMESERVERS], fit_searches(searches), options


def cluster_dns(extra_servers=(), extra_searches=()):
    """(nameservers, searches) a ClusterFirst pod gets."""
    _, node_searches, _ = node_dns()
    node_searches = [s for s in node_searches if s != "."]
    servers = dedupe([cluster_dns_ip(), *extra_servers])[:MAX_NAMESERVERS]
    return servers, fit_searches(dedupe(CLUSTER_SEARCHES + node_searches + list(extra_searches)))


def resolv_conf_of(spec):
    name = unique("dns")
    try:
        _, messages = run(pod(name, "cat /etc/resolv.conf > /dev/termination-log", spec))
        return pod_resolv_conf(messages["main"])
    finally:
        delete(name)


# ---------------------------------------------------------------------------------------- resolv.conf

def test_cluster_first_uses_the_cluster_dns_and_search_domains():
    servers, searches, options = resolv_conf_of({})
    want_servers, want_searches = cluster_dns()
    assert servers == want_servers
    assert searches == want_searches
    assert options == ["ndots:5"]


def test_default_uses_the_nodes_resolv_conf():
    servers, searches, options = resolv_conf_of({"dnsPolicy": "Default"})
    want_servers, want_searches, want_options = node_dns()
    assert servers == want_servers
    assert searches == want_searches
    # The kubelet merges options through a map: their order is not fixed.
    assert sorted(options) == sorted(want_options)


def test_cluster_first_on_the_host_network_falls_back_to_default():
    servers, searches, options = resolv_conf_of({"hostNetwork": True, "dnsPolicy": "ClusterFirst"})
    want_servers, want_searches, want_options = node_dns()
    assert servers == want_servers
    assert searches == want_searches
    assert sorted(options) == sorted(want_options)


def test_cluster_first_with_host_net_gives_a_host_network_pod_the_cluster_dns():
    servers, searches, options = resolv_conf_of({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"})
    want_servers, want_searches = cluster_dns()
    assert servers == want_servers
    assert searches == want_searches
    assert options == ["ndots:5"]


def test_none_takes_the_dns_config_alone():
    servers, searches, options = resolv_conf_of({"dnsPolicy": "None", "dnsConfig": {
        "nameservers": ["10.123.0.53", "10.123.0.54"],
        "searches": ["first.example.test", "second.example.test"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}})
    assert servers == ["10.123.0.53", "10.123.0.54"]
    assert searches == ["first.example.test", "second.example.test"]
    assert sorted(options) == ["edns0", "ndots:2"]


def test_dns_config_merges_into_cluster_first():
    servers, searches, options = resolv_conf_of({"dnsConfig": {
        "nameservers": ["10.123.0.53"],
        "searches": ["extra.example.test", CLUSTER_DOMAIN],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}})
    want_servers, want_searches = cluster_dns(["10.123.0.53"], ["extra.example.test", CLUSTER_DOMAIN])
    assert servers == want_servers
    assert searches == want_searches, "appended after the cluster's and the node's, without repeats"
    assert sorted(options) == ["edns0", "ndots:2"], "the pod's ndots replaces the cluster's"


def test_search_line_limits_cut_the_list_and_warn():
    # dnsConfig may hold 32 searches; with the cluster's three in front that is too many.
    extra = [f"s{i:02d}.example.test" for i in range(32)]
    name = unique("dnslimit")
    try:
        _, messages = run(pod(name, "cat /etc/resolv.conf > /dev/termination-log", {"dnsConfig": {"searches": extra}}))
        _, searches, _ = pod_resolv_conf(messages["main"])
        _, want = cluster_dns(extra_searches=extra)
        assert len(want) == MAX_SEARCHES
        assert searches == want

        def warning():
            items = kubectl_json("get", "events", "-n", NS, "--field-selector",
                                 f"involvedObject.name={name},reason=DNSConfigForming")["items"]
            return items[0] if items else None
        event = wait_until("DNSConfigForming event", warning, timeout=30)
        assert event["type"] == "Warning"
        assert event["message"] == ("Search Line limits were exceeded, some search paths have been omitted, "
                                    "the applied search line is: " + " ".join(want)), event["message"]
    finally:
        delete(name)


# ---------------------------------------------------------------------------------------- hostname

@pytest.mark.parametrize("as_fqdn", [False, True], ids=["short", "fqdn"])
def test_hostname_and_subdomain(as_fqdn):
    name = unique("hostname")
    fqdn = f"myhost.mysub.{NS}.svc.{CLUSTER_DOMAIN}"
    spec = {"hostname": "myhost", "subdomain": "mysub", "setHostnameAsFQDN": as_fqdn}
    try:
        p, messages = run(pod(name, "hostname > /dev/termination-log; cat /etc/hosts >> /dev/termination-log", spec))
        kernel_name, hosts = messages["main"].split("\n", 1)
        assert kernel_name == (fqdn if as_fqdn else "myhost")
        # Either way the hosts file names the pod's IPs with the FQDN first.
        ips = [i["ip"] for i in p["status"]["podIPs"]]
        assert hosts == HOSTS_PREAMBLE + "".join(f"{ip}\t{fqdn}\tmyhost\n" for ip in ips)
    finally:
        delete(name)


# ---------------------------------------------------------------------------------------- /etc/hosts

def test_pod_network_hosts_file_for_every_container():
    name = unique("hosts")
    report = "stat -c %a /etc/hosts > /dev/termination-log; cat /etc/hosts >> /dev/termination-log"
    try:
        p, messages = run(pod(name, report, {"hostAliases": ALIASES}, init_script=report))
        # One line per pod IP (one family on the local cluster, so status order is the file's).
        ips = [i["ip"] for i in p["status"]["podIPs"]]
        want = "644\n" + HOSTS_PREAMBLE + "".join(f"{ip}\t{name}\n" for ip in ips) + ALIASES_BLOCK
        assert messages["main"] == want
        assert messages["init"] == want, "init containers get the same file"
    finally:
        delete(name)


def test_host_network_hosts_file_is_the_nodes_with_the_aliases():
    name = unique("hosthosts")
    # The node's file may be long: its digest, then as much of it as a termination message holds.
    report = "md5sum /etc/hosts | cut -d' ' -f1 > /dev/termination-log; head -c 3000 /etc/hosts >> /dev/termination-log"
    try:
        _, messages = run(pod(name, report, {"hostNetwork": True, "hostAliases": ALIASES}))
        digest, content = messages["main"].split("\n", 1)
        # The agent runs in the node's mount namespace: its /etc/hosts is this machine's.
        want = HOST_NETWORK_HEADER.encode() + Path("/etc/hosts").read_bytes() + ALIASES_BLOCK.encode()
        assert content.encode() == want[:3000]
        assert digest == hashlib.md5(want).hexdigest()
    finally:
        delete(name)


def test_a_volume_at_etc_hosts_replaces_the_managed_file():
    name = unique("ownhosts")
    manifest = pod(name, "head -n 1 /etc/hosts > /dev/termination-log",
                   {"volumes": [{"name": "hosts", "emptyDir": {}}]})
    manifest["spec"]["containers"].append({
        "name": "own", "image": BUSYBOX, "volumeMounts": [{"name": "hosts", "mountPath": "/etc/hosts"}],
        "command": ["sh", "-c", "{ [ -d /etc/hosts ] && echo directory; ls -A /etc/hosts | wc -l; } "
                                "> /dev/termination-log"]})
    try:
        _, messages = run(manifest)
        assert messages["own"].split() == ["directory", "0"], "the container sees its (empty) volume"
        assert messages["main"] == HOSTS_PREAMBLE.splitlines()[0] + "\n", "its neighbour still gets the file"
    finally:
        delete(name)
