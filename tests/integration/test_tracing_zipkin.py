"""Zipkin tracing through real hotproxy processes: a client, two proxies in a row and an
upstream, every proxy reporting to a fake Zipkin collector in the test process. The spans the
collector parses, the B3 headers the upstream receives and the trace decisions are asserted
(Envoy 1.40's behaviour: docs/tracing.md)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from harness import (HCM_TYPE, ROUTER_TYPE, admin_counter, refused_port, static_cluster,
                     to_yaml)
from h2_client import H2Client
from trace_collectors import ZipkinCollector

ZIPKIN_TYPE = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig"


@pytest.fixture
def collector():
    server = ZipkinCollector()
    yield server
    server.stop()


def zipkin_config(next_port, collector_port, node="node-a", tracing=None, zipkin=None,
                  router=None, route=None, runtime=None, zone=None):
    """One proxy: a traced listener whose only route goes to ``next_port``."""
    provider = {"@type": ZIPKIN_TYPE, "collector_cluster": "zipkin",
                "collector_endpoint": "/api/v2/spans",
                "collector_endpoint_version": "HTTP_JSON", **(zipkin or {})}
    hcm = {"@type": HCM_TYPE, "stat_prefix": "ingress",
           "tracing": {"provider": {"name": "envoy.tracers.zipkin", "typed_config": provider},
                       **(tracing or {})},
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
    layer = {"tracing.zipkin.min_flush_spans": 1, **(runtime or {})}
    return to_yaml({
        "node": {"id": node, "cluster": f"svc-{node}",
                 **({"locality": {"zone": zone}} if zone else {})},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1",
                                                 "port_value": "{port:admin}"}}},
        "layered_runtime": {"layers": [{"name": "static", "static_layer": layer}]},
        "static_resources": {"listeners": [listener],
                             "clusters": [static_cluster("next", next_port),
                                          static_cluster("zipkin", collector_port)]}})


def get(client_factory, port, headers=()):
    client = client_factory(port)
    response = client.request("GET", "/orders/7?verbose=1",
                              headers=[("Host", "shop.example"), *headers])
    return response


def forwarded(upstream):
    return dict(upstream.requests[-1]["headers"])


def by_node(spans):
    return {span["localEndpoint"]["serviceName"]: span for span in spans}


def test_two_hops_and_the_upstream_share_one_trace_with_parent_links(
        proxy_factory, upstream, collector, client_factory):
    """Without a shared span context each hop's span is a child of the one before: the first
    proxy's server span is the root, its router's egress span a child, the second proxy's
    server span a child of that, and the upstream hears the second proxy's egress span."""
    separate = {"shared_span_context": False}
    child = {"start_child_span": True}
    second = proxy_factory(zipkin_config(upstream.port, collector.port, node="b", zipkin=separate,
                                         router=child))
    first = proxy_factory(zipkin_config(second.port("listen"), collector.port, node="a",
                                        zipkin=separate, router=child))
    response = get(client_factory, first.port("listen"))
    assert response.status == 200
    spans = collector.wait_for(4)
    assert len({span["traceId"] for span in spans}) == 1
    server = {span["localEndpoint"]["serviceName"]: span for span in spans
              if not span["name"].startswith("router ")}
    egress = {span["localEndpoint"]["serviceName"]: span for span in spans
              if span["name"].startswith("router ")}
    root = server["svc-a"]
    assert "parentId" not in root
    assert root["traceId"] == root["id"] and len(root["traceId"]) == 16
    assert egress["svc-a"]["parentId"] == root["id"]
    assert egress["svc-a"]["name"] == "router next egress"
    assert server["svc-b"]["parentId"] == egress["svc-a"]["id"]
    assert egress["svc-b"]["parentId"] == server["svc-b"]["id"]
    headers = forwarded(upstream)
    assert headers["x-b3-traceid"] == root["traceId"]
    assert headers["x-b3-spanid"] == egress["svc-b"]["id"]
    assert headers["x-b3-parentspanid"] == server["svc-b"]["id"]
    assert headers["x-b3-sampled"] == "1"
    assert len({span["id"] for span in spans}) == 4
    # the first hop's decision rides in the request id: the second hop keeps it
    assert headers["x-request-id"][14] == "9"
    assert server["svc-b"]["tags"]["guid:x-request-id"] == headers["x-request-id"]


def test_the_server_span_shares_the_callers_span_by_default(proxy_factory, upstream, collector,
                                                             client_factory):
    proxy = proxy_factory(zipkin_config(upstream.port, collector.port))
    trace, span, parent = "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312", "1111111111111111"
    get(client_factory, proxy.port("listen"), [("x-b3-traceid", trace), ("x-b3-spanid", span),
                                                ("x-b3-parentspanid", parent),
                                                ("x-b3-sampled", "1")])
    [reported] = collector.wait_for(1)
    assert (reported["traceId"], reported["id"], reported["parentId"]) == (trace, span, parent)
    assert reported["shared"] is True and reported["kind"] == "SERVER"
    headers = forwarded(upstream)
    assert (headers["x-b3-traceid"], headers["x-b3-spanid"]) == (trace, span)


def test_a_single_b3_header_is_answered_in_kind(proxy_factory, upstream, collector,
                                                client_factory):
    proxy = proxy_factory(zipkin_config(upstream.port, collector.port,
                                        zipkin={"shared_span_context": False}))
    b3 = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"
    get(client_factory, proxy.port("listen"), [("b3", b3)])
    [reported] = collector.wait_for(1)
    assert reported["traceId"] == "80f198ee56343ba864fe8b2a57d3eff7"
    assert reported["parentId"] == "e457b5a2e4d86bd1"
    headers = forwarded(upstream)
    assert headers["b3"] == f"80f198ee56343ba864fe8b2a57d3eff7-{reported['id']}-1-e457b5a2e4d86bd1"
    assert "x-b3-traceid" not in headers


def test_span_tags_name_and_decorator(proxy_factory, upstream, collector, client_factory,
                                      monkeypatch):
    tags = [{"tag": "team", "literal": {"value": "payments"}},
            {"tag": "tenant", "request_header": {"name": "X-Tenant", "default_value": "none"}},
            {"tag": "absent", "request_header": {"name": "x-missing", "default_value": "dflt"}},
            {"tag": "home", "environment": {"name": "HOME", "default_value": "?"}}]
    proxy = proxy_factory(zipkin_config(
        upstream.port, collector.port, tracing={"custom_tags": tags, "max_path_tag_length": 30},
        route={"decorator": {"operation": "checkout"}}))
    response = get(client_factory, proxy.port("listen"),
                   [("x-tenant", "acme"), ("user-agent", "curl/8"),
                    ("x-envoy-downstream-service-cluster", "web")])
    assert response.header("x-envoy-decorator-operation") == "checkout"
    [span] = collector.wait_for(1)
    assert span["name"] == "checkout"
    assert "zone" not in span["tags"]     # unset: Envoy's Zipkin spans leave empty tags out
    assert span["localEndpoint"]["serviceName"] == "svc-node-a"
    request_id = forwarded(upstream)["x-request-id"]
    assert span["tags"] == {
        "component": "proxy", "node_id": "node-a", "guid:x-request-id": request_id,
        "http.url": "http://shop.example/orders/7?verbose=1"[:30], "http.method": "GET",
        "downstream_cluster": "web", "user_agent": "curl/8", "http.protocol": "HTTP/1.1",
        "peer.address": "127.0.0.1", "request_size": "0",
        "response_size": response.header("content-length"),
        "upstream_cluster": "next", "upstream_cluster.name": "next",
        "http.status_code": "200", "response_flags": "-",
        "team": "payments", "tenant": "acme", "absent": "dflt", "home": os.environ["HOME"]}


def test_a_failed_upstream_is_an_error_span(proxy_factory, collector, client_factory):
    proxy = proxy_factory(zipkin_config(refused_port(), collector.port,
                                        router={"start_child_span": True}))
    response = get(client_factory, proxy.port("listen"))
    assert response.status == 503
    spans = collector.wait_for(2)
    for span in spans:
        assert span["tags"]["error"] == "true"
        assert span["tags"]["http.status_code"] == "503"
        assert span["tags"]["response_flags"] == "UF"


def test_sampling_decisions_and_their_counters(proxy_factory, upstream, collector, client_factory):
    """random_sampling 0 traces nothing of its own accord; x-client-trace-id forces a trace;
    a request id that an earlier hop marked sampled is traced here too."""
    proxy = proxy_factory(zipkin_config(upstream.port, collector.port,
                                        tracing={"random_sampling": {"value": 0}}))
    port, admin = proxy.port("listen"), proxy.port("admin")
    get(client_factory, port)
    unsampled = forwarded(upstream)
    assert unsampled["x-b3-sampled"] == "0"
    assert unsampled["x-request-id"][14] == "4"
    get(client_factory, port, [("x-client-trace-id", "debug-42")])
    client = forwarded(upstream)
    assert client["x-b3-sampled"] == "1" and client["x-request-id"][14] == "b"
    marked = "0badcafe-0000-9000-8000-000000000001"
    get(client_factory, port, [("x-request-id", marked)])
    assert forwarded(upstream)["x-request-id"] == marked
    assert forwarded(upstream)["x-b3-sampled"] == "1"
    spans = collector.wait_for(2)
    assert sorted(span["tags"]["guid:x-request-id"] for span in spans) == sorted(
        [client["x-request-id"], marked])
    assert [span["tags"].get("guid:x-client-trace-id") for span in spans
            if span["tags"]["guid:x-request-id"] == client["x-request-id"]] == ["debug-42"]
    assert admin_counter(admin, "http.ingress.tracing.not_traceable") == 1
    assert admin_counter(admin, "http.ingress.tracing.client_enabled") == 1
    assert admin_counter(admin, "http.ingress.tracing.random_sampling") == 1
    assert admin_counter(admin, "tracing.zipkin.spans_sent") == 2
    assert admin_counter(admin, "tracing.zipkin.reports_sent") == 2


def test_the_sampling_draw_is_the_request_ids_so_every_hop_agrees(proxy_factory, upstream,
                                                                    collector, client_factory):
    """50%: the id's first 8 hex digits mod 10,000 decide (0 is in, 0xffffffff % 10,000 = 7295
    is out); b3's own sampled flag decides what the next hop hears over the decision."""
    proxy = proxy_factory(zipkin_config(upstream.port, collector.port,
                                        tracing={"random_sampling": {"value": 50}}))
    port = proxy.port("listen")
    get(client_factory, port, [("x-request-id", "00000000-2222-4333-8444-ffffffffffff")])
    assert forwarded(upstream)["x-request-id"] == "00000000-2222-9333-8444-ffffffffffff"
    assert forwarded(upstream)["x-b3-sampled"] == "1"
    get(client_factory, port, [("x-request-id", "ffffffff-2222-4333-8444-000000000000")])
    assert forwarded(upstream)["x-request-id"] == "ffffffff-2222-4333-8444-000000000000"
    assert forwarded(upstream)["x-b3-sampled"] == "0"
    get(client_factory, port, [("x-request-id", "00000000-2222-4333-8444-ffffffffffff"),
                               ("x-b3-sampled", "0")])
    assert forwarded(upstream)["x-b3-sampled"] == "0"
    [span] = collector.wait_for(1)
    assert span["tags"]["guid:x-request-id"] == "00000000-2222-9333-8444-ffffffffffff"


def test_overall_sampling_clears_even_a_client_forced_trace(proxy_factory, upstream, collector,
                                                            client_factory):
    proxy = proxy_factory(zipkin_config(upstream.port, collector.port,
                                        tracing={"overall_sampling": {"value": 0}}))
    get(client_factory, proxy.port("listen"), [("x-client-trace-id", "x")])
    assert forwarded(upstream)["x-b3-sampled"] == "0"
    assert admin_counter(proxy.port("admin"), "http.ingress.tracing.not_traceable") == 1
    assert admin_counter(proxy.port("admin"), "tracing.zipkin.spans_sent") == 0


def test_proto_batches_and_128_bit_trace_ids(proxy_factory, upstream, collector, client_factory):
    proxy = proxy_factory(zipkin_config(upstream.port, collector.port, zipkin={
        "collector_endpoint_version": "HTTP_PROTO", "trace_id_128bit": True}))
    get(client_factory, proxy.port("listen"))
    [span] = collector.wait_for(1)
    assert collector.requests[0][1]["content-type"] == "application/x-protobuf"
    assert len(span["traceId"]) == 32 and span["traceId"].endswith(span["id"])
    assert forwarded(upstream)["x-b3-traceid"] == span["traceId"]
    assert span["tags"]["http.status_code"] == "200"
    assert [a["value"] for a in span["annotations"]] == ["ss"]


def test_a_dead_collector_costs_counted_reports_never_requests(proxy_factory, upstream,
                                                               client_factory):
    """Every span is counted sent (it left the queue), every report failed: one is out at a
    time, and the spans that ended meanwhile leave together after it."""
    proxy = proxy_factory(zipkin_config(upstream.port, refused_port()))
    for _ in range(5):
        assert get(client_factory, proxy.port("listen")).status == 200
    admin = proxy.port("admin")
    deadline = time.monotonic() + 20
    while admin_counter(admin, "tracing.zipkin.spans_sent") < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert admin_counter(admin, "tracing.zipkin.spans_sent") == 5
    assert admin_counter(admin, "tracing.zipkin.reports_failed") >= 1
    assert admin_counter(admin, "tracing.zipkin.reports_sent") == 0


def test_a_collector_that_refuses_counts_dropped_reports(proxy_factory, upstream, client_factory):
    refusing = ZipkinCollector(status=500)
    try:
        proxy = proxy_factory(zipkin_config(upstream.port, refusing.port))
        get(client_factory, proxy.port("listen"))
        refusing.wait_for(1)
        deadline = time.monotonic() + 20
        while (admin_counter(proxy.port("admin"), "tracing.zipkin.reports_dropped") < 1
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert admin_counter(proxy.port("admin"), "tracing.zipkin.reports_dropped") == 1
    finally:
        refusing.stop()


def test_a_bad_tracing_config_names_the_field(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(zipkin_config(1, 2, zipkin={"collector_endpoint_version": "GRPC",
                                                  "collector_endpoint": "spans"})
                      .replace("{port:listen}", "0").replace("{port:admin}", "0"))
    result = subprocess.run([sys.executable, "-m", "hotproxy", "--mode", "validate", "-c",
                             str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "collector_endpoint_version: 'GRPC' is not supported by hotproxy yet" in result.stderr
    assert "collector_endpoint: must start with '/'" in result.stderr


def test_verbose_spans_log_the_streams_timings(proxy_factory, upstream, collector,
                                               client_factory):
    proxy = proxy_factory(zipkin_config(upstream.port, collector.port, tracing={"verbose": True}))
    get(client_factory, proxy.port("listen"))
    [span] = collector.wait_for(1)
    events = [a["value"] for a in span["annotations"]]
    assert events == ["last_downstream_rx_byte_received", "first_upstream_rx_byte_received",
                      "last_downstream_tx_byte_sent", "ss"]
    times = [a["timestamp"] for a in span["annotations"]]
    assert span["timestamp"] <= times[0] <= times[1] <= times[2]


def test_the_nodes_zone_tags_the_span(proxy_factory, upstream, collector, client_factory):
    proxy = proxy_factory(zipkin_config(upstream.port, collector.port, zone="eu-west-1a"))
    get(client_factory, proxy.port("listen"))
    [span] = collector.wait_for(1)
    assert span["tags"]["zone"] == "eu-west-1a"


def test_an_http2_client_is_traced_alike(proxy_factory, upstream, collector):
    proxy = proxy_factory(zipkin_config(upstream.port, collector.port,
                                        route={"decorator": {"operation": "h2-op"}}))
    client = H2Client(proxy.port("listen"))
    try:
        response = client.request("GET", "/orders/7", authority="shop.example")
    finally:
        client.close()
    assert response.status == 200
    assert response.header(b"x-envoy-decorator-operation") == b"h2-op"
    [span] = collector.wait_for(1)
    headers = forwarded(upstream)
    assert (span["traceId"], span["id"]) == (headers["x-b3-traceid"], headers["x-b3-spanid"])
    assert span["tags"]["http.protocol"] == "HTTP/2"
    assert span["tags"]["http.url"] == "http://shop.example/orders/7"
