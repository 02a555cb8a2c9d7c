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
from .heads import REQUEST_HEADER_EFFECTS, RequestHead, ResponseHead
from .request_target import check_request_target

END = object()  #: event: the current message is complete

# Where a decoder is within a message: the header section bounds apply to HEAD and TRAILERS.
_IDLE, _HEAD, _BODY, _TRAILERS = "idle", "head", "body", "trailers"


class _Decoder:
    """What both directions share: bounds on what a peer can make llhttp hold."""

    def __init__(self, max_headers_bytes, max_headers_count, too_large, malformed):
        self._max_bytes = max_headers_bytes
        self._max_count = max_headers_count
        self._too_large = too_large     # (status, details): a header section over its bounds
        self._malformed = malformed     # (status, details): framing bytes without an end
        self._section = _IDLE
        self._size = 0       # bytes of the current header section parsed so far
        self._count = 0      # headers in the current section
        self._unparsed = 0   # bytes fed that no callback has delivered yet (held inside llhttp)
        self.events = []

    def _start_section(self, section, size=0):
        self._section = section
        self._size = size
        self._count = 0
        self._unparsed = 0

    def _count_header(self, name, value):
        """A header arrived. One after the head is a trailer: it opens the trailer section."""
        if self._section == _BODY:
            self._start_section(_TRAILERS)
        self._unparsed = 0
        self._size += len(name) + len(value) + 4  # "name: value\r\n"
        self._count += 1
        if self._count > self._max_count or self._size > self._max_bytes:
            raise ProtocolError(*self._too_large)

    def on_chunk_header(self):
        # After a chunk-size line, bytes that are not chunk data belong to the trailer section
        # of the last chunk: bound them as a header section (on_body ends this at once).
        self._start_section(_TRAILERS)

    def on_body(self, body):
        self._unparsed = 0
        if self._section == _TRAILERS:
            self._section = _BODY
        self.events.append(body)

    def _check_unparsed(self):
        """After a feed: bytes still inside llhttp (a header line, a chunk-size line with its
        extensions) may not outgrow the header budget."""
        if self._section == _HEAD or self._section == _TRAILERS:
            if self._size + self._unparsed > self._max_bytes:
                raise ProtocolError(*self._too_large)
        elif self._unparsed > self._max_bytes:
            raise ProtocolError(*self._malformed)


class RequestDecoder(_Decoder):
    """Parses requests from one downstream connection, pipelined ones included."""

    def __init__(self, max_headers_bytes=60 * 1024, max_headers_count=100):
        super().__init__(max_headers_bytes, max_headers_count, (431, "http1.headers_too_large"),
                         (400, "http1.codec_error"))
        self._parser = HttpRequestParser(self)
        self._head = None
        self._url = b""
        #: bytes that followed an upgrade request (tunnel data, not HTTP)
        self.upgrade_tail = b""

    @property
    def mid_message(self):
        """True between the first byte of a request and its end: the connection is not idle."""
        return self._head is not None

    def feed(self, data):
        """Parse ``data``; returns ``self.events`` (the caller clears it when done). On a
        ``ProtocolError`` the events of the requests before the bad bytes are still there."""
        self._unparsed += len(data)
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            self.upgrade_tail = bytes(data[upgrade.args[0]:])
            self._unparsed = 0
        except HttpParserCallbackError as exc:
            if isinstance(exc.__context__, ProtocolError):
                raise exc.__context__ from None
            raise
        except HttpParserError as exc:
            raise ProtocolError(_error_status(exc), _error_detail(exc)) from None
        self._check_unparsed()
        return self.events

    # httptools callbacks

    def on_message_begin(self):
        self._head = RequestHead()
        self._url = b""
        self._start_section(_HEAD)

    def on_url(self, url):
        self._url += url
        self._size += len(url)
        self._unparsed = 0

    def on_header(self, name, value):
        self._count_header(name, value)
        if self._section == _TRAILERS:
            return  # dropped, as Envoy drops trailers without enable_trailers
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
        # the raw head: request line, header lines, final CRLF (Envoy's limit is on exactly this)
        if self._size + len(head.method) + 14 > self._max_bytes:
            raise ProtocolError(431, "http1.headers_too_large")
        self._start_section(_BODY)
        # llhttp forgets keep-alive once the message is done: read it here.
        head.keep_alive = parser.should_keep_alive() and not head.close_requested
        if head.chunked is None:
            raise ProtocolError(501, "http1.invalid_transfer_encoding")
        if head.connection is not None:
            head.check_connection_header()
        head.target = check_request_target(head, self._url)
        self.events.append(head)


    def on_message_complete(self):
        self._head = None
        self._start_section(_IDLE)
        self.events.append(END)


class ResponseDecoder(_Decoder):
    """Parses the responses arriving on one upstream connection, one exchange at a time.

    ``expect_response(head_only)`` starts each exchange (``head_only`` for the answer to a HEAD
    request: llhttp cannot know that such a response carries no body whatever its
    Content-Length says). Bytes after the end of that response are never parsed as another one:
    they set ``excess`` and the connection must not be reused (Envoy closes it too).
    """

    def __init__(self, max_headers_bytes=80 * 1024, max_headers_count=100):
        super().__init__(max_headers_bytes, max_headers_count,
                         (502, "upstream.headers_too_large"), (502, "upstream.invalid_response"))
        self._parser = HttpResponseParser(self)
        self._head = None
        self._no_body = False
        self._complete = False
        self.excess = False

    def expect_response(self, head_only=False):
        self._no_body = head_only
        self._complete = False

    def reset(self):
        """Forget the current message: its body was consumed without this decoder."""
        self._parser = HttpResponseParser(self)
        self._head = None
        self._no_body = False
        self._complete = True
        self._start_section(_IDLE)

    def feed(self, data):
        self._unparsed += len(data)
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
                self._parser = HttpResponseParser(self)
                end = bytes(data).find(b"\r\n\r\n")
                self.excess = end < 0 or end + 4 < len(data)
            else:
                raise ProtocolError(502, "upstream.invalid_response") from None
        except HttpParserError:
            if not self._complete:
                raise ProtocolError(502, "upstream.invalid_response") from None
            self.excess = True  # garbage after the response
        self._check_unparsed()
        return self.events

    def on_message_begin(self):
        if self._complete:
            raise _Excess()
        self._head = ResponseHead()
        self._start_section(_HEAD)

    def on_status(self, reason):
        self._size += 15 + len(reason)  # "HTTP/1.1 200 " + reason + CRLF
        self._unparsed = 0

    def on_header(self, name, value):
        self._count_header(name, value)
        if self._section == _TRAILERS:
            return
        name = name.lower()
        self._head.headers.append((name, value))
        self._head.note(name, value)

    def on_headers_complete(self):
        head = self._head
        parser = self._parser
        if self._size + 2 > self._max_bytes:  # the blank line that ends the head
            raise ProtocolError(*self._too_large)
        head.status = parser.get_status_code()
        if head.status < 200 and head.status != 101:
            head.headers.clear()  # an interim 1xx: Envoy swallows it
            return
        self._start_section(_BODY)
        head.version = parser.get_http_version()
        head.keep_alive = parser.should_keep_alive()
        self.events.append(head)
        if self._no_body:
            self._finish()
            raise _HeadDone()


    def on_message_complete(self):
        if self._head is not None and self._head.status >= 200:
            self._finish()

    def _finish(self):
        self._no_body = False
        self._head = None
        self._complete = True
        self._start_section(_IDLE)
        self.events.append(END)

    def feed_eof(self):
        """The upstream closed: completes a close-delimited body, else the response was cut."""
        head = self._head
        if head is not None and head.status >= 200 and not head.chunked and head.content_length is None:
            self._finish()
            return self.events
        raise ProtocolError(502, "upstream.reset_before_complete")


class _HeadDone(Exception):
    pass


class _Excess(Exception):
    """A second message began after the response: stop parsing."""


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
