"""W3C trace context (``traceparent``, ``tracestate``) as Envoy's OpenTelemetry tracer reads
and writes it: ``00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>``, bit 0 of the flags
being "sampled"; tracestate passes through unchanged."""
from __future__ import annotations

from ..http.router.downstream_head import set_header

_HEX = frozenset(b"0123456789abcdef")


class Malformed(Exception):
    """A traceparent that cannot be read: Envoy traces no span then."""


def extract(headers):
    """(trace_id, parent_id, sampled, tracestate) from ``headers``, or None without a
    traceparent. Raises Malformed."""
    parent = state = None
    for name, value in headers:
        if name == b"traceparent" and parent is None:
            parent = value.strip()
        elif name == b"tracestate":
            state = value if state is None else state + b"," + value
    if parent is None:
        return None
    parts = parent.split(b"-")
    if len(parts) != 4 or [len(part) for part in parts] != [2, 32, 16, 2] or \
            not all(_HEX.issuperset(part) for part in parts):
        raise Malformed("traceparent is version-traceid-parentid-flags in lower-case hex")
    version, trace, span, flags = parts
    if version == b"ff":
        raise Malformed("traceparent version ff is invalid")
    trace_id, span_id = int(trace, 16), int(span, 16)
    if not trace_id or not span_id:
        raise Malformed("traceparent ids are not zero")
    return trace_id, span_id, bool(int(flags, 16) & 1), state or b""


def inject(headers, span):
    """Write ``span``'s context as traceparent and its tracestate into ``headers``."""
    value = b"00-%032x-%016x-%s" % (span.trace_id, span.span_id,
                                     b"01" if span.sampled else b"00")
    set_header(headers, b"traceparent", value)
    set_header(headers, b"tracestate", span.tracestate)     # empty too, as Envoy sends it

