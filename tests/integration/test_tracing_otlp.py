"""OpenTelemetry tracing through real hotproxy processes: OTLP over HTTP and over gRPC to fake
collectors in the test process (opentelemetry-proto's messages, grpcio), W3C trace context
between two hops and the upstream."""
from __future__ import annotations

import time

import pytest

from harness import HCM_TYPE, ROUTER_TYPE, admin_counter, refused_port, static_cluster, to_yaml
from trace_collectors import OtlpGrpcCollector, OtlpHttpCollector

OTEL_TYPE = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig"
HTTP2 = {"typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    "explicit_http_config": {"http2_protocol_options": {}}}}}
ENV_DETECTOR = {"name": "envoy.tracers.opentelemetry.resource_detectors.environment",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.tracers."
                                          "opentelemetry.resource_detectors.v3."
                                          "EnvironmentResourceDetectorConfig"}}


def otel_config(next_port, collector_port, grpc=False, node="a", router=None, route=None,
                tracing=None, detectors=()):
    if grpc:
        exporter = {"grpc_service": {"envoy_grpc": {"cluster_name": "otel"}, "timeout": "2s"}}
    else:
        exporter = {"http_service": {"http_uri": {"uri": "http://otel.local/v1/traces",
                                                  "cluster": "otel", "timeout": "2s"},
                                     "request_headers_to_add": [{"header": {
                                         "key": "authorization", "value": "Bearer t"}}]}}
    provider = {"@type": OTEL_TYPE, "service_name": f"proxy-{node}", **exporter,
                "resource_detectors": list(detectors)}
    hcm = {"@type": HCM_TYPE, "stat_prefix": "ingress",
           "tracing": {"provider": {"name": "envoy.tracers.opentelemetry",
                                    "typed_config": provider}, **(tracing or {})},
           "route_config": {"name": "local", "virtual_hosts": [{
               "name": "vh", "domains": ["*"],
               "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "next"},
                           **(route or {})}]}]},
           "http_filters": [{"name": "envoy.filters.http.router",
                             "typed_config": {"@type": ROUTER_TYPE, **(router or {})}}]}
    listener = {"name": "traced",
                "address": {"socket_address": {"address": "127.0.0.1",
                                               "port_value": "{port:listen}"}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    return to_yaml({
        "node": {"id": node, "cluster": f"svc-{node}"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1",
                                                 "port_value": "{port:admin}"}}},
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {
            "tracing.opentelemetry.min_flush_spans": 1}}]},
        "static_resources": {"listeners": [listener], "clusters": [
            static_cluster("next", next_port),
            static_cluster("otel", collector_port, extra=HTTP2 if grpc else None)]}})


def request(client_factory, port, headers=()):
    return client_factory(port).request("GET", "/cart", headers=[("Host", "shop"), *headers])


def forwarded(upstream):
    return dict(upstream.requests[-1]["headers"])


@pytest.mark.parametrize("grpc", [False, True], ids=["http", "grpc"])
def test_two_hops_continue_the_callers_w3c_trace(grpc, proxy_factory, upstream, client_factory,
                                                 monkeypatch):
    collector = OtlpGrpcCollector() if grpc else OtlpHttpCollector()
    try:
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
        second = proxy_factory(otel_config(upstream.port, collector.port, grpc, node="b",
                                           detectors=[ENV_DETECTOR]))
        first = proxy_factory(otel_config(second.port("listen"), collector.port, grpc, node="a",
                                          router={"start_child_span": True},
                                          route={"decorator": {"operation": "cart"}}))
        trace, caller = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
        response = request(client_factory, first.port("listen"),
                           [("traceparent", f"00-{trace}-{caller}-01"), ("tracestate", "v=1")])
        assert response.status == 200
        spans = collector.wait_for(3)
        assert {span["traceId"] for span in spans} == {trace}
        by_service = {}
        for span in spans:
            by_service.setdefault(span["resource"]["service.name"], []).append(span)
        first_server = next(s for s in by_service["proxy-a"] if s["kind"] == "SERVER")
        first_egress = next(s for s in by_service["proxy-a"] if s["kind"] == "CLIENT")
        [second_server] = by_service["proxy-b"]
        assert first_server["parentId"] == caller
        assert first_server["name"] == "cart"
        assert first_egress["name"] == "router next egress"
        assert first_egress["parentId"] == first_server["id"]
        assert second_server["parentId"] == first_egress["id"]
        assert second_server["name"] == "ingress"
        assert second_server["resource"]["deployment.environment"] == "test"
        assert second_server["tracestate"] == "v=1"
        headers = forwarded(upstream)
        assert headers["traceparent"] == f"00-{trace}-{second_server['id']}-01"
        assert headers["tracestate"] == "v=1"
        assert first_server["tags"]["http.url"] == "http://shop/cart"
        assert first_server["tags"]["http.status_code"] == "200"
        assert first_egress["tags"]["upstream_cluster"] == "next"
        assert admin_counter(first.port("admin"), "tracing.opentelemetry.spans_sent") == 2
        if not grpc:
            path, sent = collector.requests[0]
            assert (path, sent["content-type"], sent["authorization"], sent["host"]) == (
                "/v1/traces", "application/x-protobuf", "Bearer t", "otel.local")
        assert admin_counter(second.port("admin"), "tracing.opentelemetry.spans_dropped") == 0
    finally:
        collector.stop()


def test_a_new_trace_is_128_bits_and_follows_the_decision(proxy_factory, upstream,
                                                          client_factory):
    collector = OtlpHttpCollector()
    try:
        proxy = proxy_factory(otel_config(upstream.port, collector.port,
                                          tracing={"random_sampling": {"value": 0}}))
        request(client_factory, proxy.port("listen"))
        unsampled = forwarded(upstream)["traceparent"]
        assert unsampled.startswith("00-") and unsampled.endswith("-00")
        request(client_factory, proxy.port("listen"), [("x-client-trace-id", "c")])
        sampled = forwarded(upstream)["traceparent"]
        version, trace, span_id, flags = sampled.split("-")
        assert (len(trace), len(span_id), flags) == (32, 16, "01")
        [span] = collector.wait_for(1)
        assert (span["traceId"], span["id"]) == (trace, span_id)
        assert "parentId" not in span
    finally:
        collector.stop()


@pytest.mark.parametrize("grpc", [False, True], ids=["http", "grpc"])
def test_a_dead_collector_costs_counted_drops_never_requests(grpc, proxy_factory, upstream,
                                                             client_factory):
    proxy = proxy_factory(otel_config(upstream.port, refused_port(), grpc))
    for _ in range(3):
        assert request(client_factory, proxy.port("listen")).status == 200
    admin = proxy.port("admin")
    deadline = time.monotonic() + 20
    while (admin_counter(admin, "tracing.opentelemetry.spans_dropped") < 3
           and time.monotonic() < deadline):
        time.sleep(0.1)
    assert admin_counter(admin, "tracing.opentelemetry.spans_dropped") == 3
    assert admin_counter(admin, "tracing.opentelemetry.spans_sent") == 3
