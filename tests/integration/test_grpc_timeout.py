"""gRPC timeouts (route max_stream_duration.grpc_timeout_header_max/_offset, max_grpc_timeout),
against hotproxy and Envoy 1.40 on the same config: what the upstream is told, and that the
request's grpc-timeout is the one that ends it."""
import json
import time

import pytest

from h2_client import H2Client
from harness import simple_routes, static_cluster, http_listener, to_yaml

GRPC = [("content-type", "application/grpc"), ("te", "trailers")]
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}


def timeout_config(upstream_port):
    routes = simple_routes(
        {"match": {"prefix": "/capped/"}, "route": {"cluster": "up", "prefix_rewrite": "/",
                                                    "max_stream_duration": {
            "grpc_timeout_header_max": "2s", "grpc_timeout_header_offset": "0.1s"}}},
        {"match": {"prefix": "/unlimited/"}, "route": {"cluster": "up", "prefix_rewrite": "/",
                                                       "max_stream_duration": {
            "grpc_timeout_header_max": "0s"}}},
        {"match": {"prefix": "/legacy/"}, "route": {"cluster": "up", "prefix_rewrite": "/",
                                                    "max_grpc_timeout": "1s"}},
        {"match": {"prefix": "/"}, "route": {"cluster": "up"}})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", routes)],
        "clusters": [static_cluster("up", upstream_port)]}})


def upstream_headers(response):
    return dict(json.loads(response.body)["headers"])


@pytest.mark.parametrize("path, sent, expected", [
    ("/capped/echo", "5S", "1900m"),        # capped at 2 s, then less the 0.1 s offset
    ("/capped/echo", "500m", "400m"),
    ("/capped/echo", None, None),
    ("/unlimited/echo", "3S", "3000m"),
    ("/legacy/echo", "10S", "1000m"),
    ("/echo", "1S", "1S"),                  # no gRPC timeout on the route: passed as it is
])
def test_what_the_upstream_is_told(peer_factory, upstream, path, sent, expected):
    peer = peer_factory(timeout_config(upstream.port))
    client = H2Client(peer.port("listen"))
    try:
        extra = [("grpc-timeout", sent)] if sent else []
        response = client.request("POST", path, GRPC + extra, body=b"\0\0\0\0\0")
    finally:
        client.close()
    assert response.status == 200
    headers = upstream_headers(response)
    assert headers.get("grpc-timeout") == expected
    announced = {"/echo": "15000", "/legacy/echo": "1000"}   # max_grpc_timeout still says it
    assert headers.get("x-envoy-expected-rq-timeout-ms") == announced.get(path)


@pytest.mark.parametrize("prefix", ["/unlimited", "/legacy"])
def test_the_grpc_timeout_ends_the_request(peer_factory, upstream, prefix):
    peer = peer_factory(timeout_config(upstream.port))
    client = H2Client(peer.port("listen"))
    try:
        started = time.monotonic()
        response = client.request("POST", f"{prefix}/sleep/3000",
                                  GRPC + [("grpc-timeout", "300m")], body=b"\0\0\0\0\0")
        took = time.monotonic() - started
    finally:
        client.close()
    # grpc_timeout_header_max: Envoy's stream max-duration timer, DEADLINE_EXCEEDED; the
    # deprecated max_grpc_timeout: a route timeout, UNAVAILABLE
    expected = ((b"4", b"downstream duration timeout") if prefix == "/unlimited"
                else (b"14", b"upstream request timeout"))
    assert response.status == 200
    assert (response.header(b"grpc-status"), response.header(b"grpc-message")) == expected
    assert took < 2
