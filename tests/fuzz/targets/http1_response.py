"""ResponseDecoder: the bytes an upstream answers with, decoded as the router reads them (HEAD
or not, closed by the upstream or not), whole and cut into reads."""
from fuzzkit.http1_responses import check  # noqa: F401  (the target)

MAX_LEN = 4096
DICTIONARY = (
    b"\r\n", b"\r\n\r\n", b"\n", b"HTTP/1.1 ", b"HTTP/1.0 ", b"HTTP/1.9 ", b"200 OK", b"100 Continue",
    b"101 ", b"103 ", b"204 ", b"304 ", b"Content-Length: ", b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: ", b"chunked", b"Connection: ", b"close", b"keep-alive", b"Server: ",
    b"Date: ", b"Upgrade: ", b"Keep-Alive: ", b"0\r\n\r\n", b";ext=1", b"ffffffffffffffff",
    b"4294967296", b"\x00", b"\t", b" ", b":",
)
