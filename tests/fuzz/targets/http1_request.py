"""RequestDecoder: the bytes a downstream client sends, decoded whole and cut into reads."""
from fuzzkit.http1_requests import check  # noqa: F401  (the target)

MAX_LEN = 4096
DICTIONARY = (
    b"\r\n", b"\r\n\r\n", b"\n", b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", b"HTTP/2.0", b"GET ", b"POST ",
    b"HEAD ", b"OPTIONS * ", b"CONNECT ", b"PRI * ", b"http://", b"https://", b"Host: ",
    b"Content-Length: ", b"Transfer-Encoding: chunked", b"Transfer-Encoding: ", b"chunked",
    b"Connection: ", b"close", b"keep-alive", b"Upgrade: websocket", b"Expect: 100-continue",
    b"Proxy-Connection: ", b"TE: trailers", b"0\r\n\r\n", b";ext=1", b"ffffffffffffffff",
    b"4294967296", b"\x00", b"\t", b" ", b":", b"@", b"%00", b"x-envoy-",
)
