"""The RouteConfiguration fields istiod sets, each against hotproxy and Envoy 1.40 on the same
config: ignore_port_in_host_matching, validate_clusters: false, max_direct_response_body_size_bytes
and the gRPC retry conditions (unavailable, cancelled) of istiod's default retry_on."""
from __future__ import annotations

import collections
import threading

import pytest

from harness import RawClient, http_listener, static_cluster, to_yaml
from raw_upstream import RecordingUpstream


def direct(text):
    return {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": text}}}


def vhosts(domains_of_reviews):
    return [{"name": "reviews", "domains": domains_of_reviews, "routes": [direct("reviews")]},
            {"name": "allow_any", "domains": ["*"], "routes": [direct("allow_any")]}]


class GrpcStatusBackend(RecordingUpstream):
    """Answers ``/grpc/<grpc-status>`` first with a trailers-only gRPC answer of that status,
    then with grpc-status 0."""

    def __init__(self):
        self.seen = collections.Counter()
        self.lock = threading.Lock()
        super().__init__(self.answer)

    def attempts(self, target):
        return sum(1 for request in self.requests if request.target == target.encode())

    def answer(self, request):
        target = request.target.decode()
        with self.lock:
            self.seen[target] += 1
            first = self.seen[target] == 1
        status = target.split("/")[2] if first else "0"
        return (b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: %s\r\n"
                b"content-length: 0\r\n\r\n" % status.encode())


def config(backend_port):
    ignoring = {"name": "ignoring", "ignore_port_in_host_matching": True, "validate_clusters": False,
                "max_direct_response_body_size_bytes": 20000,
                "virtual_hosts": vhosts(["reviews", "reviews.default.svc.cluster.local"])}
    ignoring["virtual_hosts"][0]["routes"] = [
        {"match": {"prefix": "/big"}, "direct_response": {"status": 200, "body": {
            "inline_string": "x" * 10000}}},
        {"match": {"prefix": "/nowhere"}, "route": {"cluster": "not-a-cluster"}},
        {"match": {"prefix": "/grpc/"}, "route": {
            "cluster": "backend", "max_stream_duration": {"max_stream_duration": "0s"},
            "retry_policy": {"retry_on": "connect-failure,refused-stream,unavailable,cancelled",
                             "num_retries": 2}}},
        direct("reviews")]
    strict = {"name": "strict", "virtual_hosts": vhosts(["reviews"])}
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {
            "listeners": [http_listener("ignoring", "listen", ignoring),
                          http_listener("strict", "listen_strict", strict, stat_prefix="strict")],
            "clusters": [static_cluster("backend", backend_port)]}})


@pytest.fixture
def backend():
    server = GrpcStatusBackend()
    yield server
    server.close()


def get(peer, path, host, listener="listen"):
    client = RawClient(peer.port(listener))
    try:
        response = client.request("GET", path, headers=[("Host", host)])
        return response.status, dict(response.headers), response.body
    finally:
        client.close()


def test_the_hosts_port_is_ignored_only_where_asked(peer_factory, backend):
    peer = peer_factory(config(backend.port))
    for host in ("reviews:9080", "reviews", "REVIEWS.default.svc.cluster.local:80"):
        assert get(peer, "/", host)[2] == b"reviews", host
    assert get(peer, "/", "ratings:9080")[2] == b"allow_any"
    assert get(peer, "/", "reviews:9080", "listen_strict")[2] == b"allow_any"
    assert get(peer, "/", "reviews", "listen_strict")[2] == b"reviews"


def test_an_unvalidated_unknown_cluster_is_a_503_and_a_raised_body_limit_serves(peer_factory, backend):
    peer = peer_factory(config(backend.port))
    status, _headers, _body = get(peer, "/nowhere", "reviews")
    assert status == 503
    status, _headers, body = get(peer, "/big", "reviews:9080")
    assert (status, body) == (200, b"x" * 10000)


@pytest.mark.parametrize("grpc_status, retried", [("14", True), ("1", True), ("2", False),
                                                  ("4", False)])
def test_grpc_retry_conditions(peer_factory, backend, grpc_status, retried):
    peer = peer_factory(config(backend.port))
    target = f"/grpc/{grpc_status}"
    before = peer.counter("cluster.backend.upstream_rq_retry")
    status, headers, _body = get(peer, target, "reviews")
    assert status == 200
    assert headers["grpc-status"] == ("0" if retried else grpc_status)
    assert backend.attempts(target) == (2 if retried else 1)
    assert peer.counter("cluster.backend.upstream_rq_retry") - before == (1 if retried else 0)
