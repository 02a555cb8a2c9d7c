"""Decoding the requests of one downstream connection, pipelined ones included (see codec.py)."""
from __future__ import annotations

import re

from httptools import HttpRequestParser
from httptools.parser.errors import HttpParserCallbackError, HttpParserError, HttpParserUpgrade

from ...errors import ProtocolError
from ..authority import KNOWN_VALID_HOSTS
from .decoding import BODY, END, HEAD, IDLE, TRAILERS, Decoder
from .heads import REQUEST_HEADER_EFFECTS, RequestHead
from .request_target import check_request_target, is_valid_connect_target

_SPACES = re.compile(rb" +")


def _request_parser(protocol):
    """llhttp as strict as it goes, but for what Envoy accepts too: a bare LF ending a header
    line, a trailer or chunk data (RFC 9112 §2.2), and whitespace after a chunk size (its BWS
    before a chunk extension). Neither reaches the upstream: heads and chunks are re-serialized."""
    parser = HttpRequestParser(protocol)
    parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True, lenient_spaces_after_chunk_size=True)
    return parser


class RequestDecoder(Decoder):
    """Parses requests from one downstream connection, pipelined ones included."""

    def __init__(self, max_headers_bytes=60 * 1024, max_headers_count=100):
        super().__init__(max_headers_bytes, max_headers_count, (431, "http1.headers_too_large"),
                         (400, "http1.codec_error"))
        self._parser = _request_parser(self)
        self._head = None
        #: True between the first byte of a request and its end (while ``_head`` is set): the
        #: connection is not idle. An attribute, not a property: it is read twice a request.
        self.mid_message = False
        self._url = b""
        self._partial = None  # (head, last byte fed) when a feed ended inside that head
        self._after_lf = None   # see _feed_to_first_lf
        #: bytes that followed an upgrade request (tunnel data, not HTTP)
        self.upgrade_tail = b""

    def feed(self, data):
        """Parse ``data``; returns ``self.events`` (the caller clears it when done). On a
        ``ProtocolError`` the events of the requests before the bad bytes are still there."""
        size = self._feed_size = len(data)
        self._unparsed += size
        if self._section is HEAD:
            self._fed += size
        rest = None
        try:
            if self._partial is not None and self._continues_request_line():
                self._feed_to_first_lf(data)
            else:
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
            if rest is None:
                raise ProtocolError(*_request_error(reason, self._section)) from None
        if rest is not None:
            # Not from the except clause: there, httptools' HttpParserCallbackError would get
            # the HttpParserError as its __context__ instead of the callback's ProtocolError.
            return self._reparse(rest)
        section = self._section
        if section is HEAD or section is TRAILERS or self._unparsed > self._max_bytes:
            if section is HEAD and data:
                self._partial = (self._head, data[-1:])
            self._check_after_feed()
        return self.events

    def body_consumed(self):
        """The rest of the current request's Content-Length body went around this decoder
        (spliced to the upstream): end the request as llhttp would have, and take the next one
        with a fresh parser."""
        self._parser = _request_parser(self)
        self._head = None
        self.mid_message = False
        self._partial = None
        self._section = IDLE
        self._unparsed = 0
        self.events.append(END)

    def _continues_request_line(self):
        """This feed may go on with a request line that began in an earlier one (the caller saw
        a ``_partial``)."""
        return self._partial[0] is self._head and not self._head.headers

    def _feed_to_first_lf(self, data):
        """Feed llhttp up to the first LF, then the rest. Should that LF end the request line,
        llhttp refuses it at the next byte: ``_after_lf`` then holds what follows the line."""
        self._after_lf = None
        end = data.find(b"\n") + 1
        if not end:
            return self._parser.feed_data(data)
        self._parser.feed_data(data[:end])
        self._after_lf = data[end:]
        self._parser.feed_data(self._after_lf)

    def _rest_after_bare_lf(self, data):
        """The bytes of ``data`` after a request line that ended in a bare LF, which llhttp
        refuses there (and only there); None if that is not what it refused. Known only for a
        request that is the first of its feed: llhttp does not say where it stopped. Within one
        feed the line is found again from what llhttp read of it (it takes several spaces for
        one); across feeds, ``_feed_to_first_lf`` tells."""
        if self.events:
            return None
        partial = self._partial
        if partial is not None and partial[0] is self._head:  # the line began in an earlier feed
            if self._after_lf is not None:
                return self._after_lf
            return data if partial[1] == b"\n" else None  # llhttp refuses that LF only now
        parser = self._parser
        line = b"%s %s HTTP/%s" % (parser.get_method(), self._url, parser.get_http_version().encode())
        start = len(data) - len(data.lstrip(b"\r\n"))
        end = data.find(b"\n", start)
        return data[end + 1:] if end >= 0 and _SPACES.sub(b" ", data[start:end]) == line else None

    def _reparse(self, rest):
        """Parse the current request again from its request line, ended by a CRLF this time."""
        parser = self._parser
        line = b"%s %s HTTP/%s\r\n" % (parser.get_method(), self._url, parser.get_http_version().encode())
        self._parser = _request_parser(self)
        self._head = None
        self.mid_message = False
        self._section = IDLE
        self._unparsed = 0
        return self.feed(line + rest)

    # httptools callbacks

    def on_message_begin(self):
        self._head = RequestHead()
        self.mid_message = True
        self._url = b""
        self._section = HEAD
        # All of this feed: not what is left of it, which is none for a head that follows a
        # message (a pipelined request, a response after an interim one) in the same feed.
        self._fed = self._feed_size
        self._unparsed = 0

    def on_url(self, url):
        self._url += url

    def on_header(self, name, value):
        if self._section is not HEAD:
            return self._trailer(name, value)
        name = name.lower()
        value = value.rstrip()  # llhttp keeps trailing whitespace; Envoy trims it (see decoding.py)
        head = self._head
        head.headers.append((name, value))
        if name in REQUEST_HEADER_EFFECTS:  # cheaper than .get for the many headers without one
            REQUEST_HEADER_EFFECTS[name](head, value)

    def on_headers_complete(self):
        head = self._head
        parser = self._parser
        head.method = parser.get_method()
        # llhttp keeps a connection alive by default for a version with major and minor above 0
        # (strictly parsed: only 1.1), else only as a Connection or Proxy-Connection header asks.
        # Without either header, keep-alive says 1.1: get_http_version (a str.format) is skipped.
        keep_alive = parser.should_keep_alive()
        if keep_alive and head.connection is None and head.proxy_connection is None:
            head.version = "1.1"
        else:
            head.version = parser.get_http_version()
        # Envoy's limit is on the raw head: "METHOD url HTTP/1.1\r\n", the header lines, CRLF
        if ((self._fed > self._max_bytes or len(head.headers) > self._max_count)
                and self._head_too_large(head, len(head.method) + len(self._url) + 12)):
            raise ProtocolError(431, "http1.headers_too_large")
        self._section = BODY
        self._unparsed = 0
        # llhttp forgets keep-alive once the message is done: read it here.
        head.keep_alive = keep_alive and not head.proxy_connection
        if head.chunked is None:
            raise ProtocolError(501, "http1.invalid_transfer_encoding")
        if head.method == b"CONNECT" and head.has_body:
            # A CONNECT has no content (RFC 9110 §9.3.6), and llhttp would hand it to the tunnel.
            if head.chunked:
                raise ProtocolError(501, "http1.invalid_transfer_encoding")
            raise ProtocolError(400, "http1.body_disallowed")
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
        self.mid_message = False
        self._section = IDLE
        self._unparsed = 0
        self.events.append(END)


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
    if "transfer-encoding" in lowered and section is not TRAILERS:
        return 501, "http1.invalid_transfer_encoding"
    return 400, "http1.codec_error"
