"""Responses hotproxy generates itself, byte for byte in the shape of Envoy's local replies
(docs/envoy-reference.md, rules 14-15)."""
from .date import http_date
from .http1.serialize import status_line

NO_HEALTHY_UPSTREAM = b"no healthy upstream"
UPSTREAM_TIMEOUT = b"upstream request timeout"
DURATION_TIMEOUT = b"downstream duration timeout"
CONNECT_ERROR = b"upstream connect error or disconnect/reset before headers. reset reason: "
OVERLOADED = b"envoy overloaded"  # stop_accepting_requests
#: what Envoy's router puts first in a reply to a circuit-breaker overflow (UO)
OVERFLOW_HEADERS = ((b"x-envoy-overloaded", b"true"),)

#: Envoy's %RESPONSE_CODE_DETAILS% of the router's own replies, by response flag
DETAILS_BY_FLAG = {
    "NR": "route_not_found",
    "NC": "cluster_not_found",
    "UH": "no_healthy_upstream",
    "UF": "upstream_reset_before_response_started{connection_failure}",
    "UC": "upstream_reset_before_response_started{connection_termination}",
    "UO": "upstream_reset_before_response_started{overflow}",
    "UT": "response_timeout",
    "UPE": "upstream_reset_before_response_started{protocol_error}",
}

#: Bodies of the replies to requests the codec refused.
PROTOCOL_ERROR_BODIES = {
    400: b"Bad Request",
    426: b"Upgrade Required",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
}


def encode(status, body, server_name, close=False, head_only=False, extra=(), leading=()):
    """Bytes of a complete local reply.

    With a body: content-length, content-type, date, server. Without one: ``extra`` (a redirect's
    location), date, server, then content-length: 0 — or, for a HEAD request, a chunked framing
    header and nothing after it, as Envoy does. ``leading`` headers come before all of these.
    """
    parts = [status_line(status)]
    for name, value in leading:
        parts += (name, b": ", value, b"\r\n")
    if body:
        parts += (b"content-length: %d\r\ncontent-type: text/plain\r\n" % len(body),)
    for name, value in extra:
        parts += (name, b": ", value, b"\r\n")
    parts += (b"date: ", http_date(), b"\r\nserver: ", server_name, b"\r\n")
    if close:
        parts.append(b"connection: close\r\n")
    if not body:
        parts.append(b"transfer-encoding: chunked\r\n" if head_only else b"content-length: 0\r\n")
    parts.append(b"\r\n")
    if body and not head_only:
        parts.append(body)
    return b"".join(parts)
