"""Tag extraction beside a real Envoy 1.40: on the same config (an HTTP listener, a TLS one, a TCP
proxy, two clusters) and the same traffic, every Prometheus family both proxies export has the
same labels with the same values (listener addresses aside: each proxy has its own ports), so that
a dashboard written for Envoy's output reads hotproxy's alike."""
from __future__ import annotations

import re
import socket
import ssl
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import start_peer
from envoy_peer import envoy_binary
from harness import RawClient, Upstream, http_listener, simple_routes, static_cluster, to_yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from certs import CA  # noqa: E402

pytestmark = pytest.mark.skipif(envoy_binary() is None, reason="envoy is not installed")
TLS_CONTEXT = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
SAMPLE = re.compile(r"^(?P<name>[^{ ]+)(?:\{(?P<labels>.*)\})? \S+$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def config(directory, upstream_port):
    cert, key = CA().issue("proxy.test", dns=["proxy.test"]).write(directory, "server")
    routes = simple_routes({"match": {"prefix": "/other"}, "route": {"cluster": "other"}},
                           {"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    tls = http_listener("secure", "listen_tls", routes, stat_prefix="ingress_tls")
    tls["filter_chains"][0]["transport_socket"] = {"name": "tls", "typed_config": {
        "@type": TLS_CONTEXT, "common_tls_context": {"tls_certificates": [
            {"certificate_chain": {"filename": str(cert)}, "private_key": {"filename": str(key)}}]}}}
    tcp = {"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen_tcp}"}},
           "filter_chains": [{"filters": [{"name": "tcp", "typed_config": {
               "@type": TCP_PROXY, "stat_prefix": "tcp_in", "cluster": "backend"}}]}]}
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [http_listener("ingress", "listen", routes), tls, tcp],
                             "clusters": [static_cluster("backend", upstream_port),
                                          static_cluster("other", upstream_port)]}})


def traffic(peer):
    client = RawClient(peer.port("listen"))
    for path in ("/echo", "/status/503", "/other/status/404"):
        client.request("GET", path)
    client.sock.close()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with context.wrap_socket(socket.create_connection(("127.0.0.1", peer.port("listen_tls"))),
                             server_hostname="proxy.test") as conn:
        conn.sendall(b"GET /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        while conn.recv(65536):
            pass
    with socket.create_connection(("127.0.0.1", peer.port("listen_tcp"))) as conn:
        conn.sendall(b"GET /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        while conn.recv(65536):
            pass


def label_sets(peer):
    """``{family: {((label, value), ...), ...}}``, listener addresses written as "<address>"."""
    deadline = time.monotonic() + 10
    while peer.counter("tcp.tcp_in.downstream_cx_total") < 1 or peer.counter("http.ingress_tls.downstream_rq_total") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with urllib.request.urlopen(f"http://127.0.0.1:{peer.ports['admin']}/stats/prometheus", timeout=10) as response:
        text = response.read().decode()
    out = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if line.startswith("#") or match is None:
            continue
        labels = tuple((name, "<address>" if name == "envoy_listener_address" and value != "admin" else value)
                       for name, value in LABEL.findall(match["labels"] or "") if name != "le")
        out.setdefault(match["name"], set()).add(labels)
    return out


def test_every_family_both_export_has_envoys_labels(tmp_path):
    upstream = Upstream()
    found = {}
    try:
        for kind in ("hotproxy", "envoy"):
            directory = tmp_path / kind
            directory.mkdir()
            peer = start_peer(kind, config(directory, upstream.port), directory)
            try:
                traffic(peer)
                found[kind] = label_sets(peer)
            finally:
                peer.stop()
    finally:
        upstream.stop()
    ours, envoys = found["hotproxy"], found["envoy"]
    common = set(ours) & set(envoys)
    assert len(common) > 100
    for family in ("envoy_listener_ssl_ciphers", "envoy_tcp_downstream_cx_total",
                   "envoy_cluster_upstream_rq_xx", "envoy_listener_http_downstream_rq_xx",
                   "envoy_listener_ssl_certificate_expiration_unix_time_seconds"):
        assert family in common, family
    differences = {}
    for family in sorted(common):
        theirs = {labels for labels in envoys[family] if not _envoy_internal(labels)}
        names = lambda sets: {tuple(name for name, _ in labels) for labels in sets}
        # the same label names in the same order, and every series Envoy has (hotproxy also
        # lists classes that are still 0, which Envoy creates with their first request)
        if names(ours[family]) != names(theirs) or not theirs <= ours[family]:
            differences[family] = (sorted(ours[family]), sorted(theirs))
    assert not differences, "\n".join(f"{f}:\n  ours   {o}\n  envoy  {e}" for f, (o, e) in differences.items())


def _envoy_internal(labels):
    """Series of Envoy's own admin interface and its internal HTTP client, which hotproxy has not."""
    return {("envoy_http_conn_manager_prefix", "admin"), ("envoy_listener_address", "admin"),
            ("envoy_http_conn_manager_prefix", "async-client")} & set(labels)
