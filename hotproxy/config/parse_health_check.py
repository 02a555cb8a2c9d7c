"""Parser for a cluster's ``health_checks`` (envoy.config.core.v3.HealthCheck) and an endpoint's
``health_check_config``, into health_check.py's dataclasses, with Envoy's validation."""
from __future__ import annotations

import base64
import binascii

from .fields import NOT_SUPPORTED, Enum, Fields, Node, present, typed_config
from .health_check import EndpointHealthCheckConfig, HealthCheck, HttpHealthCheck, TcpHealthCheck
from .parse_core import address, header_to_remove, header_value_option
from .parse_upstream_transport import struct

HEALTH_CHECK = Fields(
    "timeout interval initial_jitter interval_jitter interval_jitter_percent unhealthy_threshold "
    "healthy_threshold http_health_check tcp_health_check no_traffic_interval unhealthy_interval "
    "unhealthy_edge_interval healthy_edge_interval event_log_path event_logger "
    "always_log_health_check_failures transport_socket_match_criteria",
    unsupported="alt_port reuse_connection grpc_health_check custom_health_check "
                "no_traffic_healthy_interval event_service always_log_health_check_success "
                "tls_options name")
HTTP_HEALTH_CHECK = Fields(
    "host path expected_statuses request_headers_to_add request_headers_to_remove "
    "codec_client_type",
    unsupported="send receive response_buffer_size retriable_statuses service_name_matcher method")
CODEC_CLIENT_TYPES = Enum("HTTP1", unsupported="HTTP2 HTTP3")
INT64_RANGE = Fields("start end")
TCP_HEALTH_CHECK = Fields("send receive", unsupported="proxy_protocol_config")
PAYLOAD = Fields("text binary")
TYPED_EXTENSION_CONFIG = Fields("name typed_config")
FILE_SINK_TYPE = ("type.googleapis.com/envoy.extensions.health_check.event_sinks.file.v3"
                  ".HealthCheckEventFileSink")
FILE_SINK = Fields("event_log_path")
ENDPOINT_HEALTH_CHECK_CONFIG = Fields("port_value address",
                                      unsupported="hostname disable_active_health_check")


def health_checks(m) -> tuple[HealthCheck, ...] | None:
    """A cluster's ``health_checks`` (``m`` is the cluster's Message); at most one."""
    nodes = m.items("health_checks")
    for extra in nodes[1:]:
        extra.fail(f"more than one health check per cluster is {NOT_SUPPORTED}")
    checks = tuple(check for check in map(health_check, nodes[:1]) if check is not None)
    return checks or None


def health_check(node: Node) -> HealthCheck | None:
    m = node.message(HEALTH_CHECK)
    if m is None:
        return None
    kind = m.one_of("http_health_check", "tcp_health_check")
    timeout, interval = _positive(m, "timeout", required=True), _positive(m, "interval", required=True)
    unhealthy, healthy = (m.uint32("unhealthy_threshold", required=True),
                          m.uint32("healthy_threshold", required=True))
    http = m.nested("http_health_check", http_health_check) if kind == "http_health_check" else None
    tcp = m.nested("tcp_health_check", tcp_health_check) if kind == "tcp_health_check" else None
    paths = []
    path = m.string("event_log_path")
    if path:
        paths.append(path)
    paths.extend(m.repeated("event_logger", event_logger))
    criteria = m.nested("transport_socket_match_criteria", struct)
    if None in (timeout, interval, unhealthy, healthy) or (http is None and tcp is None):
        _read_the_rest(m)
        return None
    return HealthCheck(
        timeout=timeout, interval=interval, unhealthy_threshold=unhealthy, healthy_threshold=healthy,
        http=http, tcp=tcp, event_log_paths=tuple(paths),
        transport_socket_match_criteria=tuple(criteria.items()) if criteria is not None else None,
        **present(initial_jitter=m.duration("initial_jitter"),
                  interval_jitter=m.duration("interval_jitter"),
                  interval_jitter_percent=m.uint32("interval_jitter_percent"),
                  no_traffic_interval=_positive(m, "no_traffic_interval"),
                  unhealthy_interval=_positive(m, "unhealthy_interval"),
                  unhealthy_edge_interval=_positive(m, "unhealthy_edge_interval"),
                  healthy_edge_interval=_positive(m, "healthy_edge_interval"),
                  always_log_health_check_failures=m.boolean("always_log_health_check_failures")))


def _read_the_rest(m) -> None:
    """Report the problems of the optional fields too when a required one is missing."""
    for name in ("initial_jitter", "interval_jitter"):
        m.duration(name)
    for name in ("no_traffic_interval", "unhealthy_interval", "unhealthy_edge_interval",
                 "healthy_edge_interval"):
        _positive(m, name)
    m.uint32("interval_jitter_percent")
    m.boolean("always_log_health_check_failures")


def _positive(m, name, required=False) -> float | None:
    seconds = m.duration(name)
    if seconds is None and required and not m.has(name):
        m.at(name).fail("required field is missing")
    if seconds is not None and seconds <= 0:
        m.at(name).fail("must be greater than 0s")
        return None
    return seconds


def http_health_check(node: Node) -> HttpHealthCheck | None:
    m = node.message(HTTP_HEALTH_CHECK)
    if m is None:
        return None
    path = m.string("path", required=True, http_safe=True)
    m.enum("codec_client_type", CODEC_CLIENT_TYPES)
    ranges = m.repeated("expected_statuses", status_range)
    if path is None:
        return None
    return HttpHealthCheck(
        path=path,
        request_headers_to_add=m.repeated("request_headers_to_add", header_value_option),
        request_headers_to_remove=m.repeated("request_headers_to_remove", header_to_remove),
        **present(host=m.string("host", http_safe=True), expected_statuses=ranges or None))


def status_range(node: Node) -> tuple[int, int] | None:
    """An Int64Range of expected statuses, checked as Envoy checks it: 100 <= start < end <= 600."""
    m = node.message(INT64_RANGE)
    if m is None:
        return None
    start = _int64(m, "start")
    end = _int64(m, "end")
    if start is None or end is None:
        return None
    if start >= end:
        node.fail(f"expecting start < end, but found start={start} and end={end}")
    elif start < 100:
        node.fail(f"expecting start >= 100, but found start={start}")
    elif end > 600:
        node.fail(f"expecting end <= 600, but found end={end}")
    else:
        return start, end
    return None


def _int64(m, name) -> int | None:
    node = m.get(name)
    if node is None:
        return 0
    return node.uint32(minimum=-2**63, maximum=2**63 - 1)


def tcp_health_check(node: Node) -> TcpHealthCheck | None:
    m = node.message(TCP_HEALTH_CHECK)
    if m is None:
        return None
    send = m.nested("send", payload)
    receive = m.repeated("receive", payload)
    return TcpHealthCheck(send=send or b"", receive=receive)


def payload(node: Node) -> bytes | None:
    """A Payload: ``text`` is hex, ``binary`` base64 (proto3 JSON bytes); neither may be empty."""
    m = node.message(PAYLOAD)
    if m is None:
        return None
    kind = m.one_of("text", "binary")
    if kind == "text":
        text = m.string("text", required=True)
        if text is None:
            return None
        try:
            return bytes.fromhex(text) if text and len(text) % 2 == 0 else _bad_hex(m, text)
        except ValueError:
            return _bad_hex(m, text)
    if kind == "binary":
        encoded = m.string("binary", required=True)
        if not encoded:
            return None
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return m.at("binary").fail(f"invalid base64 {encoded!r}")
    return None


def _bad_hex(m, text):
    if text:
        m.at("text").fail(f"invalid hex string '{text}'")


def event_logger(node: Node) -> str | None:
    """An ``event_logger`` entry: only the file sink, whose ``event_log_path`` it returns."""
    m = node.message(TYPED_EXTENSION_CONFIG)
    if m is None:
        return None
    m.string("name", required=True)
    return m.nested("typed_config", lambda n: typed_config(n, {FILE_SINK_TYPE: file_sink}),
                    required=True)


def file_sink(node: Node) -> str | None:
    m = node.message(FILE_SINK)
    return m and m.string("event_log_path", required=True)


def endpoint_health_check_config(node: Node) -> EndpointHealthCheckConfig | None:
    m = node.message(ENDPOINT_HEALTH_CHECK_CONFIG)
    if m is None:
        return None
    return EndpointHealthCheckConfig(**present(port=m.uint32("port_value", maximum=65535),
                                               address=m.nested("address", address)))
