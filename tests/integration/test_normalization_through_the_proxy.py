"""Path and Host normalization, and headers with underscores, through real processes: what is
routed, what reaches the upstream, what the client is answered; against hotproxy and, where it is
installed, Envoy 1.40 on the same config."""
from __future__ import annotations

import pytest

from harness import RawClient, http_listener, simple_routes, static_cluster, to_yaml
from raw_upstream import RecordingUpstream


def config(upstream_port, **hcm):
    routes = simple_routes({"match": {"prefix": "/a/"}, "route": {"cluster": "backend"}})
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [http_listener("http", "listen", routes, hcm)],
                             "clusters": [static_cluster("backend", upstream_port)]}})


@pytest.fixture
def start(peer_factory):
    upstream = RecordingUpstream()

    def started(**hcm):
        peer = peer_factory(config(upstream.port, **hcm))
        peer.upstream = upstream
        return peer
    yield started
    upstream.close()


def ask(peer, target, host="h", headers=()):
    client = RawClient(peer.port("listen"))
    before = len(peer.upstream.requests)
    response = client.request("GET", target, [("Host", host), *headers])
    forwarded = peer.upstream.requests[before:]
    return response, forwarded[0] if forwarded else None


@pytest.mark.parametrize("target, forwarded", [
    ("/a/b/../c", b"/a/c"), ("/a/./b", b"/a/b"), ("/a/%41%42", b"/a/AB"), ("/a/b\\c", b"/a/b/c"),
    ("/../a/x", b"/a/x"), ("/a/b%2Fc", b"/a/b%2Fc"), ("/a/b?x=/../y", b"/a/b?x=/../y"), ("/a//b", b"/a//b"),
])
def test_normalize_path(start, target, forwarded):
    response, request = ask(start(normalize_path=True), target)
    assert response.status == 200 and request.target == forwarded


@pytest.mark.parametrize("target", ["/a/%2e%2e/x", "/a/.."])
def test_a_path_normalized_out_of_its_route_is_not_routed_there(start, target):
    response, request = ask(start(normalize_path=True), target)
    assert response.status == 404 and request is None


def test_a_path_that_cannot_be_normalized_is_400(start):
    peer = start(normalize_path=True)
    response, request = ask(peer, "/a/%00")
    assert response.status == 400 and request is None
    assert peer.counter("http.ingress_http.downstream_rq_failed_path_normalization") == 1


def test_merge_slashes(start):
    response, request = ask(start(merge_slashes=True), "/a//b///c")
    assert request.target == b"/a/b/c"


@pytest.mark.parametrize("action, status, forwarded, location", [
    ("KEEP_UNCHANGED", 200, b"/a/b%2Fc", None),
    ("REJECT_REQUEST", 400, None, None),
    ("UNESCAPE_AND_REDIRECT", 307, None, "/a/b/c?q=1"),
    ("UNESCAPE_AND_FORWARD", 200, b"/a/b/c?q=1", None),
])
def test_escaped_slashes(start, action, status, forwarded, location):
    peer = start(path_with_escaped_slashes_action=action)
    response, request = ask(peer, "/a/b%2Fc?q=1" if action != "KEEP_UNCHANGED" else "/a/b%2Fc")
    assert response.status == status
    assert (request.target if request else None) == forwarded
    assert response.header("location") == location
    if action == "UNESCAPE_AND_REDIRECT":
        assert peer.counter("http.ingress_http.downstream_rq_redirected_with_normalized_path") == 1


def test_escaped_slashes_are_unescaped_before_normalizing(start):
    response, request = ask(start(path_with_escaped_slashes_action="UNESCAPE_AND_FORWARD", normalize_path=True),
                            "/a/b%2F..%2Fc")
    assert request.target == b"/a/c"


@pytest.mark.parametrize("hcm, host, forwarded", [
    ({"strip_trailing_host_dot": True}, "h.", b"h"),
    ({"strip_trailing_host_dot": True}, "h.:80", b"h:80"),
    ({"strip_any_host_port": True}, "h:8080", b"h"),
    ({"strip_any_host_port": True}, "[::1]:80", b"[::1]"),
    ({"strip_matching_host_port": True}, "h:1", b"h:1"),
])
def test_host_normalization(start, hcm, host, forwarded):
    response, request = ask(start(**hcm), "/a/x", host=host)
    assert response.status == 200 and request.header(b"host") == forwarded


def test_strip_matching_host_port_strips_the_listeners_port(start):
    peer = start(strip_matching_host_port=True)
    response, request = ask(peer, "/a/x", host=f"h:{peer.port('listen')}")
    assert request.header(b"host") == b"h"


def test_headers_with_underscores_dropped(start):
    peer = start(common_http_protocol_options={"headers_with_underscores_action": "DROP_HEADER"})
    response, request = ask(peer, "/a/x", headers=[("x_a", "1"), ("x-b", "2")])
    assert response.status == 200
    assert b"x_a" not in request.header_names() and request.header(b"x-b") == b"2"
    assert peer.counter("http1.dropped_headers_with_underscores") == 1


def test_headers_with_underscores_rejected(start):
    peer = start(common_http_protocol_options={"headers_with_underscores_action": "REJECT_REQUEST"})
    response, request = ask(peer, "/a/x", headers=[("x_a", "1")])
    assert (response.status, response.body, request) == (400, b"Bad Request", None)
    assert response.header("connection") == "close"
    assert peer.counter("http1.requests_rejected_with_underscores_in_headers") == 1


def test_underscores_are_allowed_by_default(start):
    response, request = ask(start(), "/a/x", headers=[("x_a", "1")])
    assert request.header(b"x_a") == b"1"
