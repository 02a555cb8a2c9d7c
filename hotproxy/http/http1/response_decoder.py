"""Decoding the responses of one upstream connection, one exchange at a time (see codec.py)."""
from __future__ import annotations

from httptools import HttpResponseParser
from httptools.parser.errors import HttpParserCallbackError, HttpParserError

from ...errors import ProtocolError
from ..headers import HOP_BY_HOP
from .decoding import BODY, END, HEAD, IDLE, TRAILERS, Decoder
from .heads import ResponseHead
from .serialize import reason_phrase


def _response_parser(protocol):
    """As ``_request_parser``, and any ``HTTP/d.d`` status line, as Envoy takes them (RFC 9110
    §2.5: a later minor version is read as the latest known)."""
    parser = HttpResponseParser(protocol)
    parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True, lenient_spaces_after_chunk_size=True,
                                    lenient_version=True)
    return parser


class ResponseDecoder(Decoder):
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
        self._upgrade = False
        self._complete = False
        self._behind_line = 0  # bytes of the feed after the line llhttp was last given
        self.excess = False

    def expect_no_body(self):
        self._no_body = True

    def expect_upgrade(self):
        """The request asked for an upgrade (http/upgrade.py): a 101 is its final response,
        after which the connection carries a tunnel. Feed only the head's bytes then."""
        self._upgrade = True

    def reset(self):
        """Forget the current message: its body was consumed without this decoder."""
        self._parser = _response_parser(self)
        self._head = None
        self._no_body = False
        self._complete = True
        self._section = IDLE
        self._unparsed = 0

    def feed(self, data):
        size = self._feed_size = len(data)
        self._unparsed += size
        if self._section is HEAD:
            self._fed += size
        self._complete = False  # set by the END of a response in this feed
        try:
            if self._no_body:
                self._feed_lines(data)
            else:
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
                self.excess = self._behind_line > 0
            else:
                raise ProtocolError(502, "upstream.invalid_response") from None
        except HttpParserError:
            if not self._complete:
                raise ProtocolError(502, "upstream.invalid_response") from None
            self.excess = True  # garbage after the response
        section = self._section
        if section is HEAD or section is TRAILERS or self._unparsed > self._max_bytes:
            self._check_after_feed()
        return self.events

    def _feed_lines(self, data):
        """Feed llhttp a line at a time: the head of a response without a body ends parsing
        (``_HeadDone``) at the LF of its blank line, and what follows that line is excess."""
        data = bytes(data)
        start, size = 0, len(data)
        while start < size:
            end = data.find(b"\n", start) + 1 or size
            self._behind_line = size - end
            self._parser.feed_data(data[start:end])
            start = end

    def on_message_begin(self):
        if self._complete:
            raise _Excess()
        self._head = ResponseHead()
        self._section = HEAD
        # All of this feed: not what is left of it, which is none for a head that follows a
        # message (a pipelined request, a response after an interim one) in the same feed.
        self._fed = self._feed_size
        self._unparsed = 0

    def on_header(self, name, value):
        if self._section is not HEAD:
            return self._trailer(name, value)
        head = self._head
        name = name.lower()
        value = value.rstrip()  # llhttp keeps trailing whitespace; Envoy trims it (see decoding.py)
        if name in HOP_BY_HOP:  # read, never forwarded: not kept in the list
            if name == b"transfer-encoding":
                # one "chunked", as Envoy: any other coding (or a second one) is a 502 there
                if head.chunked or value.lower() != b"chunked":
                    raise ProtocolError(502, "upstream.invalid_transfer_encoding")
                head.chunked = True
            elif name == b"connection":
                head.connection = value if head.connection is None else head.connection + b"," + value
            elif name == b"upgrade":
                head.upgrade = value
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
        if status < 100:  # llhttp takes any three digits; none below 100 is a status (RFC 9110 §15)
            raise ProtocolError(502, "upstream.invalid_response")
        if status == 101 and self._upgrade:
            head.keep_alive = False     # a tunnel now, never a pooled connection again
            self.events.append(head)
            self._finish()
            raise _HeadDone()
        if status < 200 or status == 204:
            _check_bodiless(head)
            if status < 200:
                head.headers.clear()  # an interim 1xx: Envoy swallows it
                return
        self._section = BODY
        self._unparsed = 0
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
            self._section = IDLE
            self._unparsed = 0
            self.events.append(END)

    def _finish(self):
        self._no_body = False
        self._head = None
        self._complete = True
        self._section = IDLE
        self._unparsed = 0
        self.events.append(END)

    def feed_eof(self):
        """The upstream closed: completes a close-delimited body, else the response was cut."""
        head = self._head
        if self._section is BODY and not head.chunked and head.content_length is None:
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
