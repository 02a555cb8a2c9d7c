"""The connection manager's tracing, route decorator and tracing, the router's
start_child_span: what is read, and what is refused with its field path."""
import pytest

from config_helpers import HCM, ROUTE, Rejected, ids, parse_with

ZIPKIN = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig"
OTEL = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig"
ROUTER = f"{HCM}.http_filters[0].typed_config"


def zipkin(**fields):
    return {"name": "envoy.tracers.zipkin", "typed_config": {
        "@type": ZIPKIN, "collector_cluster": "backend", "collector_endpoint": "/api/v2/spans",
        "collector_endpoint_version": "HTTP_JSON", **fields}}


def hcm_of(config):
    return config.listeners[0].filter_chains[0].filters[0]


def test_tracing_with_zipkin():
    config = parse_with({f"{HCM}.tracing": {
        "provider": zipkin(collector_endpoint_version="HTTP_PROTO", shared_span_context=False,
                           trace_id_128bit=True),
        "random_sampling": {"value": 12.34}, "client_sampling": {"value": 0},
        "max_path_tag_length": 64, "spawn_upstream_span": True, "verbose": True,
        "custom_tags": [{"tag": "a", "literal": {"value": "v"}},
                        {"tag": "b", "request_header": {"name": "X-B", "default_value": "d"}},
                        {"tag": "c", "environment": {"name": "HOME"}},
                        {"tag": "d", "metadata": {"kind": {"request": {}}, "metadata_key": {
                            "key": "ns", "path": [{"key": "k1"}, {"key": "k2"}]}}}]}})
    tracing = hcm_of(config).tracing
    provider = tracing.provider
    assert (provider.collector_cluster, provider.collector_endpoint,
            provider.collector_endpoint_version, provider.shared_span_context,
            provider.trace_id_128bit) == ("backend", "/api/v2/spans", "HTTP_PROTO", False, True)
    assert tracing.random_sampling == (1234, 10000)
    assert tracing.client_sampling == (0, 10000)
    assert tracing.overall_sampling == (10000, 10000)
    assert (tracing.max_path_tag_length, tracing.spawn_upstream_span, tracing.verbose) == (
        64, True, True)
    assert [(t.tag, t.kind, t.value, t.name, t.path, t.default) for t in tracing.custom_tags] == [
        ("a", "literal", "v", "", (), ""), ("b", "request_header", "", "x-b", (), "d"),
        ("c", "environment", "", "HOME", (), ""), ("d", "metadata", "", "ns", ("k1", "k2"), "")]


def test_opentelemetry_over_grpc_and_http(monkeypatch):
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "region=eu, team=core")
    grpc = parse_with({f"{HCM}.tracing": {"provider": {
        "name": "envoy.tracers.opentelemetry", "typed_config": {
            "@type": OTEL, "service_name": "shop",
            "grpc_service": {"envoy_grpc": {"cluster_name": "backend"}, "timeout": "1s"},
            "resource_detectors": [{"name": "envoy.tracers.opentelemetry.resource_detectors.environment",
                                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.tracers.opentelemetry.resource_detectors.v3.EnvironmentResourceDetectorConfig"}}]}}}})
    provider = hcm_of(grpc).tracing.provider
    assert (provider.grpc_cluster, provider.grpc_timeout, provider.service_name) == (
        "backend", 1.0, "shop")
    assert provider.resource_attributes == (("region", "eu"), ("team", "core"))
    http = parse_with({f"{HCM}.tracing": {"provider": {
        "name": "envoy.tracers.opentelemetry", "typed_config": {
            "@type": OTEL, "http_service": {
                "http_uri": {"uri": "http://otel:4318/v1/traces", "cluster": "backend",
                             "timeout": "0.5s"},
                "request_headers_to_add": [{"header": {"key": "X-Key", "value": "k"}}]}}}}})
    provider = hcm_of(http).tracing.provider
    assert (provider.http_cluster, provider.http_host, provider.http_path, provider.http_timeout,
            provider.http_headers) == ("backend", "otel:4318", "/v1/traces", 0.5, (("x-key", "k"),))
    assert provider.service_name == "unknown_service:envoy"


def test_route_decorator_tracing_and_start_child_span():
    config = parse_with({f"{ROUTE}.decorator": {"operation": "checkout", "propagate": False},
                         f"{ROUTE}.tracing": {"random_sampling": {"numerator": 5,
                                                                  "denominator": "TEN_THOUSAND"},
                                              "custom_tags": [{"tag": "t", "literal": {"value": "x"}}]},
                         f"{ROUTER}.start_child_span": True})
    hcm = hcm_of(config)
    route = hcm.route_config.virtual_hosts[0].routes[0]
    assert (route.decorator.operation, route.decorator.propagate) == ("checkout", False)
    assert route.tracing.random_sampling == (5, 10000)
    assert route.tracing.client_sampling == (10000, 10000)
    assert hcm.http_filters[-1].start_child_span is True
    assert hcm.tracing is None


REJECTED = [
    Rejected({f"{HCM}.tracing": {"provider": zipkin(collector_cluster="nowhere")}},
             f"{HCM}.tracing.provider.typed_config.collector_cluster", "nowhere"),
    Rejected({f"{HCM}.tracing": {"provider": zipkin(collector_endpoint_version="GRPC")}},
             f"{HCM}.tracing.provider.typed_config.collector_endpoint_version",
             "not supported by hotproxy yet"),
    Rejected({f"{HCM}.tracing": {"provider": zipkin(collector_endpoint="spans")}},
             f"{HCM}.tracing.provider.typed_config.collector_endpoint", "must start with '/'"),
    Rejected({f"{HCM}.tracing": {"provider": zipkin(collector_endpoint_version=None)}},
             f"{HCM}.tracing.provider.typed_config.collector_endpoint_version",
             "the default DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE is refused"),
    Rejected({f"{HCM}.tracing": {"random_sampling": {"value": 101}}},
             f"{HCM}.tracing.random_sampling.value", "between 0 and 100"),
    Rejected({f"{HCM}.tracing": {"provider": {"name": "x", "typed_config": {
        "@type": "type.googleapis.com/envoy.config.trace.v3.DatadogConfig"}}}},
             f"{HCM}.tracing.provider.typed_config.@type", "not supported by hotproxy yet"),
    Rejected({f"{HCM}.tracing": {"custom_tags": [{"tag": "a"}]}},
             f"{HCM}.tracing.custom_tags[0]", "exactly one of literal"),
    Rejected({f"{HCM}.tracing": {"custom_tags": [{"tag": "a", "metadata": {
        "kind": {"cluster": {}}, "metadata_key": {"key": "k", "path": [{"key": "p"}]}}}]}},
             f"{HCM}.tracing.custom_tags[0].metadata.kind.cluster", "not supported by hotproxy yet"),
    Rejected({f"{ROUTE}.decorator": {"operation": ""}}, f"{ROUTE}.decorator.operation",
             "must not be empty"),
    Rejected({f"{HCM}.tracing": {"provider": {"name": "o", "typed_config": {
        "@type": OTEL, "http_service": {"http_uri": {"uri": "/v1/traces", "cluster": "backend"}}}}}},
             f"{HCM}.tracing.provider.typed_config.http_service.http_uri.timeout",
             "required field is missing"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
