"""grpc_stats' emit_filter_state (istiod sets it) through the real CLI, against hotproxy and
Envoy 1.40: %FILTER_STATE(envoy.filters.http.grpc_stats)% logs the messages each way."""
from __future__ import annotations

import struct

import pytest

from harness import RawClient, http_listener, read_lines, simple_routes, static_cluster, to_yaml
from raw_upstream import RecordingUpstream

T = "type.googleapis.com/"
FORMAT = ("%REQ(:PATH)% T=%FILTER_STATE(envoy.filters.http.grpc_stats)% "
          "P=%FILTER_STATE(envoy.filters.http.grpc_stats:PLAIN)%\n")


def frame(message):
    return struct.pack(">BI", 0, len(message)) + message


def answer(_request):
    body = frame(b"r1") + frame(b"r2")
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: 0\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body))


def config(port, log_path):
    access_log = {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": T + "envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": str(log_path),
        "log_format": {"text_format_source": {"inline_string": FORMAT}}}}
    listener = http_listener("http", "listen", simple_routes(
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}), {"access_log": [access_log]})
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"].insert(0, {"name": "envoy.filters.http.grpc_stats", "typed_config": {
        "@type": T + "envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
        "emit_filter_state": True, "stats_for_all_methods": False}})
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [listener], "clusters": [static_cluster("backend", port)]}})


@pytest.fixture
def upstream():
    server = RecordingUpstream(answer)
    yield server
    server.close()


def test_the_message_counts_reach_the_access_log(peer_factory, upstream, tmp_path):
    log_path = tmp_path / "grpc.log"
    peer = peer_factory(config(upstream.port, log_path))
    for path, messages in (("/pkg.Svc/Three", 3), ("/pkg.Svc/None", 0)):
        client = RawClient(peer.port("listen"))
        try:
            response = client.request("POST", path, headers=[
                ("Host", "x"), ("content-type", "application/grpc")],
                body=b"".join(frame(b"q") for _ in range(messages)))
            assert response.status == 200
        finally:
            client.close()
    lines = read_lines(log_path, 2)
    assert lines == [
        '/pkg.Svc/Three T={"requestMessageCount":"3","responseMessageCount":"2"} P=3,2',
        '/pkg.Svc/None T={"responseMessageCount":"2"} P=0,2']
