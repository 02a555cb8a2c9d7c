"""The smuggling corpus: requests and responses built to make a proxy and its peer disagree on
where a message ends, each through a real proxy with a raw upstream that records every request.

Request vectors: an attacker sends bytes that hide a second request (``/smuggled``), then a
victim sends its own on another connection (both go over the proxy's one pooled upstream
connection). Whatever the proxy makes of the attacker's bytes, the upstream must receive exactly
one well-formed request per request the proxy parsed (its ``downstream_rq_total``), or none: a
request beyond those is one the proxy did not know it sent (a desync). The victim's request must arrive exactly as the
victim sent it, answered to the victim.

Response vectors, their twins: the upstream answers the attacker with an ambiguously framed
response that carries a second one. Every client must receive exactly one response per request,
the injected one never, and the victim its own.

Each vector runs against hotproxy and, where installed, Envoy 1.40.
"""
from __future__ import annotations

import re
import time

import pytest

from conftest import PEER_KINDS, start_peer
from harness import RawClient, http_listener, simple_routes, static_cluster, to_yaml
from http1_raw import exchange_until_quiet
from raw_upstream import RecordingUpstream, ok_for

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
INJECTED = b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected"


def post(headers, body):
    return b"POST /attack HTTP/1.1\r\nHost: a\r\n" + headers + b"\r\n" + body


def cl_te(te_value):
    """Content-Length covering a chunked terminator plus the smuggled request, beside an
    obfuscated Transfer-Encoding: a CL reader and a TE reader see different message ends."""
    body = b"0\r\n\r\n" + SMUGGLED
    return post(b"Content-Length: %d\r\nTransfer-Encoding: %s\r\n" % (len(body), te_value), body)


def te_cl(te_value):
    """A chunked body whose first chunk holds the smuggled request, beside a Content-Length
    that ends the message after the chunk-size line."""
    chunk = SMUGGLED
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
    return post(b"Transfer-Encoding: %s\r\nContent-Length: 4\r\n" % te_value, body)


def content_length(spelling):
    """A body that holds the smuggled request, its length declared as ``spelling(length)``: a
    strict parser refuses the value or reads one request; a lax one may end the body early."""
    body = b"hello" + SMUGGLED
    return post(b"Content-Length: " + spelling(len(body)) + b"\r\n", body)


def chunked(framing):
    return post(b"Transfer-Encoding: chunked\r\n", framing + SMUGGLED)


TE_OBFUSCATIONS = [b"chunked", b"xchunked", b" chunked", b"chunked ", b"\tchunked", b"Chunked", b"CHUNKED",
                   b"chunked, identity", b"identity, chunked", b"chunked,chunked", b"chunked\x0b", b'"chunked"',
                   b"chunk", b"gzip, chunked", b"chunked;q=1", b"identity"]

REQUEST_VECTORS = {
    **{f"cl-te[{v!r}]": cl_te(v) for v in TE_OBFUSCATIONS},
    **{f"te-cl[{v!r}]": te_cl(v) for v in TE_OBFUSCATIONS[:8]},
    "te-two-headers": post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 40\r\n",
                           b"0\r\n\r\n" + SMUGGLED),
    "te-space-before-colon": post(b"Transfer-Encoding : chunked\r\nContent-Length: 40\r\n", b"0\r\n\r\n" + SMUGGLED),
    "te-underscore": post(b"Transfer_Encoding: chunked\r\nContent-Length: %d\r\n" % (5 + len(SMUGGLED)),
                          b"0\r\n\r\n" + SMUGGLED),
    "te-obs-fold": post(b"Transfer-Encoding:\r\n chunked\r\nContent-Length: 40\r\n", b"0\r\n\r\n" + SMUGGLED),
    "te-bare-lf-before": post(b"X: y\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n", b"0\r\n\r\n" + SMUGGLED),
    "te-bare-cr": post(b"X: y\rTransfer-Encoding: chunked\r\nContent-Length: 40\r\n", b"0\r\n\r\n" + SMUGGLED),
    "cl-duplicate-same": post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello" + SMUGGLED),
    "cl-duplicate-different": post(b"Content-Length: 5\r\nContent-Length: 40\r\n", b"hello" + SMUGGLED),
    "cl-list": content_length(lambda n: b"%d, %d" % (n, n)),
    "cl-list-different": content_length(lambda n: b"5, %d" % n),
    "cl-plus": content_length(lambda n: b"+%d" % n),
    "cl-minus": content_length(lambda n: b"-%d" % n),
    "cl-hex": content_length(lambda n: b"0x%x" % n),
    "cl-leading-space-value": content_length(lambda n: b" %d" % n),
    "cl-trailing-garbage": content_length(lambda n: b"%dx" % n),
    "cl-overflow-32": content_length(lambda n: b"%d" % (2 ** 32 + 5)),
    "cl-overflow-64": content_length(lambda n: b"%d" % (2 ** 64 + 5)),
    "cl-huge": content_length(lambda n: b"9" * 30),
    "cl-space-before-colon": post(b"Content-Length : 5\r\n", b"hello" + SMUGGLED),
    "cl-underscore": post(b"Content_Length: 5\r\n", b"hello" + SMUGGLED),
    "cl-obs-fold": post(b"Content-Length:\r\n %d\r\n" % (5 + len(SMUGGLED)), b"hello" + SMUGGLED),
    "cl-nul": content_length(lambda n: b"%d\x00" % n),
    "chunk-size-overflow-64": chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-overflow-f": chunked(b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-plus": chunked(b"+5\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-0x": chunked(b"0x5\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-space": chunked(b"5 \r\nhello\r\n0\r\n\r\n"),
    "chunk-lf-only": chunked(b"5\nhello\n0\n\n"),
    "chunk-data-without-crlf": chunked(b"5\r\nhelloX0\r\n\r\n"),
    "chunk-data-too-long": chunked(b"3\r\nhello\r\n0\r\n\r\n"),
    "chunk-extension-crlf": chunked(b'5;a="\r\n"\r\nhello\r\n0\r\n\r\n'),
    "chunk-last-without-terminator": chunked(b"0\r\n"),
    "trailer-with-framing": chunked(b"0\r\nContent-Length: 40\r\n\r\n"),
    "connection-nominates-content-length": post(b"Connection: content-length\r\nContent-Length: %d\r\n" % len(SMUGGLED),
                                                SMUGGLED),
    "connection-nominates-cl-glued": post(b"Connection: content-length\r\nContent-Length: 34\r\n",
                                          b"GET /captured HTTP/1.1\r\nX-Prefix: "),
    "connection-nominates-cl-keep-alive": post(b"Connection: keep-alive, Content-Length\r\nContent-Length: %d\r\n"
                                               % len(SMUGGLED), SMUGGLED),
    "connection-nominates-transfer-encoding": post(b"Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n",
                                                   b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)),
    "request-after-connection-close": b"GET /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + SMUGGLED,
    "request-after-proxy-connection-close": b"GET /first HTTP/1.1\r\nHost: a\r\nProxy-Connection: close\r\n\r\n" + SMUGGLED,
    "get-with-body": b"GET /attack HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED),
    "expect-continue-body": post(b"Expect: 100-continue\r\nContent-Length: %d\r\n" % len(SMUGGLED), SMUGGLED),
    "h2c-upgrade-body": post(b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
                             b"Content-Length: %d\r\n" % len(SMUGGLED), SMUGGLED),
    "websocket-upgrade-then-request": b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                                      + SMUGGLED,
    "http10-keep-alive-body": b"POST /attack HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\n"
                              b"hello" + SMUGGLED,
    "nul-in-header-value": post(b"X-Foo: a\x00b\r\nContent-Length: 5\r\n", b"hello" + SMUGGLED),
    "header-without-colon": post(b"Content-Length 5\r\n", b"hello" + SMUGGLED),
    "request-line-lf-only": b"GET /attack HTTP/1.1\nHost: a\nContent-Length: %d\n\n%s" % (len(SMUGGLED), SMUGGLED),
    "absolute-uri-with-body": b"POST http://a/attack HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n%s"
                              % (len(SMUGGLED), SMUGGLED),
}


def respond(body):
    return lambda request: body if request.target == b"/respond" else ok_for(request)


RESPONSE_VECTORS = {
    "excess-after-content-length": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" + INJECTED,
    "content-length-and-chunked": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n"
                                  b"2\r\nok\r\n0\r\n\r\n" + INJECTED,
    "content-length-duplicate": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok" + INJECTED,
    "content-length-duplicate-different": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 10\r\n\r\nok" + INJECTED,
    "content-length-list": b"HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\nok" + INJECTED,
    "content-length-plus": b"HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nok" + INJECTED,
    "content-length-negative": b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\nok" + INJECTED,
    "content-length-overflow": b"HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551618\r\n\r\nok" + INJECTED,
    "te-obfuscated-with-cl": b"HTTP/1.1 200 OK\r\ntransfer-encoding: xchunked\r\ncontent-length: 2\r\n\r\nok" + INJECTED,
    "te-chunked-identity": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, identity\r\ncontent-length: 2\r\n\r\nok" + INJECTED,
    "chunk-size-garbage": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n" + INJECTED,
    "chunk-size-overflow": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10000000000000002\r\nok\r\n0\r\n\r\n" + INJECTED,
    "chunk-lf-only": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\nok\n0\n\n" + INJECTED,
    "trailer-with-content-length": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
                                   b"content-length: 40\r\n\r\n" + INJECTED,
    "204-with-body": b"HTTP/1.1 204 No Content\r\n\r\n" + INJECTED,
    "304-with-body": b"HTTP/1.1 304 Not Modified\r\ncontent-length: 8\r\n\r\n" + INJECTED,
    "100-continue-then-excess": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" + INJECTED,
    "connection-nominates-content-length": b"HTTP/1.1 200 OK\r\nconnection: content-length\r\ncontent-length: 2\r\n\r\n"
                                           b"ok" + INJECTED,
    "content-length-obs-fold": b"HTTP/1.1 200 OK\r\ncontent-length:\r\n 2\r\n\r\nok" + INJECTED,
    "status-line-lf-only": b"HTTP/1.1 200 OK\ncontent-length: 2\n\nok" + INJECTED,
    "second-status-line-in-head": b"HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" + INJECTED,
}


def config(upstream_port):
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [http_listener("http", "listen", routes)],
                             "clusters": [static_cluster("backend", upstream_port)]}})


_REQUEST_LINE = re.compile(rb"[A-Z]+ /[^ \x00-\x20]* HTTP/1\.1")


def well_formed(request):
    """The request as the next hop must see it: a clean request line, CRLF-only lines, at most
    one of Content-Length / Transfer-Encoding: chunked, each once and plain."""
    lines = request.head.split(b"\r\n")
    if not _REQUEST_LINE.fullmatch(lines[0]) or any(b"\n" in line or b"\r" in line for line in lines):
        return False
    names = [line.partition(b":")[0].strip().lower() for line in lines[1:]]
    lengths, encodings = names.count(b"content-length"), names.count(b"transfer-encoding")
    if lengths + encodings > 1:
        return False
    if lengths:
        return re.fullmatch(rb"\d+", request.header(b"content-length")) is not None
    return not encodings or request.header(b"transfer-encoding") == b"chunked"


def send_victim(peer):
    victim = RawClient(peer.port("listen"))
    return victim.request("GET", "/victim", [("Host", "a"), ("Cookie", "victim=1")])


@pytest.fixture(scope="module")
def upstream():
    server = RecordingUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module", params=PEER_KINDS)
def module_peer(request, upstream, tmp_path_factory):
    """One proxy of each kind for the whole corpus: starting one per vector would cost a second
    each; the upstream closes every connection between vectors instead."""
    peer = start_peer(request.param, config(upstream.port), tmp_path_factory.mktemp(request.param))
    yield peer
    peer.stop()


@pytest.fixture
def peer(module_peer, upstream):
    upstream.reset()
    time.sleep(0.05)  # let the proxy see its pooled connections close
    module_peer.parsed_before = module_peer.counter("http.ingress_http.downstream_rq_total")
    return module_peer


@pytest.mark.parametrize("vector", list(REQUEST_VECTORS), ids=list(REQUEST_VECTORS))
def test_request_vector(peer, upstream, vector):
    exchange_until_quiet(peer.port("listen"), REQUEST_VECTORS[vector], wait=0.5)
    victim = send_victim(peer)

    assert victim.body == b"for /victim", f"the victim got {victim.status} {victim.body[:60]!r}"
    targets = [request.target for request in upstream.requests]
    assert targets.count(b"/victim") == 1, targets
    parsed = peer.counter("http.ingress_http.downstream_rq_total") - peer.parsed_before - 1  # less the victim
    forwarded = len(targets) - 1
    assert forwarded <= parsed, f"{forwarded} requests upstream for {parsed} parsed: {targets}"
    assert all(well_formed(request) for request in upstream.requests), [r.head for r in upstream.requests]
    victims = [request for request in upstream.requests if request.target == b"/victim"][0]
    assert victims.request_line == b"GET /victim HTTP/1.1" and victims.header(b"cookie") == b"victim=1"
    assert victims.body == b""


@pytest.mark.parametrize("vector", list(RESPONSE_VECTORS), ids=list(RESPONSE_VECTORS))
def test_response_vector(peer, upstream, vector):
    upstream.respond = respond(RESPONSE_VECTORS[vector])
    out = exchange_until_quiet(peer.port("listen"), b"GET /respond HTTP/1.1\r\nHost: a\r\n\r\n", wait=0.5)
    victim = send_victim(peer)
    assert len(re.findall(rb"HTTP/1\.1 \d{3} ", out)) == 1, f"one request, other responses: {out[:300]!r}"
    assert b"injected" not in out
    assert victim.body == b"for /victim", f"the victim got {victim.status} {victim.body[:60]!r}"
