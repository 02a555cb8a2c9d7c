"""Invariants both HTTP/1 decoders share: the shape of the event stream (head, bytes…, END),
headers that are safe to forward, and events compared across different cuts of one input."""
from __future__ import annotations

import re

from hotproxy.http.http1.codec import END

from .invariants import expect

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_UNSAFE_IN_VALUE = re.compile(rb"[\x00\r\n]")


def check_sequence(events, head_type, one_message=False) -> None:
    """head, bytes…, END, head, …: bytes only inside a message, each a non-empty ``bytes`` (the
    router turns each into one chunk; an empty one would be the last-chunk marker)."""
    inside = False
    messages = 0
    for event in events:
        if event is END:
            expect(inside, "sequence", "END outside a message")
            inside = False
        elif event.__class__ is bytes:
            expect(inside, "sequence", "body bytes outside a message")
            expect(len(event) > 0, "sequence", "an empty body event")
        else:
            expect(isinstance(event, head_type), "sequence", lambda: f"unexpected event {event!r}")
            expect(not inside, "sequence", "a head inside a message")
            expect(not (one_message and messages), "sequence", "a second message in one exchange")
            inside = True
            messages += 1


def check_forwardable_headers(headers) -> None:
    """Header names are lower-case tokens and values hold no CR, LF or NUL: they are forwarded
    as they are, so anything else would be header injection. Values come without the optional
    whitespace around them (RFC 9112 §5.1), as Envoy forwards them."""
    for name, value in headers:
        expect(name.__class__ is bytes and _TOKEN.fullmatch(name) is not None,
               "header name", lambda: repr(name))
        expect(value.__class__ is bytes and _UNSAFE_IN_VALUE.search(value) is None,
               "header value", lambda: f"{name!r}: {value!r}")
        expect(value == value.strip(b" \t"), "header value whitespace",
               lambda: f"{name!r}: {value!r}")


def messages(events):
    """(head, body, complete) for each message in the events."""
    found = []
    for event in events:
        if event is END:
            head, body, _ = found[-1]
            found[-1] = (head, body, True)
        elif event.__class__ is bytes:
            head, body, _ = found[-1]
            found[-1] = (head, body + event, False)
        else:
            found.append((event, b"", False))
    return found


def snapshot(head) -> tuple:
    """A head's every field, comparable across decoders."""
    values = []
    for name in type(head).__slots__:
        value = getattr(head, name, None)
        if isinstance(value, (set, frozenset)):
            value = tuple(sorted(value))
        elif isinstance(value, list):
            value = tuple(value)
        values.append((name, value))
    return tuple(values)


def normalized(events) -> list:
    """The events with body bytes joined per message: what must not depend on the cuts."""
    return [(snapshot(head), body, complete) for head, body, complete in messages(events)]


def head_model_size(first_line_size, head) -> int:
    """A head's size as the decoders measure it for ``max_headers_bytes`` when it may be over
    the limit: every line rewritten as ``name: value CRLF``."""
    return (first_line_size + 2 + head.dropped_bytes
            + sum(len(name) + len(value) + 4 for name, value in head.headers))


def head_size_bound(max_bytes, lines) -> int:
    """What a delivered head's modelled size may reach. A head whose raw bytes are within the
    limit is not measured again, and raw bytes can be two a line fewer than modelled: a bare
    LF ending the line, no space after the colon."""
    return max_bytes + 2 * lines


def is_bound_error(error) -> bool:
    """A refusal for size, not syntax: these may come a read earlier or later depending on the
    cuts ("the limit plus one read"), so a cut that is refused this way where another is not
    is no bug. They are the "too large" details and whatever the after-read check raises."""
    if error.details.endswith("headers_too_large"):
        return True
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "_check_after_feed":
            return True
        frame = frame.tb_next
    return False
