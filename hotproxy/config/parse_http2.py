"""Parser for ``http2_protocol_options`` (envoy.config.core.v3.Http2ProtocolOptions) on an HTTP
connection manager, into the keyword arguments of http/http2/options.py's Http2Options. The
bounds are the proto's validation rules in Envoy 1.40."""
from __future__ import annotations

from .fields import Fields, Node
from .parse_core import percent_value

_HTTP2_FIELDS = (
    "hpack_table_size max_concurrent_streams initial_stream_window_size "
    "initial_connection_window_size allow_connect max_outbound_frames "
    "max_outbound_control_frames max_consecutive_inbound_frames_with_empty_payload "
    "max_inbound_priority_frames_per_stream max_inbound_window_update_frames_per_data_frame_sent "
    "override_stream_error_on_invalid_http_message stream_error_on_invalid_http_messaging")
_HTTP2_UNSUPPORTED = ("allow_metadata custom_settings_parameters use_oghttp2_codec "
                      "max_metadata_size enable_huffman_encoding")
HTTP2_PROTOCOL_OPTIONS = Fields(_HTTP2_FIELDS + " connection_keepalive",
                                unsupported=_HTTP2_UNSUPPORTED)
#: an upstream's: its pool sends no keepalive PINGs yet
UPSTREAM_HTTP2_PROTOCOL_OPTIONS = Fields(_HTTP2_FIELDS,
                                         unsupported=_HTTP2_UNSUPPORTED + " connection_keepalive")
KEEPALIVE = Fields("interval timeout interval_jitter", unsupported="connection_idle_interval")

#: field → (minimum, maximum) of the uint32 wrappers Envoy validates
_BOUNDS = {
    "hpack_table_size": (0, 2**32 - 1),
    "max_concurrent_streams": (1, 2**31 - 1),
    "initial_stream_window_size": (65535, 2**31 - 1),
    "initial_connection_window_size": (65535, 2**31 - 1),
    "max_outbound_frames": (1, 2**32 - 1),
    "max_outbound_control_frames": (1, 2**32 - 1),
    "max_consecutive_inbound_frames_with_empty_payload": (0, 2**32 - 1),
    "max_inbound_priority_frames_per_stream": (0, 2**32 - 1),
    "max_inbound_window_update_frames_per_data_frame_sent": (1, 2**32 - 1),
}


def http2_options(node: Node, fields: Fields = HTTP2_PROTOCOL_OPTIONS) -> dict | None:
    """The options that are set, by Http2Options attribute name."""
    m = node.message(fields)
    if m is None:
        return None
    found = {}
    for name, (minimum, maximum) in _BOUNDS.items():
        value = m.uint32(name, minimum=minimum, maximum=maximum)
        if value is not None:
            found[name] = value
    if m.has("allow_connect"):
        found["allow_connect"] = bool(m.boolean("allow_connect"))
    # the deprecated name and its replacement, as Envoy reads them
    for name in ("stream_error_on_invalid_http_messaging",
                 "override_stream_error_on_invalid_http_message"):
        if m.has(name):
            found["override_stream_error_on_invalid_http_message"] = bool(m.boolean(name))
    if fields is HTTP2_PROTOCOL_OPTIONS:
        found.update(m.nested("connection_keepalive", _keepalive) or {})
    return found


def upstream_http2_options(node: Node) -> dict | None:
    return http2_options(node, UPSTREAM_HTTP2_PROTOCOL_OPTIONS)


def _keepalive(node: Node) -> dict | None:
    """KeepaliveSettings: a PING every ``interval`` (±``interval_jitter`` percent, 15 by
    default), the connection closed when one is not answered within ``timeout``."""
    m = node.message(KEEPALIVE)
    if m is None:
        return None
    timeout = m.duration("timeout")
    if timeout is None and not m.has("timeout"):
        m.at("timeout").fail("required")
    jitter = m.nested("interval_jitter", percent_value)
    return {"keepalive_interval": m.duration("interval") or 0.0,
            "keepalive_timeout": timeout or 0.0,
            "keepalive_jitter": 0.15 if jitter is None else jitter / 100}
