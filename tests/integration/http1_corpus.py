"""A differential corpus of malformed and unusual HTTP/1.1: the case type, its notation and the
builders the data modules (``http1_corpus_*.py``) write their cases with.

A **request case** is the bytes a client sends on a fresh connection (``send``). A **response
case** is the bytes the upstream answers (``answer``) to ``GET {T}`` (``HEAD {T}`` with
``method="HEAD"``). ``{T}`` stands for the case's own target, ``/c/<id>``: the upstream tells
the cases apart by it, so they can run side by side.

What a peer did is written in one line, ``RESPONSES CONNECTION [| UPSTREAM]``:

* RESPONSES: ``-`` (no answer) or each response the client received, comma-separated, as
  ``STATUS:LENGTH`` (a body of LENGTH bytes framed by Content-Length), ``STATUS:LENGTH:chunked``,
  ``STATUS:LENGTH:eof`` (delimited by the close), ``STATUS:none`` (no body: HEAD, 1xx, 204,
  304), ``STATUS:cut`` (the connection ended inside it) or ``junk`` (bytes that are no response).
* CONNECTION: ``close`` (the peer closed it: FIN or reset), ``open`` (it stayed open and the
  first answer to a request sent on it afterwards, ``GET {T}/after``, was the upstream's),
  ``stuck`` (it stayed open but that request got no such answer).
* UPSTREAM: each request the upstream received complete for the case, `` ; ``-separated, as its
  request line followed by `` +N`` for an N-byte body. A request the proxy abandoned part way is
  not listed: whether Envoy had begun to forward it when the error arrived is a race. The
  upstream answers ``200`` with the 5-byte body ``hello`` unless the case says.

``envoy`` is what Envoy 1.40 was observed to do, ``hotproxy`` what hotproxy does instead where
that is a deliberate difference (``why`` says why); `` || `` separates outcomes that are all
right, where which one happens depends on timing. ``needs`` marks a difference hotproxy has to
fix outside the codec: the case is an expected failure until then.
"""
from __future__ import annotations

from dataclasses import dataclass

TAG = b"{T}"
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    send: bytes = b""          # a request case: what the client sends
    answer: bytes | None = None  # a response case: what the upstream answers
    envoy: str = ""
    hotproxy: str | None = None
    why: str | None = None
    needs: str | None = None
    method: str = "GET"        # a response case: the method of the client's request
    close_upstream: bool = False  # a response case: the upstream closes after its answer
    head_responses: int = 0    # how many leading responses answer HEAD requests (no body)

    @property
    def is_response_case(self):
        return self.answer is not None

    @property
    def tag(self):
        return b"/c/" + self.id.encode()

    def request(self):
        """The bytes the client sends."""
        if self.is_response_case:
            return b"%s {T} HTTP/1.1\r\nHost: a\r\n\r\n" % self.method.encode()
        return self.send

    @property
    def expected_from_hotproxy(self):
        return self.hotproxy if self.hotproxy is not None else self.envoy

    def allows(self, observed, peer):
        expected = self.envoy if peer == "envoy" else self.expected_from_hotproxy
        return observed in expected.split(" || ")


class Family:
    """Collects the cases of one family: ``family.request(id, send, envoy)`` and so on."""

    def __init__(self, name):
        self.name = name
        self.cases = []

    def request(self, id, send, envoy="", **extra):
        if b"HEAD " == send[:5]:
            extra.setdefault("head_responses", 1)
        self.cases.append(Case(id, self.name, send=send, envoy=envoy, **extra))

    def response(self, id, answer, envoy="", **extra):
        if extra.get("method") == "HEAD":
            extra.setdefault("head_responses", 1)
        self.cases.append(Case(id, self.name, answer=answer, envoy=envoy, **extra))


def get(headers=b"", target=TAG, version=b"HTTP/1.1", method=b"GET"):
    """A request head with ``Host: a`` first, then ``headers`` (CRLF-terminated lines)."""
    return method + b" " + target + b" " + version + b"\r\nHost: a\r\n" + headers + b"\r\n"


def post(headers, body=b""):
    return get(headers, method=b"POST") + body


def chunked(framing, headers=b""):
    """A POST whose chunked body is ``framing``, exactly as given."""
    return post(b"Transfer-Encoding: chunked\r\n" + headers, framing)


def with_length(value, body=b"hello"):
    return post(b"Content-Length: " + value + b"\r\n", body)


def with_encoding(value, body=b"5\r\nhello\r\n0\r\n\r\n"):
    return post(b"Transfer-Encoding: " + value + b"\r\n", body)


def status(line, headers=b"content-length: 5\r\n", body=b"hello"):
    """An upstream answer: ``line`` (without its CRLF), ``headers``, the blank line, ``body``."""
    return line + b"\r\n" + headers + b"\r\n" + body


def request_head_of(size, case_id, name=b"X-Big"):
    """``GET {T}`` with one padding header so that the head is exactly ``size`` bytes once
    ``{T}`` is replaced by the tag of ``case_id``."""
    base = get(name + b": \r\n")
    padding = size - (len(base) - len(TAG) + len(b"/c/" + case_id.encode()))
    return get(name + b": " + b"a" * padding + b"\r\n")


def response_head_of(size, first=b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n"):
    """A response head of exactly ``size`` bytes (status line and blank line included), then
    the 5-byte body."""
    padding = size - len(first + b"x-big: \r\n\r\n")
    return first + b"x-big: " + b"a" * padding + b"\r\n\r\nhello"


def headers_lines(count, prefix=b"X-H"):
    return b"".join(b"%s%d: v\r\n" % (prefix, i) for i in range(count))
