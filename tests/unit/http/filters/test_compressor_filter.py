"""The compressor filter's hooks, sans-IO: what gets compressed, the headers and the stats."""
import gzip
import zlib

import brotli
import pytest
import zstandard

from filter_fakes import FakeRequest, FakeStream
from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import compressor as cc
from hotproxy.http.filters import compressor
from hotproxy.http.filters.api import FilterContext

LIBS = {
    "gzip": {"@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip"},
    "br": {"@type": "type.googleapis.com/envoy.extensions.compression.brotli.compressor.v3.Brotli"},
    "zstd": {"@type": "type.googleapis.com/envoy.extensions.compression.zstd.compressor.v3.Zstd"},
}
BODY = b"".join(b"line %d of a compressible text body\n" % n for n in range(2000))


def make_factory(encoding="gzip", name="c", **fields):
    ctx = Context()
    config = cc.parse(Node({"compressor_library": {"name": "lib", "typed_config": LIBS[encoding]},
                            **fields}, "f", ctx))
    assert ctx.problems == []
    factory = compressor.factory(config, FilterContext(None, "http.ing.", None))
    factory.name = name
    return factory


def decode(encoding, data):
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "br":
        return brotli.decompress(data)
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def exchange(factories, accept=b"gzip", status=200, headers=None, pieces=None, method=b"GET", per_route=None):
    req = [(b"accept-encoding", accept)] if accept is not None else []
    stream = FakeStream(request=FakeRequest(method=method, headers=req), per_route=per_route)
    filters = [f.create(stream) for f in factories]
    for f in filters:
        assert f.decode_headers(stream, True) == "continue"
    response_headers = headers if headers is not None else [
        (b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]
    pieces = [BODY[:10000], BODY[10000:]] if pieces is None else pieces
    response, body = None, None
    for f in reversed(filters):
        response, body = stream.run_response(f, status, response_headers, pieces)
        response_headers, pieces = response.headers, [body] if body else []
    return stream, response, body


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_compresses_and_streams(encoding):
    factory = make_factory(encoding)
    _, response, body = exchange([factory], accept=encoding.encode())
    headers = dict(response.headers)
    assert headers[b"content-encoding"] == encoding.encode()
    assert b"content-length" not in headers and headers[b"vary"] == b"Accept-Encoding"
    assert decode(encoding, body) == BODY and len(body) < len(BODY) / 5
    stats = factory.response_stats
    assert (stats.compressed, stats.not_compressed) == (1, 0)
    assert stats.total_uncompressed_bytes == len(BODY) and stats.total_compressed_bytes == len(body)
    assert factory.header_stats.header_compressor_used == 1
    assert factory.request_stats.not_compressed == 1


def test_each_piece_is_flushed():
    factory = make_factory("gzip")
    stream = FakeStream(request=FakeRequest(headers=[(b"accept-encoding", b"gzip")]))
    f = factory.create(stream)
    f.decode_headers(stream, True)
    from hotproxy.http.filters.api import Response
    f.encode_headers(stream, Response(200, [(b"content-type", b"text/plain")]), False)
    first = f.encode_data(stream, b"hello world, " * 10, False)
    inflater = zlib.decompressobj(31)
    assert inflater.decompress(first) == b"hello world, " * 10   # readable before the end
    last = f.encode_data(stream, b"bye", True)
    assert inflater.decompress(last) == b"bye" and inflater.eof


@pytest.mark.parametrize("case", [
    dict(status=204, pieces=[]),
    dict(status=304, pieces=[]),
    dict(headers=[(b"content-type", b"text/plain"), (b"content-encoding", b"br")]),
    dict(headers=[(b"content-type", b"text/plain"), (b"cache-control", b"public, No-Transform")]),
    dict(headers=[(b"content-type", b"image/png")]),
    dict(headers=[(b"content-type", b"text/plain"), (b"content-length", b"29")], pieces=[b"x" * 29]),
    dict(headers=[(b"content-type", b"text/plain"), (b"content-length", b"abc")]),
    dict(accept=None),
    dict(accept=b"identity"),
    dict(accept=b"br"),
])
def test_not_compressed(case):
    factory = make_factory("gzip")
    _, response, body = exchange([factory], **case)
    assert b"content-encoding" not in dict(response.headers) or dict(response.headers)[b"content-encoding"] == b"br"
    assert factory.response_stats.not_compressed == 1 and factory.response_stats.compressed == 0


def test_head_is_not_compressed():
    factory = make_factory("gzip")
    _, response, _ = exchange([factory], method=b"HEAD", pieces=[])
    assert b"content-encoding" not in dict(response.headers)
    assert dict(response.headers)[b"content-length"] == str(len(BODY)).encode()


def test_header_stats():
    factory = make_factory("gzip")
    for accept in (None, b"identity", b"*", b"gzip;q=0", b"br"):
        exchange([factory], accept=accept)
    stats = factory.header_stats
    assert (stats.no_accept_header, stats.header_identity, stats.header_wildcard,
            stats.header_not_valid) == (1, 1, 1, 2)
    assert factory.response_stats.compressed == 1


def test_too_small_counts_and_no_vary():
    factory = make_factory("gzip")
    _, response, _ = exchange([factory], headers=[(b"content-type", b"text/plain"), (b"content-length", b"10")],
                              pieces=[b"0123456789"])
    assert factory.response_stats.content_length_too_small == 1
    assert b"vary" not in dict(response.headers)


def test_vary_is_added_without_accept_encoding_and_merged():
    factory = make_factory("gzip")
    _, response, _ = exchange([factory], accept=None)
    assert dict(response.headers)[b"vary"] == b"Accept-Encoding"
    _, response, _ = exchange([factory], headers=[(b"content-type", b"text/plain"), (b"vary", b"origin")])
    assert dict(response.headers)[b"vary"] == b"origin, Accept-Encoding"
    _, response, _ = exchange([factory], headers=[(b"content-type", b"text/plain"), (b"vary", b"Accept-Encoding")])
    assert dict(response.headers)[b"vary"] == b"Accept-Encoding"


def test_etags():
    factory = make_factory("gzip")
    _, response, _ = exchange([factory], headers=[(b"content-type", b"text/plain"), (b"etag", b'W/"abc"')])
    assert dict(response.headers)[b"etag"] == b'W/"abc"'
    _, response, _ = exchange([factory], headers=[(b"content-type", b"text/plain"), (b"etag", b'"abc"')])
    assert b"etag" not in dict(response.headers) and dict(response.headers)[b"content-encoding"] == b"gzip"
    strict = make_factory("gzip", response_direction_config={"disable_on_etag_header": True})
    _, response, _ = exchange([strict], headers=[(b"content-type", b"text/plain"), (b"etag", b'W/"abc"')])
    assert b"content-encoding" not in dict(response.headers)
    assert strict.header_stats.not_compressed_etag == 1 and strict.response_stats.not_compressed == 1


def test_uncompressible_response_codes():
    factory = make_factory("gzip", response_direction_config={"uncompressible_response_codes": [206]})
    _, response, _ = exchange([factory], status=206)
    assert b"content-encoding" not in dict(response.headers)
    assert dict(response.headers)[b"vary"] == b"Accept-Encoding"          # as in Envoy 1.40
    assert factory.header_stats.header_compressor_used == 1
    _, response, _ = exchange([factory], status=200)
    assert dict(response.headers)[b"content-encoding"] == b"gzip"


def test_two_filters_negotiate_once():
    gz, br = make_factory("gzip", name="gz"), make_factory("br", name="br")
    _, response, body = exchange([gz, br], accept=b"gzip;q=0.5, br")
    assert dict(response.headers)[b"content-encoding"] == b"br" and brotli.decompress(body) == BODY
    assert gz.header_stats.header_compressor_overshadowed == 1 and br.header_stats.header_compressor_used == 1
    _, response, body = exchange([gz, br], accept=b"*")
    assert dict(response.headers)[b"content-encoding"] == b"gzip" and gzip.decompress(body) == BODY


def test_remove_accept_encoding_and_per_route():
    factory = make_factory("gzip", response_direction_config={"remove_accept_encoding_header": True})
    stream = FakeStream(request=FakeRequest(headers=[(b"accept-encoding", b"gzip")]))
    factory.create(stream).decode_headers(stream, True)
    assert b"accept-encoding" not in dict(stream.request.headers)
    keep = cc.CompressorPerRoute(response_enabled=True, remove_accept_encoding_header=False)
    stream = FakeStream(request=FakeRequest(headers=[(b"accept-encoding", b"gzip")]), per_route={"c": keep})
    factory.create(stream).decode_headers(stream, True)
    assert b"accept-encoding" in dict(stream.request.headers)
    off = {"c": cc.CompressorPerRoute(response_enabled=False)}
    _, response, _ = exchange([factory], per_route=off)
    assert b"content-encoding" not in dict(response.headers)
    disabled = make_factory("gzip", response_direction_config={"common_config": {"enabled": {"default_value": False}}})
    _, response, _ = exchange([disabled], per_route={"c": cc.CompressorPerRoute(response_enabled=True)})
    assert dict(response.headers)[b"content-encoding"] == b"gzip"


def test_request_compression():
    factory = make_factory("zstd", request_direction_config={})
    stream = FakeStream(request=FakeRequest(method=b"POST", headers=[
        (b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]))
    f = factory.create(stream)
    passed, body = stream.run_request(f, [BODY[:5000], BODY[5000:]])
    headers = dict(stream.request.headers)
    assert headers[b"content-encoding"] == b"zstd" and b"content-length" not in headers
    assert decode("zstd", body) == BODY
    assert factory.request_stats.compressed == 1
    assert factory.request_stats.total_uncompressed_bytes == len(BODY)


def test_stat_names():
    legacy = make_factory("gzip")
    names = {prefix + name for prefix, stats in legacy.stat_sets() for name in stats.counters}
    assert "http.ing.compressor.lib.gzip.compressed" in names
    assert "http.ing.compressor.lib.gzip.header_compressor_used" in names
    assert "http.ing.compressor.lib.gzip.request.compressed" in names
    modern = make_factory("br", response_direction_config={})
    names = {prefix + name for prefix, stats in modern.stat_sets() for name in stats.counters}
    assert "http.ing.compressor.lib.brotli.response.compressed" in names
    assert "http.ing.compressor.lib.brotli.header_wildcard" in names
    assert "http.ing.compressor.lib.brotli.compressed" not in names
