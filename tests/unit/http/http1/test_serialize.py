"""HTTP/1.1 heads and last chunks as bytes: header lines in order, and a head without headers."""
from hotproxy.http.http1.serialize import last_chunk, request_head, response_head


def test_response_head():
    assert response_head(200, [(b"server", b"s"), (b"x-empty", b""), (b"server", b"t")]) == (
        b"HTTP/1.1 200 OK\r\nserver: s\r\nx-empty: \r\nserver: t\r\n\r\n")
    assert response_head(599, [(b"a", b"b")]) == b"HTTP/1.1 599 Unknown\r\na: b\r\n\r\n"


def test_response_head_without_headers():
    assert response_head(204, []) == b"HTTP/1.1 204 No Content\r\n\r\n"


def test_request_head():
    assert request_head(b"POST", b"/a?b", [(b"host", b"h"), [b"x-list", b"v"]]) == (
        b"POST /a?b HTTP/1.1\r\nhost: h\r\nx-list: v\r\n\r\n")


def test_request_head_without_headers():
    assert request_head(b"GET", b"/", []) == b"GET / HTTP/1.1\r\n\r\n"


def test_last_chunk():
    assert last_chunk([]) == b"0\r\n\r\n"
    assert last_chunk([(b"grpc-status", b"0"), (b"grpc-message", b"")]) == (
        b"0\r\ngrpc-status: 0\r\ngrpc-message: \r\n\r\n")
