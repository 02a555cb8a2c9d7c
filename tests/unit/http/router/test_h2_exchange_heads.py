"""The shapes the HTTP/2 exchange (http/router/h2_exchange.py) gives heads: the request's
HEADERS (pseudo-headers, nothing connection-specific, ``te: trailers`` kept) and the response
head ``downstream_head`` reads as if the HTTP/1.1 decoder had made it."""
from types import SimpleNamespace

from hotproxy.http.http2 import events as ev
from hotproxy.http.router.h2_exchange import _request_headers
from hotproxy.http.router.h2_response import _Head

PLAIN = SimpleNamespace(transports=SimpleNamespace(uses_tls=False))
TLS = SimpleNamespace(transports=SimpleNamespace(uses_tls=True))


def test_request_headers_start_with_the_pseudo_headers():
    headers = [(b"host", b"example.com"), (b"user-agent", b"t"), (b"x-a", b"1")]
    assert _request_headers(b"GET", b"/p?q=1", headers, PLAIN) == [
        (b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"example.com"),
        (b":path", b"/p?q=1"), (b"user-agent", b"t"), (b"x-a", b"1")]
    assert _request_headers(b"GET", b"/", headers, TLS)[1] == (b":scheme", b"https")


def test_connection_specific_headers_are_not_sent_but_te_trailers_is():
    headers = [(b"host", b"h"), (b"connection", b"close"), (b"keep-alive", b"5"),
               (b"transfer-encoding", b"chunked"), (b"upgrade", b"x"),
               (b"proxy-connection", b"x"), (b"te", b"trailers"), (b"content-type", b"a/b")]
    sent = _request_headers(b"POST", b"/", headers, PLAIN)
    assert sent[4:] == [(b"te", b"trailers"), (b"content-type", b"a/b")]
    assert _request_headers(b"POST", b"/", [(b"te", b"gzip")], PLAIN)[4:] == []


def test_a_response_head_as_the_http1_decoder_makes_it():
    head = _Head(ev.ResponseHeaders(1, 200, [(b"content-length", b"5"), (b"server", b"up"),
                                             (b"connection", b"x")], False))
    assert (head.status, head.content_length, head.keep_alive, head.connection) == (200, b"5", True, None)
    assert head.headers == [(b"content-length", b"5"), (b"server", b"up")]
    assert head.server_at == -2     # downstream_head looks for Server and Date itself


def test_a_head_without_a_body_says_so_and_a_streamed_one_is_unsized():
    ended = _Head(ev.ResponseHeaders(1, 200, [(b"grpc-status", b"14")], True))
    assert ended.content_length == b"0" and (b"content-length", b"0") in ended.headers
    streamed = _Head(ev.ResponseHeaders(1, 200, [(b"content-type", b"application/grpc")], False))
    assert streamed.content_length is None      # chunked for an HTTP/1.1 client
    no_content = _Head(ev.ResponseHeaders(1, 204, [], True))
    assert no_content.headers == []
