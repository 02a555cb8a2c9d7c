"""The compressor and decompressor filters through real hotproxy processes, and the same config
on Envoy 1.40 for the Accept-Encoding negotiation: which encoding a client gets, with which
headers, and the counters of each compressor filter."""
import gzip
import hashlib
import json
import socket
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import pytest
import zstandard

from conftest import start_peer
from harness import RawClient, admin_stats, http_listener, simple_routes, static_cluster, to_yaml

EXT = "type.googleapis.com/envoy.extensions.filters.http."
LIB = "type.googleapis.com/envoy.extensions.compression."
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
KIB64 = 64 * 1024


def text_body(size):
    """Text that compresses about 2:1, like real payloads (all-zero bodies would hide bugs)."""
    lines = b"".join(hashlib.sha256(b"%d" % n).hexdigest().encode() + b"\n" for n in range(size // 65 + 1))
    return lines[:size]


def compressor(name, library, **fields):
    return {"name": name, "typed_config": {
        "@type": EXT + "compressor.v3.Compressor",
        "compressor_library": {"name": name, "typed_config": {"@type": LIB + library}}, **fields}}


def decompressor(name, library, **fields):
    return {"name": name, "typed_config": {
        "@type": EXT + "decompressor.v3.Decompressor",
        "decompressor_library": {"name": name, "typed_config": {"@type": LIB + library}}, **fields}}


GZIP = compressor("gz", "gzip.compressor.v3.Gzip", response_direction_config={})
BROTLI = compressor("br", "brotli.compressor.v3.Brotli", response_direction_config={})
ZSTD = compressor("zs", "zstd.compressor.v3.Zstd", response_direction_config={
    "common_config": {"content_type": ["application/json", "application/octet-stream"]}})
DECOMPRESS = decompressor("dgz", "gzip.decompressor.v3.Gzip",
                          response_direction_config={"common_config": {"enabled": {"default_value": False}}})


def config(upstream_port, filters):
    routes = simple_routes(
        {"match": {"prefix": "/plain"}, "route": {"cluster": "backend"},
         "typed_per_filter_config": {"gz": {"@type": EXT + "compressor.v3.CompressorPerRoute",
                                            "disabled": True}}},
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    listener = http_listener("http", "listen", routes, stat_prefix="ing",
                             hcm_extra={"http_filters": [*filters, ROUTER]})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [static_cluster("backend", upstream_port)]}})


class Backend:
    """/text/N: N bytes of text/plain with Content-Length. /json/N, /bin/N: the same as
    application/json, application/octet-stream.
    /stream/N: N bytes chunked in 8 KiB pieces, the second piece only once ``release`` is set.
    /etag/E: text with ETag E. /gz/N: N bytes of text, gzip-encoded. /echo: JSON of the
    request's headers, trailer names, body length and digest."""

    def __init__(self):
        self.release = threading.Event()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                                self.trailers.append(line.decode("latin-1").split(":")[0].lower())
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self):
                kind, _, arg = self.path.strip("/").partition("/")
                self.trailers = []
                body = self._read_body()
                if kind == "echo":
                    payload = json.dumps({
                        "headers": [[k.lower(), v] for k, v in self.headers.items()],
                        "trailers": self.trailers,
                        "decoded_sha256": hashlib.sha256(
                            _gunzip_or_none(body, self.headers.get("Content-Encoding"))).hexdigest(),
                        "length": len(body), "sha256": hashlib.sha256(body).hexdigest()}).encode()
                    return self._send(payload, "application/json")
                if kind == "stream":
                    data = text_body(int(arg))
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for index in range(0, len(data), 8192):
                        piece = data[index:index + 8192]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                        if index == 0:
                            backend.release.wait(10)
                    self.wfile.write(b"0\r\n\r\n")
                    return None
                if kind == "gz":
                    return self._send(gzip.compress(text_body(int(arg))), "text/plain",
                                      [("Content-Encoding", "gzip")])
                if kind == "etag":
                    return self._send(text_body(KIB64), "text/plain", [("ETag", arg)])
                content_type = {"json": "application/json", "bin": "application/octet-stream"}.get(
                    kind, "text/plain")
                return self._send(text_body(int(arg or KIB64)), content_type)

            def _send(self, body, content_type, extra=()):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                for name, value in extra:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _gunzip_or_none(body, encoding):
    try:
        return gzip.decompress(body) if encoding == "gzip" else body
    except (OSError, EOFError, zlib.error):
        return b""


@pytest.fixture
def backend():
    server = Backend()
    yield server
    server.stop()


def get(peer, path, accept=None, method="GET", extra=()):
    client = RawClient(peer.port("listen"))
    try:
        headers = [("Host", "example.com"), *extra]
        if accept is not None:
            headers.append(("Accept-Encoding", accept))
        return client.request(method, path, headers)
    finally:
        client.close()


def decoded(response):
    encoding = response.header("content-encoding")
    if encoding == "gzip":
        return gzip.decompress(response.body)
    if encoding == "br":
        return brotli.decompress(response.body)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(response.body)
    return response.body


def test_64k_responses_compressed_with_each_encoding(backend, tmp_path):
    peer = start_peer("hotproxy", config(backend.port, [GZIP, BROTLI, ZSTD]), tmp_path)
    try:
        gz = get(peer, "/text/65536", "gzip")
        br = get(peer, "/text/65536", "br;q=0.9, gzip;q=0.8")
        zs = get(peer, "/json/65536", "zstd, gzip;q=0.5")
        star = get(peer, "/text/65536", "*")
        zstd_wrong_type = get(peer, "/text/65536", "zstd")
        none = get(peer, "/text/65536")
        head = get(peer, "/text/65536", "gzip", method="HEAD")
        route_off = get(peer, "/plain/65536", "gzip")
        stats = admin_stats(peer.port("admin"), "compressor")
    finally:
        peer.stop()
    expected = text_body(KIB64)
    for response, encoding in ((gz, "gzip"), (br, "br"), (zs, "zstd"), (star, "gzip")):
        assert response.status == 200
        assert response.header("content-encoding") == encoding
        assert response.header("vary") == "Accept-Encoding"
        assert response.header("content-length") is None
        assert response.header("transfer-encoding") == "chunked"
        assert decoded(response) == expected and len(response.body) < len(expected) * 0.7
    for response in (zstd_wrong_type, none, route_off):
        assert response.header("content-encoding") is None and response.body == expected
    assert head.header("content-encoding") is None and head.header("content-length") == "65536"
    assert stats["http.ing.compressor.gz.gzip.response.compressed"] == 2
    assert stats["http.ing.compressor.br.brotli.response.compressed"] == 1
    assert stats["http.ing.compressor.zs.zstd.response.compressed"] == 1
    assert stats["http.ing.compressor.gz.gzip.header_wildcard"] == 1
    assert stats["http.ing.compressor.gz.gzip.no_accept_header"] == 1
    assert stats["http.ing.compressor.gz.gzip.response.total_uncompressed_bytes"] == 2 * KIB64
    assert stats["http.ing.compressor.gz.gzip.response.total_compressed_bytes"] == len(gz.body) + len(star.body)


def test_a_streamed_response_is_compressed_as_it_comes(backend, tmp_path):
    """The first piece reaches the client, readable, while the upstream still holds the rest."""
    peer = start_peer("hotproxy", config(backend.port, [GZIP]), tmp_path)
    try:
        sock = socket.create_connection(("127.0.0.1", peer.port("listen")), timeout=10)
        sock.sendall(b"GET /stream/65536 HTTP/1.1\r\nHost: example.com\r\nAccept-Encoding: gzip\r\n\r\n")
        received, text = b"", b""
        while len(text) < 8192:
            piece = sock.recv(65536)
            assert piece, "the proxy closed the connection"
            received += piece
            head, _, chunked = received.partition(b"\r\n\r\n")
            text = zlib.decompressobj(31).decompress(_dechunk(chunked))
        assert b"content-encoding: gzip" in head.lower()
        assert text == text_body(KIB64)[:8192]
        backend.release.set()
        while not received.endswith(b"0\r\n\r\n"):
            received += sock.recv(65536)
        sock.close()
        body = _dechunk(received.partition(b"\r\n\r\n")[2])
        assert gzip.decompress(body) == text_body(KIB64)
    finally:
        peer.stop()


def _dechunk(data):
    out = b""
    while b"\r\n" in data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0 or len(rest) < size + 2:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return out


def test_strong_etag_dropped_weak_kept(backend, tmp_path):
    peer = start_peer("hotproxy", config(backend.port, [GZIP]), tmp_path)
    try:
        strong = get(peer, '/etag/"v1"', "gzip")
        weak = get(peer, '/etag/W/"v1"', "gzip")
    finally:
        peer.stop()
    assert strong.header("content-encoding") == "gzip" and strong.header("etag") is None
    assert weak.header("content-encoding") == "gzip" and weak.header("etag") == 'W/"v1"'


def test_decompressor_on_requests(backend, tmp_path):
    peer = start_peer("hotproxy", config(backend.port, [DECOMPRESS]), tmp_path)
    payload = text_body(KIB64)
    bomb_encoder = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(bomb_encoder.compress(b"\0" * (1 << 20)) for _ in range(256)) + bomb_encoder.flush()
    try:
        client = RawClient(peer.port("listen"))
        plain = client.request("POST", "/echo", [("Host", "example.com"), ("Content-Encoding", "gzip"),
                                                 ("Accept-Encoding", "br")], gzip.compress(payload, mtime=0))
        bombed = client.request("POST", "/echo", [("Host", "example.com"), ("Content-Encoding", "gzip")], bomb)
        after = client.request("POST", "/echo", [("Host", "example.com")], b"still serving")
        client.close()
        stats = admin_stats(peer.port("admin"), "decompressor")
    finally:
        peer.stop()
    seen = plain.json()
    headers = dict(seen["headers"])
    assert seen["length"] == len(payload) and seen["sha256"] == hashlib.sha256(payload).hexdigest()
    assert "content-encoding" not in headers and headers["accept-encoding"] == "br"   # response side off
    assert bombed.status == 200 and bombed.json()["length"] <= 100 * len(bomb) + 65536
    assert after.json()["length"] == len(b"still serving")
    assert stats["http.ing.decompressor.dgz.gzip.request.decompressed"] == 2
    assert stats["http.ing.decompressor.dgz.gzip.request.not_decompressed"] == 1
    assert stats["http.ing.decompressor.dgz.gzip.decompressor_library.zlib_data_error"] == 1


def test_decompressor_on_responses_and_advertising(backend, tmp_path):
    """A decompressor behind a compressor: the upstream sees its Accept-Encoding, and what the
    client gets back is decompressed again by nobody (the compressor runs last on responses)."""
    filters = [decompressor("dbr", "brotli.decompressor.v3.Brotli")]
    peer = start_peer("hotproxy", config(backend.port, filters), tmp_path)
    try:
        client = RawClient(peer.port("listen"))
        echoed = client.request("POST", "/echo", [("Host", "example.com")], b"x")
        client.close()
    finally:
        peer.stop()
    assert dict(echoed.json()["headers"])["accept-encoding"] == "br"


# The negotiation, compared with Envoy 1.40: the client's Accept-Encoding against a chain of
# gzip and brotli for any text, and zstd only for JSON.
NEGOTIATIONS = [
    ("text", "gzip"), ("text", "br"), ("text", "zstd"), ("json", "zstd"), ("text", "*"),
    ("json", "*"), ("text", "identity"), ("text", "identity;q=0"), ("text", "gzip;q=0, *"),
    ("text", "gzip;q=0.5, br;q=0.5"), ("text", "br;q=0.2, gzip;q=0.7"), ("text", "GZIP"),
    ("text", "deflate"), ("text", ""), ("text", "gzip;q=abc, br"), ("text", "*, identity"),
    ("json", "*, identity"), ("text", "*, *"), ("text", "gzip;q=0.5, identity"),
    ("text", "gzip ; Q = 0.3 , br;q=0.2"), ("text", "gzip;q=1e-50"), ("text", "br;level=5"),
    ("json", "gzip;q=0.1, zstd;q=0.1"), ("json", "zstd;q=0, *"), ("bin", "*, identity"),
    ("bin", "*, *"), ("bin", "gzip, *;q=0.5"), ("bin", "zstd;q=0.5, identity;q=0.5"), (None, None),
]


#: (method, path, accept): the other reasons to compress or not, on the same chain
OTHER_REQUESTS = [("GET", '/etag/"v1"', "gzip"), ("GET", '/etag/W/"v1"', "gzip"),
                  ("HEAD", "/text/4096", "gzip"), ("GET", "/text/10", "gzip"),
                  ("GET", "/plain/4096", "gzip"), ("GET", "/plain/4096", "br")]


def negotiate(peer):
    seen = []
    for kind, accept in NEGOTIATIONS:
        response = get(peer, f"/{kind or 'text'}/4096", accept)
        seen.append((kind, accept, response.header("content-encoding"), response.header("vary"),
                     response.header("content-length"), decoded(response) == text_body(4096)))
    for method, path, accept in OTHER_REQUESTS:
        response = get(peer, path, accept, method=method)
        seen.append((method, path, accept, response.header("content-encoding"), response.header("vary"),
                     response.header("content-length"), response.header("etag"), len(decoded(response))))
    return seen


def test_negotiation_matches_envoy(backend, tmp_path):
    text = config(backend.port, [GZIP, BROTLI, ZSTD])
    results, stats = {}, {}
    for kind in ("hotproxy", "envoy"):
        directory = tmp_path / kind
        directory.mkdir()
        peer = start_peer(kind, text, directory)
        try:
            results[kind] = negotiate(peer)
            stats[kind] = {name: value for name, value in admin_stats(peer.port("admin"), "compressor").items()
                           if value}
        finally:
            peer.stop()
    assert results["hotproxy"] == results["envoy"]
    # Compressed sizes depend on where the body's pieces happened to be cut (each is flushed):
    # close, not equal.
    sizes = {kind: {name: stats[kind].pop(name) for name in list(stats[kind])
                    if name.endswith("total_compressed_bytes")} for kind in stats}
    assert sizes["hotproxy"].keys() == sizes["envoy"].keys()
    for name, size in sizes["envoy"].items():
        assert abs(sizes["hotproxy"][name] - size) < size * 0.15, name
    assert stats["hotproxy"] == stats["envoy"]


def upstream_and_client_views(peer):
    """What the upstream saw of each request and what the client got of a gzip response."""
    payload = text_body(KIB64)
    requests = [("GET", [], None), ("POST", [], b"plain"),
                ("POST", [("Content-Encoding", "gzip")], gzip.compress(payload, mtime=0)),
                ("POST", [("Content-Encoding", "gzip, identity")], gzip.compress(payload, mtime=0)),
                ("POST", [("Content-Encoding", "gzip"), ("Cache-Control", "no-transform")],
                 gzip.compress(payload, mtime=0)),
                ("POST", [("Content-Encoding", "gzip"), ("Accept-Encoding", "br")], gzip.compress(payload, mtime=0))]
    seen = []
    for method, headers, body in requests:
        client = RawClient(peer.port("listen"))
        echoed = client.request(method, "/echo", [("Host", "example.com"), *headers], body).json()
        client.close()
        kept = {name: value for name, value in echoed["headers"]
                if name in ("accept-encoding", "content-encoding", "content-length", "transfer-encoding")}
        seen.append((kept, echoed["trailers"], echoed["length"], echoed["sha256"]))
    response = get(peer, "/gz/65536")
    seen.append((response.status, response.header("content-encoding"), response.header("content-length"),
                 response.body == payload))
    return seen


def test_decompressor_matches_envoy(backend, tmp_path):
    text = config(backend.port, [decompressor("dgz", "gzip.decompressor.v3.Gzip")])
    results, stats = {}, {}
    for kind in ("hotproxy", "envoy"):
        directory = tmp_path / kind
        directory.mkdir()
        peer = start_peer(kind, text, directory)
        try:
            results[kind] = upstream_and_client_views(peer)
            stats[kind] = {name: value for name, value in admin_stats(peer.port("admin"), "decompressor").items()
                           if value}
        finally:
            peer.stop()
    assert results["hotproxy"] == results["envoy"]
    assert stats["hotproxy"] == stats["envoy"]


def transcoding_views(peer):
    """A chain that re-encodes: brotli for the client outside, a gzip decompressor, and a gzip
    compressor of request bodies next to the router."""
    payload = text_body(KIB64)
    encoder = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(encoder.compress(b"\0" * (1 << 20)) for _ in range(64)) + encoder.flush()
    seen = []
    client = RawClient(peer.port("listen"))
    echoed = client.request("POST", "/echo", [("Host", "example.com"), ("Accept-Encoding", "br"),
                                              ("Content-Type", "text/plain")], payload)
    client.close()
    upstream = json.loads(decoded(echoed))
    seen.append((echoed.header("content-encoding"), upstream["decoded_sha256"] == hashlib.sha256(payload).hexdigest(),
                 {name: value for name, value in upstream["headers"]
                  if name in ("accept-encoding", "content-encoding", "content-length", "transfer-encoding")}))
    for accept in ("br", "gzip", None):
        response = get(peer, "/gz/65536", accept)
        seen.append((accept, response.header("content-encoding"), response.header("vary"),
                     decoded(response) == payload))
    client = RawClient(peer.port("listen"))
    bombed = client.request("POST", "/echo", [("Host", "example.com"), ("Content-Encoding", "gzip")], bomb)
    client.close()
    seen.append((bombed.status, len(json.loads(decoded(bombed)).get("trailers")) == 0))
    return seen


def test_transcoding_chain_matches_envoy(backend, tmp_path):
    gzip_requests = compressor("gzreq", "gzip.compressor.v3.Gzip", request_direction_config={},
                               response_direction_config={"common_config": {"content_type": ["x/none"]}})
    text = config(backend.port, [BROTLI, decompressor("dgz", "gzip.decompressor.v3.Gzip"), gzip_requests])
    results, stats = {}, {}
    for kind in ("hotproxy", "envoy"):
        directory = tmp_path / kind
        directory.mkdir()
        peer = start_peer(kind, text, directory)
        try:
            results[kind] = transcoding_views(peer)
            stats[kind] = {name: value for name, value in admin_stats(peer.port("admin"), "compress").items()
                           if value and not name.endswith("_bytes")}
        finally:
            peer.stop()
    assert results["hotproxy"] == results["envoy"]
    assert stats["hotproxy"] == stats["envoy"]
