"""HTTP/1.1 message heads as the decoders hand them out, and what a request's special headers
mean for the connection manager (framing, Host, Expect, Upgrade, Connection)."""
from __future__ import annotations

from ...errors import ProtocolError
from ..headers import (ENVOY_CONTROL_HEADERS, FRAMING, NOT_HEADER_NAMES, PLAIN_CONNECTION_VALUES,
                       connection_tokens)

#: Headers a ``Connection`` header may not nominate: removing them would let a client strip what
#: the proxy or the next hop relies on (Envoy answers 400, as here).
_NOT_NOMINABLE = frozenset((b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"))
#: More tokens than this in ``Connection`` is refused, as Envoy refuses it.
MAX_CONNECTION_TOKENS = 9


class RequestHead:
    """A request's head as received. Header names are lower-case bytes, in arrival order."""

    __slots__ = ("method", "target", "version", "headers", "keep_alive", "host", "chunked",
                 "content_length", "expect_continue", "upgrade", "connection", "hop_by_hop",
                 "proxy_connection", "nominated",
                 "trailers")     # set only when the chunked body ended with some (trailers_of)

    def __init__(self):
        self.headers = []
        self.hop_by_hop = False  # some header must not be forwarded (see http/headers.py)
        self.proxy_connection = None  # a Proxy-Connection header: True if one says close
        self.host = None
        self.chunked = False
        self.content_length = None
        self.expect_continue = False
        self.upgrade = None
        self.connection = None
        self.nominated = ()  # header names the Connection header makes hop-by-hop

    # the request decoder keeps every header: none is left out of its bounds
    dropped = dropped_bytes = 0

    @property
    def has_body(self):
        return self.chunked or bool(self.content_length)

    def check_connection_header(self):
        """Apply the Connection header's nominations once the head is complete (Envoy's rules:
        at most 9 tokens, none naming a pseudo-header or an x-forwarded-* header it relies on).
        Nominating Host removes it, and the request is then answered as one without a Host."""
        if self.connection in PLAIN_CONNECTION_VALUES:
            return
        tokens = connection_tokens(self.connection)
        if len(tokens) > MAX_CONNECTION_TOKENS:
            raise ProtocolError(400, "http1.connection_header_rejected")
        nominated = set()
        for token in tokens:
            if token in _NOT_NOMINABLE or token[:1] == b":":
                raise ProtocolError(400, "http1.connection_header_rejected")
            if token not in NOT_HEADER_NAMES and token not in FRAMING:
                nominated.add(token)
        if b"host" in nominated:
            self.host = None
        self.nominated = nominated


class ResponseHead:
    """A response's head as received from an upstream. ``headers`` leaves out the hop-by-hop
    headers (their meaning is kept: ``chunked``, ``connection``; ``dropped`` and
    ``dropped_bytes`` count them for the head's bounds). ``server_at`` is the index of the
    Server header (-1: none) and ``has_date`` whether there is a Date, for the router.
    The status line's version is not kept: llhttp checked it, ``keep_alive`` is what it implies,
    and reading it back costs a str.format per response (httptools' get_http_version)."""

    __slots__ = ("status", "headers", "keep_alive", "chunked", "content_length",
                 "connection", "upgrade", "server_at", "has_date", "dropped", "dropped_bytes",
                 "trailers")     # set only when the chunked body ended with some (trailers_of)

    def __init__(self):
        self.headers = []
        self.connection = None
        self.upgrade = None     # the Upgrade header of a 101 (hop-by-hop: not in ``headers``)
        self.chunked = False
        self.content_length = None
        self.server_at = -1
        self.has_date = False
        self.dropped = 0
        self.dropped_bytes = 0


def _set_host(head, value):
    if head.host is not None:
        raise ProtocolError(400, "http1.multiple_host_headers")
    head.host = value


def _mark_hop_by_hop(head, value):
    head.hop_by_hop = True


def _set_transfer_encoding(head, value):
    # Only one "chunked" is understood: anything else (gzip, "gzip, chunked", a second
    # Transfer-Encoding header …) is refused with 501 like Envoy does, so that hotproxy and the
    # upstream can never disagree on framing.
    head.chunked = True if value.lower() == b"chunked" and head.chunked is False else None
    head.hop_by_hop = True


def _set_content_length(head, value):
    head.content_length = int(value) if value.isdigit() else 0


def _set_expect(head, value):
    head.expect_continue = value.lower() == b"100-continue"


def _set_proxy_connection(head, value):
    head.hop_by_hop = True
    head.proxy_connection = head.proxy_connection or value.lower() == b"close"


def _set_upgrade(head, value):
    head.upgrade = value
    head.hop_by_hop = True


def _set_connection(head, value):
    head.connection = value if head.connection is None else head.connection + b"," + value
    head.hop_by_hop = True


#: Request header name → what it sets on the RequestHead.
REQUEST_HEADER_EFFECTS = {
    b"host": _set_host,
    b"transfer-encoding": _set_transfer_encoding,
    b"content-length": _set_content_length,
    b"expect": _set_expect,
    b"upgrade": _set_upgrade,
    b"connection": _set_connection,
    b"keep-alive": _mark_hop_by_hop,
    b"proxy-connection": _set_proxy_connection,
    b"te": _mark_hop_by_hop,
    b"trailer": _mark_hop_by_hop,
    b"proxy-authenticate": _mark_hop_by_hop,
    **{name: _mark_hop_by_hop for name in ENVOY_CONTROL_HEADERS},
}


def trailers_of(head):
    """The (name, value) trailers a chunked message ended with, or None: the slot is set only
    when there were some, so a message without them costs nothing."""
    return getattr(head, "trailers", None)
