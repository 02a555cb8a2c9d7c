"""The decompressor filter's hooks, sans-IO, and its bound on decompression bombs."""
import gzip
import hashlib
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from filter_fakes import FakeRequest, FakeStream
from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import decompressor as dc
from hotproxy.http.filters import decompressor
from hotproxy.http.filters.api import FilterContext

LIBS = {
    "gzip": {"@type": "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip"},
    "br": {"@type": "type.googleapis.com/envoy.extensions.compression.brotli.decompressor.v3.Brotli"},
    "zstd": {"@type": "type.googleapis.com/envoy.extensions.compression.zstd.decompressor.v3.Zstd"},
}
# Compresses about 2:1, so that no piece nears the 100:1 bound.
BODY = b"".join(hashlib.sha256(b"%d" % n).hexdigest().encode() + b"\n" for n in range(3000))
ERROR_COUNTER = {"gzip": "zlib_data_error", "br": "brotli_error", "zstd": "zstd_generic_error"}


def compress(encoding, data):
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "br":
        return brotli.compress(data)
    return zstandard.ZstdCompressor().compress(data)


def make_factory(encoding="gzip", library=None, **fields):
    ctx = Context()
    config = dc.parse(Node({"decompressor_library": {"name": "d", "typed_config": {**LIBS[encoding], **(library or {})}},
                            **fields}, "f", ctx))
    assert ctx.problems == []
    return decompressor.factory(config, FilterContext(None, "http.ing.", None))


def pieces_of(data, size=1000):
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_request_is_decompressed_and_accept_encoding_advertised(encoding):
    factory = make_factory(encoding)
    wire = compress(encoding, BODY)
    stream = FakeStream(request=FakeRequest(method=b"POST", headers=[
        (b"content-encoding", encoding.encode()), (b"content-length", str(len(wire)).encode()),
        (b"accept-encoding", b"br")]))
    _, body = stream.run_request(factory.create(stream), pieces_of(wire))
    headers = dict(stream.request.headers)
    assert body == BODY
    assert b"content-encoding" not in headers and b"content-length" not in headers
    assert headers[b"accept-encoding"] == b"br," + encoding.encode()
    stats = factory.request.stats
    assert (stats.decompressed, stats.total_compressed_bytes, stats.total_uncompressed_bytes) == (1, len(wire), len(BODY))


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_response_is_decompressed(encoding):
    factory = make_factory(encoding)
    wire = compress(encoding, BODY)
    stream = FakeStream()
    f = factory.create(stream)
    f.decode_headers(stream, True)
    response, body = stream.run_response(f, 200, [(b"content-encoding", encoding.encode() + b", foo"),
                                                  (b"content-length", str(len(wire)).encode())],
                                         pieces_of(wire, 333))
    assert body == BODY and dict(response.headers)[b"content-encoding"] == b"foo"
    assert factory.response.stats.decompressed == 1


def test_not_decompressed():
    factory = make_factory("gzip")
    for headers in ([(b"content-encoding", b"br")], [], [(b"content-encoding", b"gzip"), (b"cache-control", b"no-transform")]):
        stream = FakeStream(request=FakeRequest(method=b"POST", headers=headers))
        _, body = stream.run_request(factory.create(stream), [b"abc"])
        assert body == b"abc"
    assert factory.request.stats.not_decompressed == 3
    ignoring = make_factory("gzip", request_direction_config={"common_config": {"ignore_no_transform_header": True}})
    stream = FakeStream(request=FakeRequest(method=b"POST", headers=[(b"content-encoding", b"gzip"), (b"cache-control", b"no-transform")]))
    assert stream.run_request(ignoring.create(stream), [gzip.compress(b"hi")])[1] == b"hi"


def test_bodiless_request_is_advertised_not_counted():
    factory = make_factory("gzip")
    stream = FakeStream()
    factory.create(stream).decode_headers(stream, True)
    assert dict(stream.request.headers)[b"accept-encoding"] == b"gzip"
    assert factory.request.stats.not_decompressed == 0


def test_no_advertising():
    factory = make_factory("gzip", request_direction_config={"advertise_accept_encoding": False})
    stream = FakeStream(request=FakeRequest(method=b"POST"))
    stream.run_request(factory.create(stream), [b"x"])
    assert b"accept-encoding" not in dict(stream.request.headers)


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_bomb_is_bounded(encoding):
    """1 GiB of zeros in a few KiB: output stops near max_inflate_ratio x input, memory stays small."""
    chunk = b"\0" * (1 << 20)
    if encoding == "gzip":
        encoder = zlib.compressobj(9, zlib.DEFLATED, 31)
        wire = b"".join(encoder.compress(chunk) for _ in range(1024)) + encoder.flush()
    elif encoding == "br":
        c = brotli.Compressor(quality=5)
        wire = b"".join(c.process(chunk) for _ in range(1024)) + c.finish()
    else:
        c = zstandard.ZstdCompressor().compressobj()
        wire = b"".join(c.compress(chunk) for _ in range(1024)) + c.flush()
    factory = make_factory(encoding)
    stream = FakeStream(request=FakeRequest(method=b"POST", headers=[(b"content-encoding", encoding.encode())]))
    tracemalloc.start()
    _, body = stream.run_request(factory.create(stream), pieces_of(wire, 4096))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(body) <= 100 * 4096 + 2 * 65536 + 131072
    assert peak < 16 << 20
    assert getattr(factory.library_stats, ERROR_COUNTER[encoding]) == 1
    assert factory.request.stats.total_uncompressed_bytes == len(body)


def test_ratio_is_configurable_for_gzip():
    wire = gzip.compress(b"\0" * 20000)
    factory = make_factory("gzip", library={"max_inflate_ratio": 10})
    stream = FakeStream(request=FakeRequest(method=b"POST", headers=[(b"content-encoding", b"gzip")]))
    _, body = stream.run_request(factory.create(stream), [wire])
    assert len(body) == 4096 and factory.library_stats.zlib_data_error == 1


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_corrupt_input_is_counted_and_dropped(encoding):
    factory = make_factory(encoding)
    stream = FakeStream(request=FakeRequest(method=b"POST", headers=[(b"content-encoding", encoding.encode())]))
    _, body = stream.run_request(factory.create(stream), [b"\x1f\x8b\x08\x00not really compressed", b"more"])
    assert getattr(factory.library_stats, ERROR_COUNTER[encoding]) == 1


def test_stat_names():
    factory = make_factory("zstd")
    names = {prefix + name for prefix, stats in factory.stat_sets() for name in stats.counters}
    assert {"http.ing.decompressor.d.zstd.request.decompressed",
            "http.ing.decompressor.d.zstd.response.total_uncompressed_bytes",
            "http.ing.decompressor.d.zstd.decompressor_library.zstd_generic_error"} <= names
