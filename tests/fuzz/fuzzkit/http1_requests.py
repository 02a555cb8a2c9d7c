"""Driving a ``RequestDecoder`` the way the connection manager does, and the properties every
input must keep: only ``ProtocolError`` escapes, events are well formed, a Content-Length body is
delivered whole, heads stay within the configured bounds, the cuts of the input into reads do
not change what is decoded, and a decoder at a message boundary parses the next request."""
from __future__ import annotations

from dataclasses import dataclass, field

from hotproxy.errors import ProtocolError
from hotproxy.http.http1.codec import END, RequestDecoder, RequestHead

from .chunking import chunkings
from .http1_events import (check_forwardable_headers, check_sequence, head_model_size,
                           head_size_bound, is_bound_error, messages, normalized)
from .invariants import InvariantBroken, expect

#: (max_headers_bytes, max_headers_count): the defaults, and small ones that inputs of a few
#: hundred bytes can reach.
LIMITS = ((60 * 1024, 100), (512, 8), (2048, 32))
#: A head's size is modelled from its target, which an absolute-form URL shortens: the URL's
#: "http://" becomes the Host header's "host: " (one byte more) and a Host header may be added.
_ABSOLUTE_FORM_SLACK = 16
PROBE = b"GET /fuzz-probe HTTP/1.1\r\nHost: probe\r\n\r\n"


@dataclass
class Decoded:
    events: list = field(default_factory=list)
    error: ProtocolError | None = None
    decoder: RequestDecoder | None = None
    unfed: int = 0      # reads left unfed once the connection was done with HTTP
    events_in_refused_read: int = 0


def ends_connection(head) -> bool:
    """After this request the connection carries no more requests: it closes, or it became a
    tunnel (an upgrade, CONNECT)."""
    return not head.keep_alive or head.upgrade is not None or head.method == b"CONNECT"


def decode(reads, limits) -> Decoded:
    """Feed ``reads`` one by one as the connection manager does, stopping at an error or after a
    request that ends the connection (its later bytes are never parsed as HTTP)."""
    decoder = RequestDecoder(*limits)
    result = Decoded(decoder=decoder)
    for index, data in enumerate(reads):
        try:
            decoder.feed(data)
        except ProtocolError as error:
            result.error = error
            result.events_in_refused_read = len(decoder.events)
        result.events.extend(decoder.events)
        decoder.events.clear()
        if _cut_at_connection_end(result) or result.error is not None:
            result.unfed = len(reads) - index - 1
            break
    return result


def _cut_at_connection_end(result: Decoded) -> bool:
    """Drop what follows the END of a request that ends the connection; True if there is one."""
    head = None
    for at, event in enumerate(result.events):
        if event is END and ends_connection(head):
            del result.events[at + 1:]
            result.error = None  # bytes behind such a request are never answered as an error
            return True
        if event.__class__ is RequestHead:
            head = event
    return False


def check(data: bytes, limits=None) -> None:
    """Every property, for ``data`` whole and cut into reads."""
    limits = limits or LIMITS[len(data) % len(LIMITS)]
    whole = decode([data], limits)
    check_decoded(whole, limits)
    for name, reads in chunkings(data).items():
        cut = decode(reads, limits)
        check_decoded(cut, limits)
        check_same(whole, cut, name)
    if whole.error is None:
        check_next_request_parses(whole)


def check_decoded(result: Decoded, limits) -> None:
    check_sequence(result.events, RequestHead)
    for head, body, complete in messages(result.events):
        check_head(head, limits)
        if complete and not head.chunked and head.upgrade is None:  # an upgrade's body is the tunnel's
            expect(len(body) == (head.content_length or 0), "content-length body",
                   lambda: f"declared {head.content_length}, delivered {len(body)} bytes")
    if result.events and result.events[-1] is not END:
        expect(result.decoder.mid_message, "mid_message", "false inside a message")


def check_head(head: RequestHead, limits) -> None:
    max_bytes, max_count = limits
    check_forwardable_headers(head.headers)
    target = head.target
    expect(target[:1] == b"/" or target == b"*" or head.method == b"CONNECT",
           "request target", lambda: f"{head.method!r} {target!r}")
    expect(not any(byte <= 0x20 or byte == 0x7f for byte in target), "request target",
           lambda: f"whitespace or a control byte in {target!r}")
    first_line = len(head.method) + len(target) + 11
    size = head_model_size(first_line, head)
    bound = head_size_bound(max_bytes, len(head.headers) + 2) + _ABSOLUTE_FORM_SLACK
    expect(size <= bound and len(head.headers) <= max_count + 1,
           "head over the limit",
           lambda: f"{size} bytes, {len(head.headers)} headers delivered; limits {limits}")


def check_same(whole: Decoded, cut: Decoded, how: str) -> None:
    """The cuts decode as the whole does, unless one of them was refused for size (which
    depends on where the reads end)."""
    errors = [result.error for result in (whole, cut) if result.error is not None]
    if any(is_bound_error(error) for error in errors) or any(map(_pipelined_bare_lf, (whole, cut))):
        return
    expect(len(errors) != 1, f"{how} cuts change the outcome",
           lambda: f"whole: {whole.error!r}, cut: {cut.error!r}")
    if errors:  # both refused: the requests complete before the error are the same
        _complete = lambda r: [m for m in normalized(r.events) if m[2]]  # noqa: E731
        expect(_complete(whole) == _complete(cut), f"{how} cuts change the requests before an error",
               lambda: f"whole {_complete(whole)}\ncut {_complete(cut)}")
        return
    expect(normalized(whole.events) == normalized(cut.events), f"{how} cuts change the events",
           lambda: f"whole {normalized(whole.events)}\ncut {normalized(cut.events)}")


def _pipelined_bare_lf(result: Decoded) -> bool:
    """Refused for a request line ended by a bare LF behind another request in the same read:
    a documented limit (BARE_LF_PIPELINED in tests/integration/http1_corpus_differences.py),
    so whether it is refused depends on the cuts."""
    return (result.error is not None and result.events_in_refused_read > 0
            and str(result.error.__context__) == "Expected CRLF after version")


def check_next_request_parses(whole: Decoded) -> None:
    """After a complete keep-alive request, the same decoder reads the next one cleanly."""
    events = whole.events
    if not events or events[-1] is not END or whole.decoder.mid_message:
        return
    last_head = [e for e in events if e.__class__ is RequestHead][-1]
    if ends_connection(last_head):
        return
    decoder = whole.decoder
    try:
        probe = list(decoder.feed(PROBE))
    except ProtocolError as error:
        raise InvariantBroken("next request", f"refused after a complete request: {error!r}") from None
    expect(len(probe) == 2 and probe[1] is END and probe[0].target == b"/fuzz-probe"
           and probe[0].host == b"probe", "next request", lambda: f"decoded as {probe!r}")
