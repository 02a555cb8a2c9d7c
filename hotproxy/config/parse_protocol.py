"""Parsers for the HTTP protocol options a cluster carries in ``typed_extension_protocol_options``
(envoy.extensions.upstreams.http.v3.HttpProtocolOptions) into Cluster keyword arguments."""
from __future__ import annotations

import re

from .fields import Enum, Fields, Node, typed_config
from .parse_http2 import upstream_http2_options

UPSTREAM_HTTP_OPTIONS_TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
#: Keys Envoy accepts for them: the message's name, and the extension's older name.
UPSTREAM_HTTP_OPTIONS_KEYS = ("envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                              "envoy.upstreams.http.http_protocol_options")

UPSTREAM_HTTP_OPTIONS = Fields(
    "common_http_protocol_options explicit_http_config use_downstream_protocol_config "
    "upstream_http_protocol_options auto_config",
    unsupported="http_filters header_validation_config outlier_detection")
AUTO_HTTP_CONFIG = Fields("http_protocol_options http2_protocol_options",
                          unsupported="http3_protocol_options alternate_protocols_cache_options")
EXPLICIT_HTTP_CONFIG = Fields("http_protocol_options http2_protocol_options",
                              unsupported="http3_protocol_options")
DOWNSTREAM_PROTOCOL_CONFIG = Fields("http_protocol_options http2_protocol_options",
                                    unsupported="http3_protocol_options")
HTTP1_PROTOCOL_OPTIONS = Fields(
    "enable_trailers",
    unsupported="allow_absolute_url accept_http_10 default_host_for_http_10 header_key_format "
                "allow_chunked_length override_stream_error_on_invalid_http_message "
                "send_fully_qualified_url use_balsa_parser allow_custom_methods "
                "ignore_http_11_upgrade")
UPSTREAM_HTTP_PROTOCOL_OPTIONS = Fields("auto_sni auto_san_validation override_auto_sni_header")
# The pattern Envoy's proto validates override_auto_sni_header against (its "+-." is a range).
_HEADER_NAME = re.compile(r"^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$")
#: envoy.config.core.v3.HttpProtocolOptions as a cluster reads it.
UPSTREAM_COMMON_OPTIONS = Fields(
    "max_headers_count max_response_headers_kb idle_timeout max_connection_duration "
    "max_requests_per_connection max_stream_duration headers_with_underscores_action")
#: Envoy validates it on a cluster and then never reads it: only its server codecs act on
#: underscores (in requests), its client codecs pass a response's on (probed on the 1.40 binary)
UNDERSCORES_ACTIONS = Enum("ALLOW REJECT_REQUEST DROP_HEADER")


def typed_extension_protocol_options(node: Node) -> dict | None:
    """The map of extension name → options; only the HTTP upstream options are known."""
    if not isinstance(node.value, dict):
        return node.fail("expected a mapping")
    options = {}
    for key, value in node.value.items():
        child = node.child(key, value)
        if key not in UPSTREAM_HTTP_OPTIONS_KEYS:
            child.fail(f"unknown protocol options '{key}' (expected "
                       f"{UPSTREAM_HTTP_OPTIONS_KEYS[0]})")
            continue
        parsed = typed_config(child, {UPSTREAM_HTTP_OPTIONS_TYPE: upstream_http_options})
        if parsed:
            options.update(parsed)
    return options


def upstream_http_options(node: Node) -> dict | None:
    m = node.message(UPSTREAM_HTTP_OPTIONS)
    if m is None:
        return None
    protocol = {}
    chosen = m.one_of("explicit_http_config", "use_downstream_protocol_config", "auto_config")
    if chosen == "explicit_http_config":
        protocol = m.nested(chosen, lambda n: _protocol_config(n, EXPLICIT_HTTP_CONFIG, True)) or {}
    elif chosen == "use_downstream_protocol_config":
        protocol = m.nested(chosen, lambda n: _protocol_config(n, DOWNSTREAM_PROTOCOL_CONFIG, False))
        protocol = {**(protocol or {}), "http2_for_http2_downstream_only": True}
    elif chosen == "auto_config":
        protocol = m.nested(chosen, auto_http_config) or {}
    names = {**protocol, **(m.nested("upstream_http_protocol_options", request_server_names) or {})}
    return {**names, **(m.nested("common_http_protocol_options", upstream_common_options) or {})}


def auto_http_config(node: Node) -> dict | None:
    """AutoHttpConfig: HTTP/2 or HTTP/1.1 per connection, as ALPN chose, each with its options.
    That it needs a TLS transport socket is the cluster's to check (parse_cluster.py)."""
    m = node.message(AUTO_HTTP_CONFIG)
    if m is None:
        return None
    found = {"auto_http": True,
             "http2_options": tuple(sorted((m.nested("http2_protocol_options", upstream_http2_options)
                                            or {}).items()))}
    if m.nested("http_protocol_options", http1_enable_trailers):
        found["http1_enable_trailers"] = True
    return found


def upstream_common_options(node: Node) -> dict | None:
    """envoy.config.core.v3.HttpProtocolOptions as a cluster reads it (in its
    HttpProtocolOptions, or the deprecated cluster-level common_http_protocol_options), as
    Cluster keyword arguments: the response head bounds, the connection lifetime limits and
    each request's max_stream_duration."""
    m = node.message(UPSTREAM_COMMON_OPTIONS)
    if m is None:
        return None
    values = {"max_response_headers_count": m.uint32("max_headers_count", minimum=1),
              "max_response_headers_kb": m.uint32("max_response_headers_kb", minimum=1, maximum=8192),
              "idle_timeout": m.duration("idle_timeout"),
              "max_connection_duration": m.duration("max_connection_duration"),
              "max_requests_per_connection": m.uint32("max_requests_per_connection"),
              "max_stream_duration": _whole_ms(m.duration("max_stream_duration"))}
    m.enum("headers_with_underscores_action", UNDERSCORES_ACTIONS)     # validated, no effect
    return {name: value for name, value in values.items() if value is not None}


def _whole_ms(seconds):
    """A duration as Envoy's timers take it: whole milliseconds (DurationUtil truncates)."""
    return None if seconds is None else int(seconds * 1000 + 1e-9) / 1000


def _protocol_config(node: Node, fields: Fields, exclusive: bool) -> dict | None:
    """explicit_http_config (one protocol) or use_downstream_protocol_config (either, chosen per
    request by the downstream's): ``http2_options`` when HTTP/2 may be spoken upstream."""
    m = node.message(fields)
    if m is None:
        return None
    if exclusive:
        m.one_of("http_protocol_options", "http2_protocol_options")
    http1 = {}
    if m.nested("http_protocol_options", http1_enable_trailers):
        http1["http1_enable_trailers"] = True
    if not m.has("http2_protocol_options"):
        return http1
    return {**http1, "http2_options": tuple(sorted((m.nested("http2_protocol_options", upstream_http2_options)
                                           or {}).items()))}


def http1_enable_trailers(node: Node) -> bool | None:
    """envoy.config.core.v3.Http1ProtocolOptions, on a cluster or a connection manager: whether
    the trailers of chunked messages are decoded and sent (Envoy drops them otherwise)."""
    m = node.message(HTTP1_PROTOCOL_OPTIONS)
    return None if m is None else m.boolean("enable_trailers", False)


def legacy_http2_options(node: Node) -> dict | None:
    """The cluster's deprecated ``http2_protocol_options``: HTTP/2 to every upstream."""
    options = upstream_http2_options(node)
    return None if options is None else {"http2_options": tuple(sorted(options.items()))}


def request_server_names(node: Node) -> dict | None:
    """envoy.config.core.v3.UpstreamHttpProtocolOptions, as Cluster keyword arguments: on a
    cluster itself (deprecated, still read by Envoy 1.40) or in its HttpProtocolOptions."""
    m = node.message(UPSTREAM_HTTP_PROTOCOL_OPTIONS)
    if m is None:
        return None
    header = m.string("override_auto_sni_header")
    if header and not _HEADER_NAME.match(header):
        m.at("override_auto_sni_header").fail(f"invalid header name '{header}'")
        header = None
    values = {"auto_sni": m.boolean("auto_sni"),
              "auto_san_validation": m.boolean("auto_san_validation"),
              "override_auto_sni_header": header and header.lower()}
    return {name: value for name, value in values.items() if value is not None}
