"""Sans-IO HTTP/1.1 codecs over httptools (llhttp): bytes in, events out.

``RequestDecoder`` (downstream side) and ``ResponseDecoder`` (upstream side) turn received bytes
into a list of events: a head object (``RequestHead`` / ``ResponseHead``), ``bytes`` for body
data, and the ``END`` sentinel when a message is complete. The caller drains ``events`` after each
``feed``; nothing here touches a socket or a clock.

Protocol violations raise ``ProtocolError`` with the status Envoy answers with (400, 431, 501, …)
and Envoy's response-code detail. Request smuggling is llhttp's to refuse: it rejects a
Content-Length beside Transfer-Encoding, duplicate Content-Lengths and bad chunk framing.
"""
from __future__ import annotations

from httptools import HttpRequestParser, HttpResponseParser
from httptools.parser.errors import HttpParserCallbackError, HttpParserError, HttpParserUpgrade

from ...errors import ProtocolError
from ..headers import ENVOY_CONTROL_HEADERS, HOP_BY_HOP

END = object()  #: event: the current message is complete


class RequestHead:
    """A request's head as received. Header names are lower-case bytes, in arrival order."""

    __slots__ = ("method", "target", "version", "headers", "keep_alive", "host", "chunked",
                 "content_length", "expect_continue", "upgrade", "connection", "hop_by_hop",
                 "close_requested")

    def __init__(self):
        self.headers = []
        self.hop_by_hop = False  # some header must not be forwarded (see http/headers.py)
        self.close_requested = False
        self.host = None
        self.chunked = False
        self.content_length = None
        self.expect_continue = False
        self.upgrade = None
        self.connection = None

    @property
    def has_body(self):
        return self.chunked or bool(self.content_length)


class ResponseHead:
    """A response's head as received from an upstream."""

    __slots__ = ("status", "version", "headers", "keep_alive", "chunked", "content_length",
                 "connection", "hop_by_hop")

    def __init__(self):
        self.headers = []
        self.connection = None
        self.hop_by_hop = False
        self.chunked = False
        self.content_length = None


class RequestDecoder:
    """Parses requests from one downstream connection, pipelined ones included."""

    def __init__(self, max_headers_bytes=60 * 1024, max_headers_count=100):
        self._parser = HttpRequestParser(self)
        self._max_bytes = max_headers_bytes
        self._max_count = max_headers_count
        self._head = None
        self._url = b""
        self._head_bytes = 0
        self._in_head = False
        self.events = []
        #: bytes that followed an upgrade request (tunnel data, not HTTP)
        self.upgrade_tail = b""

    @property
    def mid_message(self):
        """True between the first byte of a request and its end: the connection is not idle."""
        return self._head is not None

    def feed(self, data):
        """Parse ``data``; returns ``self.events`` (the caller clears it when done)."""
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self._max_bytes + 8192:
                raise ProtocolError(431, "http1.headers_too_large")
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            self.upgrade_tail = bytes(data[upgrade.args[0]:])
        except HttpParserCallbackError as exc:
            if isinstance(exc.__context__, ProtocolError):
                raise exc.__context__ from None
            raise
        except HttpParserError as exc:
            raise ProtocolError(_error_status(exc), _error_detail(exc)) from None
        return self.events

    # httptools callbacks

    def on_message_begin(self):
        self._head = RequestHead()
        self._url = b""
        self._head_bytes = 0
        self._in_head = True

    def on_url(self, url):
        self._url += url

    def on_header(self, name, value):
        head = self._head
        headers = head.headers
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace; Envoy trims it
        headers.append((name, value))
        if len(headers) > self._max_count:
            raise ProtocolError(431, "http1.too_many_headers")
        special = _SPECIAL_REQUEST_HEADERS.get(name)
        if special is not None:
            special(head, value)

    def on_headers_complete(self):
        head = self._head
        parser = self._parser
        self._in_head = False
        size = len(self._url)
        for name, value in head.headers:
            size += len(name) + len(value)
        head.method = parser.get_method()
        head.target = self._url
        head.version = parser.get_http_version()
        # the raw head: request line, header lines, final CRLF (Envoy's limit is on exactly this)
        size += len(head.method) + 14 + 4 * len(head.headers)
        if size > self._max_bytes:
            raise ProtocolError(431, "http1.headers_too_large")
        # llhttp forgets keep-alive once the message is done: read it here.
        head.keep_alive = parser.should_keep_alive() and not head.close_requested
        if head.chunked is None:
            raise ProtocolError(501, "http1.invalid_transfer_encoding")
        self.events.append(head)

    def on_body(self, body):
        self.events.append(body)

    def on_message_complete(self):
        self._head = None
        self.events.append(END)


class ResponseDecoder:
    """Parses the responses arriving on one upstream connection.

    ``expect_no_body()`` must be called before feeding the response to a HEAD request: llhttp cannot
    know that such a response carries no body whatever its Content-Length says.
    """

    def __init__(self):
        self._parser = HttpResponseParser(self)
        self._head = None
        self._no_body = False
        self.events = []

    def expect_no_body(self):
        self._no_body = True

    def reset(self):
        """Forget the current message: its body was consumed without this decoder."""
        self._parser = HttpResponseParser(self)
        self._head = None
        self._no_body = False

    def feed(self, data):
        try:
            self._parser.feed_data(data)
        except HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _HeadDone):
                raise ProtocolError(502, "upstream.invalid_response") from None
            # The head of a bodiless response ended the message; llhttp is left mid-message,
            # so parse the next response with a fresh parser.
            self._parser = HttpResponseParser(self)
        except HttpParserError:
            raise ProtocolError(502, "upstream.invalid_response") from None
        return self.events

    def on_message_begin(self):
        self._head = ResponseHead()

    def on_header(self, name, value):
        head = self._head
        name = name.lower()
        head.headers.append((name, value))
        if name in HOP_BY_HOP:
            head.hop_by_hop = True
            if name == b"transfer-encoding":
                head.chunked = value.lower().endswith(b"chunked")
            elif name == b"connection":
                head.connection = value
        elif name == b"content-length":
            head.content_length = value

    def on_headers_complete(self):
        head = self._head
        parser = self._parser
        head.status = parser.get_status_code()
        if head.status < 200 and head.status != 101:
            head.headers.clear()  # an interim 1xx: Envoy swallows it
            return
        head.version = parser.get_http_version()
        head.keep_alive = parser.should_keep_alive()
        self.events.append(head)
        if self._no_body:
            self._no_body = False
            self._head = None
            self.events.append(END)
            raise _HeadDone()

    def on_body(self, body):
        self.events.append(body)

    def on_message_complete(self):
        if self._head is not None and self._head.status >= 200:
            self._head = None
            self.events.append(END)

    def feed_eof(self):
        """The upstream closed: completes a close-delimited body, else the response was cut."""
        head = self._head
        if head is not None and head.status >= 200 and not head.chunked and head.content_length is None:
            self._head = None
            self.events.append(END)
            return self.events
        raise ProtocolError(502, "upstream.reset_before_complete")


class _HeadDone(Exception):
    pass


def _set_host(head, value):
    if head.host is not None:
        raise ProtocolError(400, "http1.multiple_host_headers")
    head.host = value


def _mark_hop_by_hop(head, value):
    head.hop_by_hop = True


def _set_transfer_encoding(head, value):
    # Only "chunked" is understood: anything else (gzip, "gzip, chunked", …) is refused with 501
    # like Envoy does, so that hotproxy and the upstream can never disagree on framing.
    head.chunked = True if value.lower() == b"chunked" else None
    head.hop_by_hop = True


def _set_content_length(head, value):
    head.content_length = int(value) if value.isdigit() else 0


def _set_expect(head, value):
    head.expect_continue = value.lower() == b"100-continue"


def _set_proxy_connection(head, value):
    head.hop_by_hop = True
    if value.lower() == b"close":
        head.close_requested = True


def _set_upgrade(head, value):
    head.upgrade = value
    head.hop_by_hop = True


def _set_connection(head, value):
    head.connection = value if head.connection is None else head.connection + b"," + value
    head.hop_by_hop = True


_SPECIAL_REQUEST_HEADERS = {
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


def _error_status(exc):
    reason = str(exc).lower()
    return 426 if "version" in reason else 400


def _error_detail(exc):
    reason = str(exc).lower()
    if "transfer-encoding" in reason and "content-length" not in reason:
        return "http1.invalid_transfer_encoding"
    if "content-length" in reason:
        return "http1.content_length_not_allowed" if "transfer" in reason else "http1.invalid_content_length"
    return "http1.codec_error"
