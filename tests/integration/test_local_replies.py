"""Header mutations reach every response Envoy gives them to: the router's own replies (no
healthy upstream, connect failure, unknown cluster, timeout), direct responses and redirects,
and bodiless upstream responses (204, 304, HEAD) — and not the replies made before a route was
chosen. Run against hotproxy and, where installed, Envoy 1.40."""
from __future__ import annotations

import time

import pytest

from harness import RawClient, http_listener, refused_port, static_cluster, to_yaml
from raw_upstream import RecordingUpstream, ok_for

MUTATED = ("x-route", "x-vh", "x-rc")


def add(key):
    return {"header": {"key": key, "value": "1"}}


def config(upstream_port):
    route_level = {"response_headers_to_add": [add("x-route")], "response_headers_to_remove": ["x-gone"]}
    routes = {"name": "rc", "response_headers_to_add": [add("x-rc")], "virtual_hosts": [{
        "name": "vh", "domains": ["mutated"], "response_headers_to_add": [add("x-vh")], "routes": [
            {"match": {"prefix": "/slow"}, "route": {"cluster": "backend", "timeout": "0.3s"}, **route_level},
            {"match": {"prefix": "/refused"}, "route": {"cluster": "refused"}, **route_level},
            {"match": {"prefix": "/empty"}, "route": {"cluster": "empty"}, **route_level},
            {"match": {"prefix": "/by-header"}, "route": {"cluster_header": "x-cluster"}, **route_level},
            {"match": {"prefix": "/direct"}, "direct_response": {"status": 201, "body": {"inline_string": "made"}},
             **route_level},
            {"match": {"prefix": "/redirect"}, "redirect": {"host_redirect": "elsewhere.example"}, **route_level},
            {"match": {"prefix": "/"}, "route": {"cluster": "backend"}, **route_level}]}]}
    empty = {"name": "empty", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {"cluster_name": "empty"}}
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {
            "listeners": [http_listener("http", "listen", routes)],
            "clusters": [static_cluster("backend", upstream_port), static_cluster("refused", refused_port()), empty]}})


def answer(request):
    if request.target == b"/204":
        return b"HTTP/1.1 204 No Content\r\nx-gone: 1\r\n\r\n"
    if request.target == b"/304":
        return b"HTTP/1.1 304 Not Modified\r\nx-gone: 1\r\ncontent-length: 5\r\n\r\n"
    if request.target == b"/slow":
        return lambda conn: time.sleep(2)
    return ok_for(request)


@pytest.fixture
def peer(peer_factory):
    upstream = RecordingUpstream(answer)
    return peer_factory(config(upstream.port))


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/empty", 503), ("HEAD", "/empty", 503), ("GET", "/refused", 503), ("POST", "/refused", 503),
    ("GET", "/by-header", 503), ("GET", "/slow", 504), ("GET", "/direct", 201), ("GET", "/redirect", 301),
    ("GET", "/204", 204), ("GET", "/304", 304), ("HEAD", "/ok", 200), ("GET", "/ok", 200),
])
def test_every_routed_response_carries_the_mutations(peer, method, path, status):
    client = RawClient(peer.port("listen"))
    headers = [("Host", "mutated"), ("X-Cluster", "no-such-cluster")]
    response = client.request(method, path, headers, body=b"hello" if method == "POST" else None)
    assert response.status == status
    assert [name for name in MUTATED if response.header(name) == "1"] == list(MUTATED)
    assert response.header("x-gone") is None
    assert [name for name, _ in response.headers].count("content-type") <= 1


def test_a_reply_made_before_routing_has_no_route_to_take_mutations_from(peer):
    response = RawClient(peer.port("listen")).request("GET", "/", [("Host", "no-virtual-host")])
    assert response.status == 404
    assert [name for name in MUTATED if response.header(name)] == []
