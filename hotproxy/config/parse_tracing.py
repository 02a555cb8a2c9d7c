"""Parser for tracing: the connection manager's ``tracing`` with its Zipkin or OpenTelemetry
provider, a route's ``tracing`` and ``decorator`` (into tracing.py's dataclasses)."""
from __future__ import annotations

import os

from .fields import Enum, Fields, Node, present, typed_config
from . import parse_side_service as side_service
from .parse_core import percent_value
from .parse_runtime import fractional_percent
from .tracing import (CustomTag, Decorator, OpenTelemetryProvider, RouteTracing, Tracing,
                      ZipkinProvider)

ZIPKIN_TYPE = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig"
OPENTELEMETRY_TYPE = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig"
ENVIRONMENT_DETECTOR_TYPE = ("type.googleapis.com/envoy.extensions.tracers.opentelemetry"
                             ".resource_detectors.v3.EnvironmentResourceDetectorConfig")
STATIC_DETECTOR_TYPE = ("type.googleapis.com/envoy.extensions.tracers.opentelemetry"
                        ".resource_detectors.v3.StaticConfigResourceDetectorConfig")

HCM_TRACING = Fields(
    "client_sampling random_sampling overall_sampling verbose max_path_tag_length custom_tags "
    "provider spawn_upstream_span",
    unsupported="operation_name request_headers_for_tags")
ROUTE_TRACING = Fields("client_sampling random_sampling overall_sampling custom_tags")
DECORATOR = Fields("operation propagate")
PROVIDER = Fields("name typed_config")
CUSTOM_TAG = Fields("tag literal environment request_header metadata", unsupported="value")
LITERAL = Fields("value")
ENVIRONMENT = Fields("name default_value")
REQUEST_HEADER = Fields("name default_value")
METADATA_TAG = Fields("kind metadata_key default_value")
METADATA_KIND = Fields("request", unsupported="route cluster host")
METADATA_KEY = Fields("key path")
PATH_SEGMENT = Fields("key")

ZIPKIN = Fields(
    "collector_cluster collector_endpoint trace_id_128bit shared_span_context "
    "collector_endpoint_version collector_hostname",
    unsupported="split_spans_for_request trace_context_option collector_service")
ZIPKIN_VERSIONS = Enum("HTTP_JSON HTTP_PROTO",
                       unsupported="DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE GRPC")
OPENTELEMETRY = Fields("grpc_service http_service service_name resource_detectors",
                       unsupported="sampler max_cache_size")
HTTP_SERVICE = Fields("http_uri request_headers_to_add", unsupported="retry_policy")
HEADER_VALUE_OPTION = Fields("header", unsupported="append append_action keep_empty_value")
DETECTOR = Fields("name typed_config")
STATIC_DETECTOR = Fields("attributes")


def hcm_tracing(node: Node) -> Tracing | None:
    m = node.message(HCM_TRACING)
    if m is None:
        return None
    provider = m.nested("provider", _provider)
    return Tracing(provider=provider, **present(
        client_sampling=_percent_share(m, "client_sampling"),
        random_sampling=_percent_share(m, "random_sampling"),
        overall_sampling=_percent_share(m, "overall_sampling"),
        verbose=m.boolean("verbose"),
        max_path_tag_length=m.nested("max_path_tag_length", _uint32_value),
        spawn_upstream_span=m.nested("spawn_upstream_span", _bool_value),
        custom_tags=m.repeated("custom_tags", custom_tag) or None))


def route_tracing(node: Node) -> RouteTracing | None:
    m = node.message(ROUTE_TRACING)
    if m is None:
        return None
    return RouteTracing(**present(
        client_sampling=m.nested("client_sampling", fractional_percent),
        random_sampling=m.nested("random_sampling", fractional_percent),
        overall_sampling=m.nested("overall_sampling", fractional_percent),
        custom_tags=m.repeated("custom_tags", custom_tag) or None))


def decorator(node: Node) -> Decorator | None:
    m = node.message(DECORATOR)
    if m is None:
        return None
    operation = m.string("operation", required=True, http_safe=True)
    propagate = m.nested("propagate", _bool_value)
    if not operation:
        return None
    return Decorator(operation, **present(propagate=propagate))


def _percent_share(m, name):
    """A Percent as Envoy evaluates it: a share of 10,000."""
    value = m.nested(name, percent_value)
    return None if value is None else (int(value * 100), 10000)


def _provider(node: Node):
    m = node.message(PROVIDER)
    if m is None:
        return None
    m.string("name", required=True)      # Envoy goes by the typed_config's type
    parsers = {ZIPKIN_TYPE: zipkin, OPENTELEMETRY_TYPE: opentelemetry}
    return m.nested("typed_config", lambda n: typed_config(n, parsers), required=True)


def zipkin(node: Node) -> ZipkinProvider | None:
    m = node.message(ZIPKIN)
    if m is None:
        return None
    cluster = m.string("collector_cluster", required=True)
    if cluster:
        m.at("collector_cluster").refers_to_cluster(cluster)
    endpoint = m.string("collector_endpoint", required=True, http_safe=True)
    if endpoint and not endpoint.startswith("/"):
        m.at("collector_endpoint").fail(f"must start with '/', got {endpoint!r}")
    version = m.enum("collector_endpoint_version", ZIPKIN_VERSIONS)
    if not m.has("collector_endpoint_version"):
        # Envoy 1.40 refuses the deprecated default, so a config must name its encoding
        m.at("collector_endpoint_version").fail(
            "required: the default DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE is refused "
            "(set HTTP_JSON or HTTP_PROTO)")
    if not cluster or not endpoint:
        return None
    return ZipkinProvider(cluster, endpoint, **present(
        collector_hostname=m.string("collector_hostname", http_safe=True),
        collector_endpoint_version=version,
        shared_span_context=m.nested("shared_span_context", _bool_value),
        trace_id_128bit=m.boolean("trace_id_128bit")))


def opentelemetry(node: Node) -> OpenTelemetryProvider | None:
    m = node.message(OPENTELEMETRY)
    if m is None:
        return None
    kind = m.one_of("grpc_service", "http_service", required=False)
    values = {}
    if kind == "grpc_service":
        values = m.nested("grpc_service", _grpc_service) or {}
    elif kind == "http_service":
        values = m.nested("http_service", _http_service) or {}
    else:
        # Envoy 1.40 accepts an exporter-less config and exports nothing; so does hotproxy
        pass
    attributes = []
    for detector in m.items("resource_detectors"):
        attributes.extend(_resource_detector(detector) or ())
    return OpenTelemetryProvider(**values, **present(
        service_name=m.string("service_name", http_safe=True) or None,
        resource_attributes=tuple(attributes) or None))


def _grpc_service(node: Node) -> dict | None:
    target = side_service.grpc_service(node)
    if target is None:
        return None
    return {"grpc_cluster": target.cluster, **present(
        grpc_authority=target.authority, grpc_timeout=target.timeout,
        grpc_initial_metadata=target.initial_metadata or None)}


def _http_service(node: Node) -> dict | None:
    m = node.message(HTTP_SERVICE)
    if m is None:
        return None
    uri = m.nested("http_uri", side_service.http_uri, required=True)
    headers = m.repeated("request_headers_to_add", _header_to_add)
    if uri is None:
        return None
    cluster, text, timeout = uri
    host, path = _split_uri(text)
    return {"http_cluster": cluster, **present(
        http_host=host or None, http_path=path or None, http_timeout=timeout,
        http_headers=headers or None)}


def _header_to_add(node: Node):
    m = node.message(HEADER_VALUE_OPTION)
    return None if m is None else m.nested("header", side_service.header_value, required=True)


def _split_uri(uri):
    """(host, path) of ``http://host/path``; a bare path has no host."""
    if "://" not in uri:
        return "", uri or "/"
    rest = uri.split("://", 1)[1]
    host, slash, path = rest.partition("/")
    return host, slash + path if slash else "/"


def _resource_detector(node: Node):
    """The (key, value) attributes one resource detector contributes."""
    m = node.message(DETECTOR)
    if m is None:
        return None
    m.string("name", required=True)
    parsers = {ENVIRONMENT_DETECTOR_TYPE: _environment_detector,
               STATIC_DETECTOR_TYPE: _static_detector}
    return m.nested("typed_config", lambda n: typed_config(n, parsers), required=True)


def _environment_detector(node: Node):
    """OTEL_RESOURCE_ATTRIBUTES, ``key=value`` pairs separated by commas, read at load."""
    node.message(Fields(""))
    text = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    pairs = []
    for item in text.split(","):
        key, equals, value = item.partition("=")
        if equals and key.strip():
            pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _static_detector(node: Node):
    m = node.message(STATIC_DETECTOR)
    if m is None:
        return None
    attributes = m.get("attributes")
    if attributes is None:
        return ()
    if not isinstance(attributes.value, dict):
        return attributes.fail("expected a mapping of strings")
    return tuple((str(key), str(value)) for key, value in attributes.value.items())


def custom_tag(node: Node) -> CustomTag | None:
    m = node.message(CUSTOM_TAG)
    if m is None:
        return None
    tag = m.string("tag", required=True)
    kind = m.one_of("literal", "environment", "request_header", "metadata")
    if kind == "literal":
        literal = m.nested("literal", lambda n: n.message(LITERAL))
        value = literal.string("value", required=True) if literal is not None else None
        return CustomTag(tag, kind, value=value or "") if tag and value is not None else None
    if kind in ("environment", "request_header"):
        source = m.nested(kind, lambda n: n.message(ENVIRONMENT))
        if source is None:
            return None
        name = source.string("name", required=True)
        default = source.string("default_value", "")
        if kind == "request_header" and name:
            name = name.lower()
        return CustomTag(tag, kind, name=name, default=default) if tag and name else None
    if kind == "metadata":
        return m.nested("metadata", lambda n: _metadata_tag(n, tag))
    return None


def _metadata_tag(node: Node, tag):
    m = node.message(METADATA_TAG)
    if m is None:
        return None
    kind = m.nested("kind", lambda n: n.message(METADATA_KIND), required=True)
    if kind is not None and not kind.has("request"):
        kind.node.fail("exactly one of request, route, cluster, host is required")
    key = m.nested("metadata_key", lambda n: n.message(METADATA_KEY), required=True)
    if key is None:
        return None
    namespace = key.string("key", required=True)
    path = tuple(segment.message(PATH_SEGMENT).string("key", required=True) or ""
                 for segment in key.items("path") if segment.message(PATH_SEGMENT) is not None)
    if not path:
        key.at("path").fail("at least one path segment is required")
    if not tag or not namespace or not path:
        return None
    return CustomTag(tag, "metadata", name=namespace, path=path,
                     default=m.string("default_value", ""))


def _bool_value(node: Node) -> bool | None:
    """A google.protobuf.BoolValue: the bare value in proto3 JSON."""
    return node.boolean()


def _uint32_value(node: Node) -> int | None:
    return node.uint32()
