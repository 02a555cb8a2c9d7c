"""An HTTP/2 client that leaves while the upstream's response head is still awaited, against
hotproxy and Envoy 1.40 on one config: its RST_STREAM, or the close of its connection, reaches
the upstream at once (an HTTP/2 upstream's stream is reset with INTERNAL_ERROR, an HTTP/1.1
upstream's connection closed), though the upstream never answers. The access log says
``0 DR http2.remote_reset`` or ``0 DC downstream_remote_disconnect``; downstream_rq_rx_reset
counts it, and an HTTP/2 upstream's upstream_rq_tx_reset the reset sent."""
import time

import pytest

from h2_frames import CANCEL, H2Client, rst_stream
from harness import http_listener, read_lines, simple_routes, static_cluster, to_yaml
from watching_upstream import H1WatchingUpstream, H2WatchingUpstream

FORMAT = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n"
FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
HTTP2 = {"typed_extension_protocol_options": {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}}}}}
INTERNAL_ERROR = 2


@pytest.fixture(params=["http2", "http1"])
def watching(request):
    server = H2WatchingUpstream() if request.param == "http2" else H1WatchingUpstream()
    yield server
    server.stop()


def start(peer_factory, tmp_path, server, retry):
    log = tmp_path / "access.log"
    route = {"cluster": "backend"}
    if retry:   # the attempt loop of a retrying route waits for the head too
        route["retry_policy"] = {"retry_on": "reset,5xx", "num_retries": 2}
    listener = http_listener("http", "listen", simple_routes(
        {"match": {"prefix": "/"}, "route": route}), hcm_extra={
        "codec_type": "AUTO",
        "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": FILE_LOG, "path": str(log),
            "log_format": {"text_format_source": {"inline_string": FORMAT}}}}]})
    http2 = isinstance(server, H2WatchingUpstream)
    peer = peer_factory(to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener],
        "clusters": [static_cluster("backend", server.port, extra=HTTP2 if http2 else None)]}}))
    return peer, log


def counter_reaches(peer, name, value):
    deadline = time.monotonic() + 5
    while peer.counter(name) < value and time.monotonic() < deadline:
        time.sleep(0.05)
    return peer.counter(name)


@pytest.mark.parametrize("retry", [False, True], ids=["plain", "retrying"])
@pytest.mark.parametrize("leaving", ["reset", "close"])
def test_the_upstream_hears_at_once(peer_factory, tmp_path, watching, leaving, retry):
    peer, log = start(peer_factory, tmp_path, watching, retry)
    client = H2Client(peer.port("listen"))
    client.send(client.request(1, path="/hang"))
    assert watching.wait(lambda: watching.requests)
    if leaving == "reset":
        client.send(rst_stream(1, CANCEL))
    else:
        client.close()
    http2 = isinstance(watching, H2WatchingUpstream)
    if http2:   # /hang never answers: a reset seen at all came from the client's leaving
        assert watching.wait(lambda: watching.resets)
        assert watching.reset_codes() == [INTERNAL_ERROR]
    else:
        assert watching.wait(lambda: watching.closes)
    expected = ("/hang 0 DR http2.remote_reset" if leaving == "reset"
                else "/hang 0 DC downstream_remote_disconnect")
    assert read_lines(log, 1) == [expected]
    assert counter_reaches(peer, "http.ingress_http.downstream_rq_rx_reset", 1) == 1
    assert peer.counter("cluster.backend.upstream_rq_tx_reset") == (1 if http2 else 0)
    assert [path for _, path in watching.requests] == ["/hang"]     # never retried
    if leaving == "reset":
        client.close()
