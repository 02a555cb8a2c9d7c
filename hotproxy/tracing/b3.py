"""Zipkin's B3 propagation: the multi-header form (x-b3-traceid, x-b3-spanid,
x-b3-parentspanid, x-b3-sampled, x-b3-flags) and the single ``b3`` header
(``trace-span[-sampled[-parent]]``, or a bare sampling state), read and written as Envoy's
Zipkin tracer does."""
from __future__ import annotations

from ..http.router.downstream_head import set_header

_HEX = frozenset(b"0123456789abcdefABCDEF")


class Malformed(Exception):
    """Headers that claim a context but do not hold one: Envoy traces no span then."""


class B3:
    """What the request's headers said: ``sampled`` (True/False/None when unsaid), and a
    context (``trace_id`` int, ``wide`` for 128 bits, ``span_id``, ``parent_id``, 0 when
    absent) when ``span_id``; ``single``: it came in the ``b3`` header; ``present``: some B3
    header came at all."""
    __slots__ = ("trace_id", "wide", "span_id", "parent_id", "sampled", "single", "present")

    def __init__(self):
        self.trace_id = self.span_id = self.parent_id = 0
        self.wide = False
        self.sampled = None
        self.single = False
        self.present = False


def extract(headers):
    """B3 of ``headers`` ((name, value) byte pairs, lower-case names). Raises Malformed."""
    found = {}
    for name, value in headers:
        if name == b"b3" or name.startswith(b"x-b3-"):
            found.setdefault(name, value)
    b3 = B3()
    if not found:
        return b3
    b3.present = True
    single = found.get(b"b3")
    if single is not None:
        b3.single = True
        _single(single.strip(), b3)
        return b3
    sampled = found.get(b"x-b3-sampled")
    if found.get(b"x-b3-flags") == b"1":
        b3.sampled = True           # debug
    elif sampled is not None:
        b3.sampled = sampled in (b"1", b"true", b"d")
    trace = found.get(b"x-b3-traceid")
    span = found.get(b"x-b3-spanid")
    if trace is None and span is None:
        return b3
    if trace is None or span is None:
        raise Malformed("x-b3-traceid and x-b3-spanid go together")
    b3.trace_id, b3.wide = _trace_id(trace)
    b3.span_id = _id(span)
    parent = found.get(b"x-b3-parentspanid")
    if parent is not None:
        b3.parent_id = _id(parent)
    return b3


def _single(value, b3):
    parts = value.split(b"-")
    if len(parts) == 1:
        b3.sampled = _sampling_state(parts[0])
        return
    if len(parts) > 4:
        raise Malformed("b3 has too many fields")
    b3.trace_id, b3.wide = _trace_id(parts[0])
    b3.span_id = _id(parts[1])
    if len(parts) >= 3:
        b3.sampled = _sampling_state(parts[2])
    if len(parts) == 4:
        b3.parent_id = _id(parts[3])


def _sampling_state(text):
    if text in (b"1", b"d"):
        return True
    if text == b"0":
        return False
    raise Malformed("b3 sampling state must be 0, 1 or d")


def _trace_id(text):
    if len(text) not in (16, 32) or not _HEX.issuperset(text):
        raise Malformed("a trace id is 16 or 32 hex digits")
    value = int(text, 16)
    if not value:
        raise Malformed("a trace id is not zero")
    return value, len(text) == 32


def _id(text):
    if len(text) != 16 or not _HEX.issuperset(text):
        raise Malformed("a span id is 16 hex digits")
    value = int(text, 16)
    if not value:
        raise Malformed("a span id is not zero")
    return value


def inject(headers, span, single, present=True):
    """Write ``span``'s context into ``headers`` (replacing what they held): the single ``b3``
    header when the request came with one, else the multi-header form. ``present``: whether the
    headers hold any B3 header (else they are only added, without a search)."""
    sampled = b"1" if span.sampled else b"0"
    trace = span.trace_hex.encode()
    if not present:
        headers += ((b"x-b3-traceid", trace), (b"x-b3-spanid", b"%016x" % span.span_id))
        if span.parent_id:
            headers.append((b"x-b3-parentspanid", b"%016x" % span.parent_id))
        headers.append((b"x-b3-sampled", sampled))
        return
    if single:
        value = b"%s-%016x-%s" % (trace, span.span_id, sampled)
        if span.parent_id:
            value += b"-%016x" % span.parent_id
        set_header(headers, b"b3", value)
        return
    set_header(headers, b"x-b3-traceid", trace)
    set_header(headers, b"x-b3-spanid", b"%016x" % span.span_id)
    if span.parent_id:
        set_header(headers, b"x-b3-parentspanid", b"%016x" % span.parent_id)
    set_header(headers, b"x-b3-sampled", sampled)

