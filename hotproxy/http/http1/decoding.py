"""What the HTTP/1.1 decoders of both directions share: the ``END`` event, where a decoder is
within a message, and the bounds on what a peer can make llhttp hold.

A head (and trailers, kept on the message's head for whoever forwards them: Envoy drops them
without ``enable_trailers``) may have at most ``max_headers_count`` headers and
``max_headers_bytes`` bytes, checked as each header arrives and, for a header still arriving, after every feed. So an endless head costs at
most the limit plus one read.

Header and trailer values lose their trailing spaces and tabs (llhttp keeps them; Envoy trims
them) through ``bytes.rstrip()``: without an argument it strips all ASCII whitespace, but llhttp
refuses a value with any other control byte and a CR or LF ends one, so only spaces and tabs
are ever there to strip, and the call acquires no buffer for an argument.
"""
from __future__ import annotations

from ...errors import ProtocolError

END = object()  #: event: the current message is complete


# Where a decoder is within a message: the header bounds apply to HEAD and TRAILERS.
class Section:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


IDLE, HEAD, BODY, TRAILERS = (Section(name) for name in ("idle", "head", "body", "trailers"))


class Decoder:
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
        self._section = IDLE
        self._fed = 0        # HEAD: bytes fed since the start of the feed the head began in
        self._feed_size = 0  # the size of the feed in progress
        self._size = 0       # TRAILERS: their bytes so far
        self._count = 0      # TRAILERS: their number so far
        self._unparsed = 0   # bytes fed since llhttp last delivered some (or a head began)
        self.events = []

    def _check_after_feed(self):
        """Bounds on what is still inside llhttp once a feed is parsed."""
        section = self._section
        if section is HEAD:
            head = self._head
            if self._unparsed > self._max_bytes or len(head.headers) + head.dropped > self._max_count:
                raise ProtocolError(*self._too_large)
        elif section is TRAILERS:
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
        """A trailer: counted against the same bounds as a head (on their own, as Envoy counts
        a trailer map), and kept on the head (heads.trailers_of)."""
        self._unparsed = 0
        self._size += len(name) + len(value) + 4
        self._count += 1
        if self._count > self._max_count or self._size > self._max_bytes:
            raise ProtocolError(*self._too_large)
        trailer = (name.lower(), value.rstrip())
        if self._count == 1:    # the count starts again after each chunk-size line
            self._head.trailers = [trailer]
        else:
            self._head.trailers.append(trailer)

    def on_chunk_header(self):
        # After a chunk-size line, bytes that are not chunk data belong to the trailer section
        # of the last chunk: bound them as a header section (on_body ends this at once).
        self._section = TRAILERS
        self._size = self._count = self._unparsed = 0

    def on_body(self, body):
        self._unparsed = 0
        if self._section is TRAILERS:
            self._section = BODY
        self.events.append(body)
