"""Driving a ``ResponseDecoder`` the way the router does (memoryview reads, ``expect_no_body``
for a HEAD request, ``feed_eof`` when the upstream closes), and the properties every input must
keep: only ``ProtocolError`` escapes, one well-formed response per exchange, a Content-Length
body delivered whole, heads within the bounds, the cuts into reads change nothing, and
``excess`` is set exactly when bytes follow the response."""
from __future__ import annotations

from dataclasses import dataclass, field

from hotproxy.errors import ProtocolError
from hotproxy.http.headers import HOP_BY_HOP
from hotproxy.http.http1.codec import END, ResponseDecoder, ResponseHead
from hotproxy.http.http1.serialize import reason_phrase

from .chunking import chunkings, seed_of
from .http1_events import (check_forwardable_headers, check_sequence, head_model_size,
                           head_size_bound, is_bound_error, messages, normalized)
from .invariants import expect

LIMITS = ((80 * 1024, 100), (512, 8), (2048, 32))
_NO_BODY_STATUSES = (204, 304)


@dataclass
class Exchange:
    """How the router reads one response: for a HEAD request or not, and whether the upstream
    closes the connection after the bytes."""
    head_request: bool
    eof: bool
    limits: tuple

    @classmethod
    def for_input(cls, data: bytes) -> "Exchange":
        seed = seed_of(data)
        return cls(head_request=seed % 4 == 0, eof=seed & 4 == 0,
                   limits=LIMITS[(seed >> 3) % len(LIMITS)])


@dataclass
class Decoded:
    events: list = field(default_factory=list)
    error: ProtocolError | None = None
    excess: bool = False
    end_read: int = -1      # the read in which END came
    end_offset: int = -1    # bytes fed up to the end of that read


def decode(reads, exchange: Exchange) -> Decoded:
    decoder = ResponseDecoder(*exchange.limits)
    if exchange.head_request:
        decoder.expect_no_body()
    result = Decoded()
    fed = 0
    for index, data in enumerate(reads):
        fed += len(data)
        try:
            decoder.feed(memoryview(bytearray(data)))
        except ProtocolError as error:
            result.error = error
        result.events.extend(decoder.events)
        decoder.events.clear()
        if result.error is not None:
            break
        if END in result.events:  # the router feeds nothing after the response's END
            result.end_read, result.end_offset = index, fed
            break
    else:
        if exchange.eof:
            try:
                result.events.extend(decoder.feed_eof())
            except ProtocolError as error:
                result.error = error
            decoder.events.clear()
    result.excess = decoder.excess
    return result


def check(data: bytes, exchange: Exchange | None = None) -> None:
    exchange = exchange or Exchange.for_input(data)
    whole = decode([data], exchange)
    check_decoded(whole, exchange)
    byte_by_byte = None
    for name, reads in chunkings(data).items():
        cut = decode(reads, exchange)
        check_decoded(cut, exchange)
        check_same(whole, cut, name)
        if name == "bytewise":
            byte_by_byte = cut
    if byte_by_byte is not None and byte_by_byte.error is None and byte_by_byte.end_read >= 0:
        # Fed a byte at a time, END comes at the response's last byte: the oracle for excess.
        end = byte_by_byte.end_read + 1
        check_excess(whole, data, [data], end)
        for name, reads in chunkings(data).items():
            check_excess(decode(reads, exchange), data, reads, end)


def check_decoded(result: Decoded, exchange: Exchange) -> None:
    check_sequence(result.events, ResponseHead, one_message=True)
    max_bytes, max_count = exchange.limits
    for head, body, complete in messages(result.events):
        expect(head.status >= 200 or head.status == 101, "interim response delivered",
               lambda: str(head.status))
        check_forwardable_headers(head.headers)
        expect(not any(name in HOP_BY_HOP for name, _ in head.headers), "hop-by-hop header kept",
               lambda: repr(head.headers))
        # The model takes the reason phrase to be the standard one, whatever the upstream sent.
        reason = len(reason_phrase(head.status))
        size = head_model_size(15 + reason, head)
        count = len(head.headers) + head.dropped
        bound = head_size_bound(max_bytes, count + 2) + reason
        expect(size <= bound and count <= max_count, "head over the limit",
               lambda: f"{size} bytes, {count} headers delivered; limits {exchange.limits}")
        length = head.content_length
        if length is not None:
            # the router frames the body with int(content_length)
            expect(length.isdigit(), "content-length", lambda: repr(length))
        if exchange.head_request or head.status in _NO_BODY_STATUSES:
            expect(body == b"", "body of a bodiless response", lambda: f"{len(body)} bytes")
        elif complete and not head.chunked and length is not None:
            expect(len(body) == int(length), "content-length body",
                   lambda: f"declared {int(length)}, delivered {len(body)} bytes")


def check_same(whole: Decoded, cut: Decoded, how: str) -> None:
    errors = [result.error for result in (whole, cut) if result.error is not None]
    if any(is_bound_error(error) for error in errors):
        return
    expect(len(errors) != 1, f"{how} cuts change the outcome",
           lambda: f"whole: {whole.error!r}, cut: {cut.error!r}")
    if not errors:
        expect(normalized(whole.events) == normalized(cut.events), f"{how} cuts change the events",
               lambda: f"whole {normalized(whole.events)}\ncut {normalized(cut.events)}")


def check_excess(result: Decoded, data: bytes, reads, end: int) -> None:
    """``excess`` is set iff the read that completed the response had bytes behind it (blank
    lines aside, which llhttp skips between messages). Later reads are the pool's to find."""
    if result.error is not None or result.end_read < 0:
        return
    behind = data[end:result.end_offset]
    expected = behind.strip(b"\r\n") != b""
    if behind and not expected:
        return  # only CR/LF behind: either answer is harmless
    expect(result.excess == expected, "excess",
           lambda: f"excess={result.excess} with {behind[:40]!r} behind the response "
                   f"(reads {[len(r) for r in reads][:16]})")
