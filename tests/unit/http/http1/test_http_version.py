"""The version and keep-alive of a head. A request's "1.1" is inferred from llhttp's keep-alive
when no Connection or Proxy-Connection header could have made it so, and read from llhttp
otherwise."""
import pytest

from hotproxy.errors import ProtocolError
from hotproxy.http.http1.codec import RequestDecoder, ResponseDecoder


def request(head_lines):
    decoder = RequestDecoder()
    decoder.feed(b"GET / " + head_lines + b"\r\n\r\n")
    return decoder.events[0]


def response(head_lines):
    decoder = ResponseDecoder()
    decoder.feed(head_lines + b"\r\nContent-Length: 0\r\n\r\n")
    return decoder.events[0]


@pytest.mark.parametrize("head_lines, version, keep_alive", [
    (b"HTTP/1.1\r\nHost: h", "1.1", True),
    (b"HTTP/1.1\r\nHost: h\r\nConnection: close", "1.1", False),
    (b"HTTP/1.1\r\nHost: h\r\nConnection: keep-alive", "1.1", True),
    (b"HTTP/1.1\r\nHost: h\r\nConnection: x-a, close", "1.1", False),
    (b"HTTP/1.1\r\nHost: h\r\nProxy-Connection: close", "1.1", False),
    (b"HTTP/1.1\r\nHost: h\r\nProxy-Connection: keep-alive", "1.1", True),
    (b"HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\nProxy-Connection: keep-alive", "1.1", False),
    (b"HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked", "1.1", True),
    (b"HTTP/1.0\r\nHost: h", "1.0", False),
    (b"HTTP/1.0\r\nHost: h\r\nConnection: keep-alive", "1.0", True),
    (b"HTTP/1.0\r\nHost: h\r\nConnection: Keep-Alive", "1.0", True),
    (b"HTTP/1.0\r\nHost: h\r\nConnection: close", "1.0", False),
    (b"HTTP/1.0\r\nHost: h\r\nProxy-Connection: keep-alive", "1.0", True),
    (b"HTTP/2.0\r\nHost: h", "2.0", False),
    (b"HTTP/0.9\r\nHost: h", "0.9", False),
])
def test_request_version_and_keep_alive(head_lines, version, keep_alive):
    head = request(head_lines)
    assert (head.version, head.keep_alive) == (version, keep_alive)


@pytest.mark.parametrize("version", [b"1.2", b"2.1", b"3.0"])
def test_request_versions_llhttp_refuses_stay_refused(version):
    with pytest.raises(ProtocolError) as refused:
        request(b"HTTP/" + version + b"\r\nHost: h")
    assert refused.value.status == 426


@pytest.mark.parametrize("head_lines, keep_alive", [
    (b"HTTP/1.1 200 OK", True),
    (b"HTTP/1.1 200 OK\r\nConnection: close", False),
    (b"HTTP/1.1 200 OK\r\nConnection: keep-alive", True),
    (b"HTTP/1.1 200 OK\r\nProxy-Connection: close", False),
    (b"HTTP/1.0 200 OK", False),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive", True),
    (b"HTTP/1.0 200 OK\r\nProxy-Connection: keep-alive", True),
    (b"HTTP/1.0 200 OK\r\nConnection: close", False),
    (b"HTTP/1.2 200 OK", True),    # a later minor version is read as 1.1
    (b"HTTP/2.0 200 OK", False),
])
def test_response_keep_alive(head_lines, keep_alive):
    """A response's version is not kept (heads.ResponseHead): its keep-alive is what it implies."""
    assert response(head_lines).keep_alive is keep_alive
