"""ORIGINAL_DST clusters and upstream_bind_config through a real hotproxy, beside Envoy 1.40 on the
same config (peer_factory): the TCP proxy reaches the destination the original_dst listener
filter restored, from the bound source address; hosts appear on /clusters and go after
cleanup_interval unused.

Without a REDIRECT, conntrack reports a connection's own local address as its original
destination, so connecting to 127.0.0.2 or 127.0.0.3 on a listener bound to 0.0.0.0 picks the
host at that address (``upstream_port_override`` points it at the upstream's port). The REDIRECT
itself is tested in a network namespace of its own when this runs as root with iptables."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness import (HCM_TYPE, ROUTER_TYPE, TCP_PROXY_TYPE, accept_each, simple_routes, static_cluster,
                     to_yaml)

ORIGINAL_DST_FILTER = {"name": "envoy.filters.listener.original_dst", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}}
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
BIND_SOURCE = "127.0.0.9"
IN_NETNS = "HOTPROXY_ORIGINAL_DST_NETNS"


class WhoAmI:
    """Tells each connection ``<its local ip>:<port> <its peer ip>`` and closes it."""

    def __init__(self, ips, port=0):
        self.listeners = []
        for ip in ips:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ip, port))
            port = sock.getsockname()[1]
            sock.listen(16)
            accept_each(sock, self._answer)
            self.listeners.append(sock)
        self.port = port
        self.seen = []

    def _answer(self, conn):
        with conn:
            local, peer = conn.getsockname(), conn.getpeername()
            self.seen.append(peer)
            conn.sendall(f"{local[0]}:{local[1]} {peer[0]}\n".encode())

    def close(self):
        for sock in self.listeners:
            sock.close()


@pytest.fixture
def whoami():
    servers = []

    def start(ips, port=0):
        for _ in range(20):     # the same port on each address: retry until one is free on all
            try:
                servers.append(WhoAmI(ips, port))
                return servers[-1]
            except OSError:
                continue
        raise RuntimeError("no port free on every address")

    yield start
    for server in servers:
        server.close()


def ask(ip, port, timeout=5):
    """What the upstream said through the proxy, b"" when the proxy closed without a word."""
    with socket.create_connection((ip, port), timeout=timeout) as sock:
        data = b""
        while True:
            try:
                piece = sock.recv(4096)
            except ConnectionResetError:
                return data
            if not piece:
                return data
            data += piece


def original_dst_cluster(name="od", lb_config=None, **extra):
    return {"name": name, "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "1s",
            **({"original_dst_lb_config": lb_config} if lb_config else {}), **extra}


def tcp_config(cluster, listener_filters=(ORIGINAL_DST_FILTER,), address="0.0.0.0"):
    listener = {"name": "tcp", "address": {"socket_address": {"address": address, "port_value": "{port:listen}"}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                    "@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": cluster["name"]}}]}]}
    if listener_filters:
        listener["listener_filters"] = list(listener_filters)
    return to_yaml({"admin": ADMIN, "static_resources": {"listeners": [listener], "clusters": [cluster]}})


def cluster_hosts(admin_port, name):
    """{host label: {field: value}} of cluster ``name`` on /clusters (Envoy's text format)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/clusters", timeout=10) as response:
        text = response.read().decode()
    hosts = {}
    for line in text.splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == name and parts[1][:1].isdigit():
            hosts.setdefault(parts[1], {})[parts[2]] = parts[3]
    return hosts


def wait_for_hosts(admin_port, name, labels, timeout=5):
    deadline = time.monotonic() + timeout
    while not labels <= set(cluster_hosts(admin_port, name)):
        assert time.monotonic() < deadline, f"{sorted(labels)} never appeared on /clusters"
        time.sleep(0.02)
    time.sleep(0.05)    # the main thread posts the host on to the workers after /clusters has it


def test_tcp_proxy_reaches_the_original_destination_from_the_bind_address(peer_factory, whoami):
    upstream = whoami(["127.0.0.2", "127.0.0.3"])
    peer = peer_factory(tcp_config(original_dst_cluster(
        lb_config={"upstream_port_override": upstream.port},
        upstream_bind_config={"source_address": {"address": BIND_SOURCE, "port_value": 0}})))
    listen = peer.port("listen")
    assert ask("127.0.0.2", listen) == f"127.0.0.2:{upstream.port} {BIND_SOURCE}\n".encode()
    assert ask("127.0.0.3", listen) == f"127.0.0.3:{upstream.port} {BIND_SOURCE}\n".encode()
    first, second = f"127.0.0.2:{upstream.port}", f"127.0.0.3:{upstream.port}"
    # Envoy's workers learn a new host from its main thread a moment later; a connection that comes
    # before that makes a duplicate host whose counters /clusters never shows (1 in ~40 under load)
    wait_for_hosts(peer.port("admin"), "od", {first, second})
    assert ask("127.0.0.2", listen) == f"127.0.0.2:{upstream.port} {BIND_SOURCE}\n".encode()
    hosts = cluster_hosts(peer.port("admin"), "od")
    assert {first, second} <= set(hosts)
    assert (hosts[first]["cx_total"], hosts[second]["cx_total"]) == ("2", "1")
    assert hosts[first]["health_flags"] == "healthy"
    assert peer.counter("cluster.od.original_dst_host_invalid") == 0


def test_hosts_unused_for_a_cleanup_interval_are_removed(peer_factory, whoami):
    upstream = whoami(["127.0.0.2"])
    peer = peer_factory(tcp_config(original_dst_cluster(
        lb_config={"upstream_port_override": upstream.port}, cleanup_interval="0.2s")))
    assert ask("127.0.0.2", peer.port("listen")).startswith(b"127.0.0.2:")
    label = f"127.0.0.2:{upstream.port}"
    deadline = time.monotonic() + 5
    while label in cluster_hosts(peer.port("admin"), "od"):
        assert time.monotonic() < deadline, "the unused host is still listed"
        time.sleep(0.1)
    assert ask("127.0.0.2", peer.port("listen")).startswith(b"127.0.0.2:")   # made again on demand


def test_a_host_with_a_session_in_flight_is_kept(peer_factory, whoami):
    """The session outlives several cleanup intervals: its host stays listed until it ends."""
    held = []
    server = socket.socket()
    server.bind(("127.0.0.2", 0))
    server.listen(4)
    accept_each(server, held.append)
    port = server.getsockname()[1]
    peer = peer_factory(tcp_config(original_dst_cluster(
        lb_config={"upstream_port_override": port}, cleanup_interval="0.2s")))
    try:
        with socket.create_connection(("127.0.0.2", peer.port("listen")), timeout=5) as client:
            client.sendall(b"ping")
            deadline = time.monotonic() + 5
            while not held:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            time.sleep(1.0)
            assert f"127.0.0.2:{port}" in cluster_hosts(peer.port("admin"), "od")
            held[0].sendall(b"pong")
            assert client.recv(4) == b"pong"
    finally:
        for conn in held:
            conn.close()
        server.close()


def test_a_proxy_protocol_header_restores_the_destination_too(peer_factory, whoami):
    upstream = whoami(["127.0.0.3"])
    proxy_protocol = {"name": "envoy.filters.listener.proxy_protocol", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"}}
    peer = peer_factory(tcp_config(original_dst_cluster(), listener_filters=[proxy_protocol],
                                   address="127.0.0.1"))
    with socket.create_connection(("127.0.0.1", peer.port("listen")), timeout=5) as sock:
        sock.sendall(f"PROXY TCP4 10.0.0.1 127.0.0.3 5555 {upstream.port}\r\n".encode())
        assert sock.recv(4096) == f"127.0.0.3:{upstream.port} 127.0.0.1\n".encode()


def test_without_a_listener_filter_that_restores_the_destination_there_is_no_host(peer_factory, whoami):
    upstream = whoami(["127.0.0.2"])
    peer = peer_factory(tcp_config(original_dst_cluster(lb_config={"upstream_port_override": upstream.port}),
                                   listener_filters=()))
    assert ask("127.0.0.2", peer.port("listen")) == b""
    assert upstream.seen == []
    assert cluster_hosts(peer.port("admin"), "od") == {}


def http_config(cluster, listener_filters=None):
    route = {"match": {"prefix": "/"}, "route": {"cluster": cluster["name"]}}
    hcm = {"@type": HCM_TYPE, "stat_prefix": "ingress_http", "route_config": simple_routes(route),
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}]}
    listener = {"name": "http", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    if listener_filters:
        listener["listener_filters"] = listener_filters
    return to_yaml({"admin": ADMIN, "static_resources": {"listeners": [listener], "clusters": [cluster]}})


def get(port, headers=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_http_upstream_connections_bind_to_the_source_address(peer_factory, upstream):
    peer = peer_factory(http_config(static_cluster("backend", upstream.port, extra={
        "upstream_bind_config": {"source_address": {"address": BIND_SOURCE, "port_value": 0}}})))
    status, _ = get(peer.port("listen"))
    assert status == 200
    assert {ip for ip, _ in upstream.connections} == {BIND_SOURCE}


def test_http_router_takes_the_host_from_the_request_header(proxy_factory, upstream):
    proxy = proxy_factory(http_config(original_dst_cluster(lb_config={"use_http_header": True})))
    status, _ = get(proxy.port("listen"), {"x-envoy-original-dst-host": f"127.0.0.1:{upstream.port}"})
    assert status == 200


def test_http_router_takes_the_host_from_the_restored_destination(proxy_factory, upstream):
    cluster = original_dst_cluster(lb_config={"upstream_port_override": upstream.port},
                                   upstream_bind_config={"source_address": {"address": BIND_SOURCE,
                                                                            "port_value": 0}})
    proxy = proxy_factory(http_config(cluster, listener_filters=[ORIGINAL_DST_FILTER]))
    status, _ = get(proxy.port("listen"))
    assert status == 200
    assert {ip for ip, _ in upstream.connections} == {BIND_SOURCE}


def test_http_without_a_destination_is_no_healthy_upstream(peer_factory):
    peer = peer_factory(http_config(original_dst_cluster(lb_config={"use_http_header": True})))
    assert get(peer.port("listen")) == (503, b"no healthy upstream")
    assert get(peer.port("listen"), {"x-envoy-original-dst-host": "bogus"}) == (503, b"no healthy upstream")


def _netns_available():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("iptables") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "--net", "iptables", "-t", "nat", "-L", "OUTPUT"],
                           capture_output=True, timeout=20)
    return probe.returncode == 0


@pytest.mark.skipif(os.environ.get(IN_NETNS) == "1", reason="already inside the namespace")
def test_a_redirected_connection_reaches_its_original_destination():
    """Runs ``_in_netns`` tests again inside a network namespace of their own, where this test
    may set iptables rules."""
    if not _netns_available():
        pytest.skip("needs root, unshare, ip and iptables")
    here = Path(__file__)
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{here}", "-k", "in_netns"],
        cwd=here.parents[2], env={**os.environ, IN_NETNS: "1"}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout, result.stdout[-2000:]     # Envoy's run may be skipped


@pytest.mark.skipif(os.environ.get(IN_NETNS) != "1", reason="runs inside its own network namespace")
def test_redirect_in_netns(peer_factory, whoami):
    """iptables REDIRECTs connections for 127.0.0.5:<port> to the listener, except those from
    the bind address (the proxy's own): the upstream sees the proxy connect to where the client
    meant to go, from the bind address."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    upstream = whoami(["127.0.0.5"])
    peer = peer_factory(tcp_config(original_dst_cluster(
        upstream_bind_config={"source_address": {"address": BIND_SOURCE, "port_value": 0}}), address="127.0.0.1"))
    rule = ["-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.5", "--dport", str(upstream.port),
            "!", "-s", BIND_SOURCE, "-j", "REDIRECT", "--to-ports", str(peer.port("listen"))]
    subprocess.run(["iptables", *rule], check=True)
    try:
        assert ask("127.0.0.5", upstream.port) == f"127.0.0.5:{upstream.port} {BIND_SOURCE}\n".encode()
        assert f"127.0.0.5:{upstream.port}" in cluster_hosts(peer.port("admin"), "od")
    finally:
        subprocess.run(["iptables", *["-D" if arg == "-A" else arg for arg in rule]], check=False)
