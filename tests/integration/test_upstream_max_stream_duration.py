"""A cluster's common_http_protocol_options.max_stream_duration against hotproxy and Envoy 1.40 on
one config (router/upstream_duration.py): an upstream request that outlives it is reset (HTTP/2:
RST_STREAM INTERNAL_ERROR; HTTP/1.1: its connection closed) and counted in
upstream_rq_max_duration_reached; the client gets 504 ``upstream max stream duration reached``,
or with its response started, the end of its stream; a retry policy on resets retries it. The
access log says UMSDR and upstream_max_stream_duration_reached. HTTP/1.1 and HTTP/2 upstreams,
HTTP/1.1 and HTTP/2 clients, the limit from HttpProtocolOptions or the deprecated cluster field."""

import pytest

from h2_frames import H2Client
from harness import RawClient, http_listener, read_lines, simple_routes, static_cluster, to_yaml
from watching_upstream import H1WatchingUpstream, H2WatchingUpstream

FORMAT = ("%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% "
          "%UPSTREAM_REQUEST_ATTEMPT_COUNT%\n")
FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
OPTIONS_TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
STAT = "cluster.backend.upstream_rq_max_duration_reached"
REACHED = b"upstream max stream duration reached"
INTERNAL_ERROR = 2


def cluster_options(http2, where):
    common = {"max_stream_duration": "0.5s"}
    if where == "deprecated":
        return {"common_http_protocol_options": common,
                **({"http2_protocol_options": {}} if http2 else {})}
    protocol = {"http2_protocol_options": {}} if http2 else {"http_protocol_options": {}}
    return {"typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": OPTIONS_TYPE, "common_http_protocol_options": common,
            "explicit_http_config": protocol}}}


@pytest.fixture(params=["http2", "http1"])
def watching(request):
    server = H2WatchingUpstream() if request.param == "http2" else H1WatchingUpstream()
    yield server
    server.stop()


def start(peer_factory, tmp_path, server, where="options", retry=None):
    log = tmp_path / "access.log"
    route = {"cluster": "backend"}
    if retry is not None:
        route["retry_policy"] = retry
    listener = http_listener("http", "listen", simple_routes(
        {"match": {"prefix": "/"}, "route": route}), hcm_extra={
        "codec_type": "AUTO",
        "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": FILE_LOG, "path": str(log),
            "log_format": {"text_format_source": {"inline_string": FORMAT}}}}]})
    cluster = static_cluster("backend", server.port, extra=cluster_options(
        isinstance(server, H2WatchingUpstream), where))
    peer = peer_factory(to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [cluster]}}))
    return peer, log


def upstream_ended(server, count):
    """The upstream saw ``count`` requests ended by the proxy: RST_STREAM INTERNAL_ERROR each
    (HTTP/2), or their connections closed (HTTP/1.1)."""
    if isinstance(server, H2WatchingUpstream):
        return server.wait(lambda: len(server.resets) >= count) and \
            server.reset_codes() == [INTERNAL_ERROR] * count
    return server.wait(lambda: len(server.closes) >= count)


@pytest.mark.parametrize("where", ["options", "deprecated"])
def test_a_late_response_is_a_504_and_its_upstream_request_reset(peer_factory, tmp_path, watching,
                                                                   where):
    peer, log = start(peer_factory, tmp_path, watching, where)
    client = RawClient(peer.port("listen"))
    response = client.request(path="/late/3000")
    assert (response.status, response.body) == (504, REACHED)
    assert response.header("content-type") == "text/plain"
    client.close()
    assert upstream_ended(watching, 1)
    fast = RawClient(peer.port("listen"))
    assert fast.request(path="/fast").body == b"fast"       # within the limit: untouched
    fast.close()
    assert peer.counter(STAT) == 1
    assert peer.counter("cluster.backend.upstream_rq_504") == 0     # not charged to the cluster
    assert read_lines(log, 2) == ["/late/3000 504 UMSDR upstream_max_stream_duration_reached 1",
                                 "/fast 200 - via_upstream 1"]


def test_a_started_response_is_cut_short(peer_factory, tmp_path, watching):
    peer, log = start(peer_factory, tmp_path, watching)
    client = RawClient(peer.port("listen"))
    client.send(b"GET /head HTTP/1.1\r\nhost: test\r\n\r\n")
    with pytest.raises(EOFError):
        client.read_response()      # the head came (200, logged below), then the close
    assert client.buffer == b""     # none of its 10 bytes of body
    client.close()
    assert upstream_ended(watching, 1)
    assert peer.counter(STAT) == 1
    assert read_lines(log, 1) == ["/head 200 UMSDR upstream_max_stream_duration_reached 1"]


def test_an_http2_client_gets_the_504_or_its_stream_reset(peer_factory, tmp_path, watching):
    peer, log = start(peer_factory, tmp_path, watching)
    client = H2Client(peer.port("listen"))
    client.send(client.request(1, path="/late/3000"))
    status, _, body = client.response(1)
    assert (status, body) == (504, REACHED)
    client.send(client.request(3, path="/head"))
    client.expect_rst(3, INTERNAL_ERROR, timeout=3)     # after its HEADERS
    assert client.alive()       # just that stream
    client.close()
    assert upstream_ended(watching, 2)
    assert peer.counter(STAT) == 2
    assert read_lines(log, 2) == ["/late/3000 504 UMSDR upstream_max_stream_duration_reached 1",
                                 "/head 200 UMSDR upstream_max_stream_duration_reached 1"]


def test_a_retry_policy_on_resets_retries_it(peer_factory, tmp_path, watching):
    peer, log = start(peer_factory, tmp_path, watching,
                      retry={"retry_on": "reset", "num_retries": 1})
    client = RawClient(peer.port("listen"))
    response = client.request(path="/late/3000")
    assert (response.status, response.body) == (504, REACHED)
    client.close()
    assert [path for _, path in watching.requests] == ["/late/3000", "/late/3000"]
    assert upstream_ended(watching, 2)
    assert peer.counter(STAT) == 2
    assert peer.counter("cluster.backend.upstream_rq_retry") == 1
    assert peer.counter("cluster.backend.upstream_rq_retry_limit_exceeded") == 1
    assert read_lines(log, 1) == ["/late/3000 504 URX,UMSDR upstream_max_stream_duration_reached 2"]
