"""Sans-IO HTTP/1.1 codecs over httptools (llhttp): bytes in, events out.

``RequestDecoder`` (downstream side) and ``ResponseDecoder`` (upstream side) turn received bytes
into a list of events: a head object (``RequestHead`` / ``ResponseHead``, see heads.py), ``bytes``
for body data, and the ``END`` sentinel when a message is complete. The caller drains ``events``
after each ``feed``; nothing here touches a socket or a clock.

Protocol violations raise ``ProtocolError`` with the status Envoy answers with (400, 431, 501,
502 …) and Envoy's response-code detail. Request smuggling is llhttp's to refuse: it rejects a
Content-Length beside Transfer-Encoding, duplicate Content-Lengths and bad chunk framing.

Both directions bound what a peer can make them hold: a head (and trailers, which are read and
dropped, as Envoy does without ``enable_trailers``) may have at most ``max_headers_count``
headers and ``max_headers_bytes`` bytes, checked as each header arrives and, for a header still
arriving, after every feed. So an endless head costs at most the limit plus one read.
"""
from __future__ import annotations

from httptools import HttpRequestParser, HttpResponseParser
from httptools.parser.errors import HttpParserCallbackError, HttpParserError, HttpParserUpgrade

from ...errors import ProtocolError
from ..authority import KNOWN_VALID_HOSTS
from ..headers import HOP_BY_HOP
from .heads import REQUEST_HEADER_EFFECTS, RequestHead, ResponseHead
from .serialize import reason_phrase
from .request_target import check_request_target, is_valid_connect_target

END = object()  #: event: the current message is complete


def _request_parser(protocol):
    """llhttp as strict as it goes, but for what Envoy accepts too: a bare LF ending a header
    line, a trailer or chunk data (RFC 9112 §2.2), and whitespace after a chunk size (its BWS
    before a chunk extension). Neither reaches the upstream: heads and chunks are re-serialized."""
    parser = HttpRequestParser(protocol)
    parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True, lenient_spaces_after_chunk_size=True)
    return parser


def _response_parser(protocol):
    """As ``_request_parser``, and any ``HTTP/d.d`` status line, as Envoy takes them (RFC 9110
    §2.5: a later minor version is read as the latest known)."""
    parser = HttpResponseParser(protocol)
    parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True, lenient_spaces_after_chunk_size=True,
                                    lenient_version=True)
    return parser

# Where a decoder is within a message: the header bounds apply to HEAD and TRAILERS.
class _Section:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


_IDLE, _HEAD, _BODY, _TRAILERS = (_Section(name) for name in ("idle", "head", "body", "trailers"))


class _Decoder:
    """What both directions share: bounds on what a peer can make llhttp hold.

    A head is measured without per-header bookkeeping (these callbacks run for every header of
    every message): ``_fed`` is an upper bound on its bytes (everything fed since the start of
    the feed in which it began), and only a head that may be over the limit is measured exactly,
    once it is complete. While a head is still arriving, the bytes fed after its first feed
    (``_unparsed``) and its header count are checked after each feed, so an endless head costs at
    most the limit plus one read. Trailers are rare and are counted header by header.
    """

    def __init__(self, max_headers_bytes, max_headers_count, too_large, malformed):
        self._max_bytes = max_headers_bytes
        self._max_count = max_headers_count
        self._too_large = too_large     # (status, details): a header section over its bounds
        self._malformed = malformed     # (status, details): framing bytes without an end
        self._section = _IDLE
        self._fed = 0        # HEAD: bytes fed since the start of the feed the head began in
        self._size = 0       # TRAILERS: their bytes so far
        self._count = 0      # TRAILERS: their number so far
        self._unparsed = 0   # bytes fed since llhttp last delivered some (or a head began)
        self.events = []

    def _check_after_feed(self):
        """Bounds on what is still inside llhttp once a feed is parsed."""
        section = self._section
        if section is _HEAD:
            head = self._head
            if self._unparsed > self._max_bytes or len(head.headers) + head.dropped > self._max_count:
                raise ProtocolError(*self._too_large)
        elif section is _TRAILERS:
            if self._size + self._unparsed > self._max_bytes:
                raise ProtocolError(*self._too_large)
        elif self._unparsed > self._max_bytes:
            raise ProtocolError(*self._malformed)  # a chunk-size line without an end

    def _head_too_large(self, head, first_line_size):
        """Exactly: the head's bytes (first line, header lines, blank line) over the limit?
        Called when the cheap bounds (``_fed``, the header count) could not rule it out."""
        size = first_line_size + 2 + head.dropped_bytes
        for name, value in head.headers:
            size += len(name) + len(value) + 4  # "name: value\r\n"
        return size > self._max_bytes or len(head.headers) + head.dropped > self._max_count

    def _trailer(self, name, value):
        """A trailer: counted against the same bounds as a head, then dropped (Envoy without
        ``enable_trailers`` forwards none)."""
        self._unparsed = 0
        self._size += len(name) + len(value) + 4
        self._count += 1
        if self._count > self._max_count or self._size > self._max_bytes:
            raise ProtocolError(*self._too_large)

    def on_chunk_header(self):
        # After a chunk-size line, bytes that are not chunk data belong to the trailer section
        # of the last chunk: bound them as a header section (on_body ends this at once).
        self._section = _TRAILERS
        self._size = self._count = self._unparsed = 0

    def on_body(self, body):
        self._unparsed = 0
        if self._section is _TRAILERS:
            self._section = _BODY
        self.events.append(body)


class RequestDecoder(_Decoder):
    """Parses requests from one downstream connection, pipelined ones included."""

    def __init__(self, max_headers_bytes=60 * 1024, max_headers_count=100):
        super().__init__(max_headers_bytes, max_headers_count, (431, "http1.headers_too_large"),
                         (400, "http1.codec_error"))
        self._parser = _request_parser(self)
        self._head = None
        self._url = b""
        self._partial = None  # (head, last byte fed) when a feed ended inside that head
        #: bytes that followed an upgrade request (tunnel data, not HTTP)
        self.upgrade_tail = b""

    @property
    def mid_message(self):
        """True between the first byte of a request and its end: the connection is not idle."""
        return self._head is not None

    def feed(self, data):
        """Parse ``data``; returns ``self.events`` (the caller clears it when done). On a
        ``ProtocolError`` the events of the requests before the bad bytes are still there."""
        size = len(data)
        self._unparsed += size
        if self._section is _HEAD:
            self._fed += size
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            self.upgrade_tail = bytes(data[upgrade.args[0]:])
            self._unparsed = 0
            events = self.events
            at = max(index for index, event in enumerate(events) if event.__class__ is RequestHead)
            if not is_valid_connect_target(events[at]):
                del events[at:]  # refused: the requests before it stand
                raise ProtocolError(400, "http1.invalid_url") from None
        except HttpParserCallbackError as exc:
            if isinstance(exc.__context__, ProtocolError):
                raise exc.__context__ from None
            raise
        except HttpParserError as exc:
            reason = str(exc)
            rest = self._rest_after_bare_lf(data) if reason == "Expected CRLF after version" else None
            if rest is not None:
                return self._reparse(rest)
            raise ProtocolError(*_request_error(reason, self._section)) from None
        section = self._section
        if section is _HEAD or section is _TRAILERS or self._unparsed > self._max_bytes:
            if section is _HEAD:
                self._partial = (self._head, data[-1:])
            self._check_after_feed()
        return self.events

    def _rest_after_bare_lf(self, data):
        """The bytes of ``data`` after a request line that ended in a bare LF, which llhttp
        refuses there (and only there); None if that is not what it refused. Known only for a
        request that is the first of its feed: llhttp does not say where it stopped."""
        if self.events:
            return None
        parser = self._parser
        line = b"%s %s HTTP/%s" % (parser.get_method(), self._url, parser.get_http_version().encode())
        partial = self._partial
        if partial is not None and partial[0] is self._head:  # the line began in an earlier feed
            return data if partial[1] == b"\n" else None
        start = len(data) - len(data.lstrip(b"\r\n"))
        if not data.startswith(line + b"\n", start):
            return None
        return data[start + len(line) + 1:]

    def _reparse(self, rest):
        """Parse the current request again from its request line, ended by a CRLF this time."""
        parser = self._parser
        line = b"%s %s HTTP/%s\r\n" % (parser.get_method(), self._url, parser.get_http_version().encode())
        self._parser = _request_parser(self)
        self._head = None
        self._section = _IDLE
        self._unparsed = 0
        return self.feed(line + rest)

    # httptools callbacks

    def on_message_begin(self):
        self._head = RequestHead()
        self._url = b""
        self._section = _HEAD
        self._fed = self._unparsed  # the feed in progress, and anything left before it
        self._unparsed = 0

    def on_url(self, url):
        self._url += url

    def on_header(self, name, value):
        if self._section is not _HEAD:
            return self._trailer(name, value)
        head = self._head
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace; Envoy trims it
        head.headers.append((name, value))
        effect = REQUEST_HEADER_EFFECTS.get(name)
        if effect is not None:
            effect(head, value)

    def on_headers_complete(self):
        head = self._head
        parser = self._parser
        head.method = parser.get_method()
        head.version = parser.get_http_version()
        # Envoy's limit is on the raw head: "METHOD url HTTP/1.1\r\n", the header lines, CRLF
        if ((self._fed > self._max_bytes or len(head.headers) > self._max_count)
                and self._head_too_large(head, len(head.method) + len(self._url) + 12)):
            raise ProtocolError(431, "http1.headers_too_large")
        self._section = _BODY
        self._unparsed = 0
        # llhttp forgets keep-alive once the message is done: read it here.
        head.keep_alive = parser.should_keep_alive() and not head.close_requested
        if head.chunked is None:
            raise ProtocolError(501, "http1.invalid_transfer_encoding")
        if head.connection is not None:
            head.check_connection_header()
        url = self._url
        if url[:1] == b"/" and head.host in KNOWN_VALID_HOSTS:
            head.target = url  # the common case, checked before
        else:
            head.target = check_request_target(head, url)
        self.events.append(head)

    def on_message_complete(self):
        self._head = None
        self._section = _IDLE
        self._unparsed = 0
        self.events.append(END)


class ResponseDecoder(_Decoder):
    """Parses the responses arriving on one upstream connection, one exchange at a time.

    ``expect_no_body()`` must be called before feeding the response to a HEAD request: llhttp
    cannot know that such a response carries no body whatever its Content-Length says. Bytes
    that follow the end of a response in the same feed are never parsed as another one: they set
    ``excess``, and the connection must not be reused (Envoy closes it too). The caller feeds
    nothing after a response's ``END``; bytes that arrive later are the pool's to find.
    """

    def __init__(self, max_headers_bytes=80 * 1024, max_headers_count=100):
        super().__init__(max_headers_bytes, max_headers_count,
                         (502, "upstream.headers_too_large"), (502, "upstream.invalid_response"))
        self._parser = _response_parser(self)
        self._head = None
        self._no_body = False
        self._complete = False
        self.excess = False

    def expect_no_body(self):
        self._no_body = True

    def reset(self):
        """Forget the current message: its body was consumed without this decoder."""
        self._parser = _response_parser(self)
        self._head = None
        self._no_body = False
        self._complete = True
        self._section = _IDLE
        self._unparsed = 0

    def feed(self, data):
        size = len(data)
        self._unparsed += size
        if self._section is _HEAD:
            self._fed += size
        self._complete = False  # set by the END of a response in this feed
        try:
            self._parser.feed_data(data)
        except HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, ProtocolError):
                raise cause from None
            if isinstance(cause, _Excess):
                self.excess = True
            elif isinstance(cause, _HeadDone):
                # The head of a bodiless response ended the message; llhttp is left mid-message,
                # so the next response gets a fresh parser. Anything after this head is excess.
                self._parser = _response_parser(self)
                end = bytes(data).find(b"\r\n\r\n")
                self.excess = end < 0 or end + 4 < len(data)
            else:
                raise ProtocolError(502, "upstream.invalid_response") from None
        except HttpParserError:
            if not self._complete:
                raise ProtocolError(502, "upstream.invalid_response") from None
            self.excess = True  # garbage after the response
        section = self._section
        if section is _HEAD or section is _TRAILERS or self._unparsed > self._max_bytes:
            self._check_after_feed()
        return self.events

    def on_message_begin(self):
        if self._complete:
            raise _Excess()
        self._head = ResponseHead()
        self._section = _HEAD
        self._fed = self._unparsed  # the feed in progress, and anything left before it
        self._unparsed = 0

    def on_header(self, name, value):
        if self._section is not _HEAD:
            return self._trailer(name, value)
        head = self._head
        name = name.lower()
        if name in HOP_BY_HOP:  # read, never forwarded: not kept in the list
            if name == b"transfer-encoding":
                # one "chunked", as Envoy: any other coding (or a second one) is a 502 there
                if head.chunked or value.rstrip(b" \t").lower() != b"chunked":
                    raise ProtocolError(502, "upstream.invalid_transfer_encoding")
                head.chunked = True
            elif name == b"connection":
                head.connection = value if head.connection is None else head.connection + b"," + value
            head.dropped += 1
            head.dropped_bytes += len(name) + len(value) + 4
            return
        headers = head.headers
        headers.append((name, value))
        if name == b"content-length":
            head.content_length = value
        elif name == b"server":
            head.server_at = len(headers) - 1 if head.server_at == -1 else -2  # -2: several
        elif name == b"date":
            head.has_date = True

    def on_headers_complete(self):
        head = self._head
        parser = self._parser
        head.status = parser.get_status_code()
        # "HTTP/1.1 200 " + reason + CRLF, the header lines, the blank line. The reason is taken
        # to be the standard one: a head within a few bytes of the limit may be misjudged by the
        # difference, the price of not calling back for every status line.
        if ((self._fed > self._max_bytes or len(head.headers) + head.dropped > self._max_count)
                and self._head_too_large(head, 15 + len(reason_phrase(head.status)))):
            raise ProtocolError(502, "upstream.headers_too_large")
        status = head.status
        if status < 200 or status == 204:
            _check_bodiless(head)
            if status < 200:
                head.headers.clear()  # an interim 1xx: Envoy swallows it
                self._fed = 0
                return
        self._section = _BODY
        self._unparsed = 0
        head.version = parser.get_http_version()
        head.keep_alive = parser.should_keep_alive()
        self.events.append(head)
        if self._no_body:
            self._finish()
            raise _HeadDone()

    def on_message_complete(self):
        head = self._head
        if head is not None and head.status >= 200:
            self._head = None
            self._complete = True
            self._section = _IDLE
            self._unparsed = 0
            self.events.append(END)

    def _finish(self):
        self._no_body = False
        self._head = None
        self._complete = True
        self._section = _IDLE
        self._unparsed = 0
        self.events.append(END)

    def feed_eof(self):
        """The upstream closed: completes a close-delimited body, else the response was cut."""
        head = self._head
        if head is not None and head.status >= 200 and not head.chunked and head.content_length is None:
            self._finish()
            return self.events
        raise ProtocolError(502, "upstream.reset_before_complete")


def _check_bodiless(head):
    """A 1xx or 204 has no content (RFC 9110 §15.2, §15.3.5): one that declares some, by a
    non-zero Content-Length or chunked, is refused as Envoy refuses it. So is a 101: hotproxy
    never asks for an upgrade."""
    if head.status == 101:
        raise ProtocolError(502, "upstream.unexpected_101")
    length = head.content_length
    if head.chunked or (length is not None and length.strip(b" \t") != b"0"):
        raise ProtocolError(502, "upstream.body_not_allowed")


class _HeadDone(Exception):
    pass


class _Excess(Exception):
    """A second message began after the response: stop parsing."""


def _request_error(reason, section):
    """(status, details) of llhttp's refusal ``reason``, as Envoy answers the same request: 426
    for a well-formed version other than 1.x, 501 for a transfer coding other than a single
    ``chunked``, 400 for everything else (a malformed version line included)."""
    lowered = reason.lower()
    if lowered == "invalid http version":
        return 426, "http1.codec_error"
    if "content-length" in lowered:
        if "transfer-encoding" in lowered:
            return 400, "http1.content_length_not_allowed"
        return 400, "http1.invalid_content_length"
    if "transfer-encoding" in lowered and section is not _TRAILERS:
        return 501, "http1.invalid_transfer_encoding"
    return 400, "http1.codec_error"
