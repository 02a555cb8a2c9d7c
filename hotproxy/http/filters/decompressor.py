"""The decompressor HTTP filter (envoy.filters.http.decompressor): decompresses request and
response bodies whose first content-coding is the library's (gzip, br or zstd), piece by piece
and bounded against decompression bombs (compression_codecs.py), and advertises the coding
upstream in Accept-Encoding, as Envoy 1.40 does."""
from __future__ import annotations

from ...stats.schema import stat_set
from .api import CONTINUE, FilterFactory, HttpFilter, header_value, remove_header, set_header
from .compression_codecs import LIBRARY_STATS, decompressor_maker

DirectionStats = stat_set("DecompressorStats", (
    "decompressed", "not_decompressed", "total_uncompressed_bytes", "total_compressed_bytes"))


def factory(config, context):
    return DecompressorFactory(config, context.stat_prefix)


class _Direction:
    __slots__ = ("enabled", "ignore_no_transform", "stats")

    def __init__(self, enabled, ignore_no_transform):
        self.enabled = enabled
        self.ignore_no_transform = ignore_no_transform
        self.stats = DirectionStats()


class DecompressorFactory(FilterFactory):
    def __init__(self, config, stat_prefix):
        self.config = config
        self.encoding = config.library.encoding.encode()
        self.prefix = f"{stat_prefix}decompressor.{config.library_name}.{config.library.stat_name}."
        self.request = _Direction(config.request_enabled, config.request_ignore_no_transform)
        self.response = _Direction(config.response_enabled, config.response_ignore_no_transform)
        self.advertise = config.response_enabled and config.advertise_accept_encoding
        self.library_stats = LIBRARY_STATS[config.library.encoding]()
        self.make_decompressor = decompressor_maker(config.library)

    def create(self, stream):
        return DecompressorFilter(self)

    def stat_sets(self):
        return ((self.prefix + "request.", self.request.stats),
                (self.prefix + "response.", self.response.stats),
                (self.prefix + "decompressor_library.", self.library_stats))


class DecompressorFilter(HttpFilter):
    __slots__ = ("_factory", "_request", "_response")

    def __init__(self, factory):
        self._factory = factory
        self._request = None
        self._response = None

    def decode_headers(self, stream, end_stream):
        headers = stream.request.headers
        if self._factory.advertise:
            _append_accept_encoding(headers, self._factory.encoding)
        if end_stream:      # as in Envoy: a request without a body is not counted
            return CONTINUE
        self._request = self._start(self._factory.request, headers)
        return CONTINUE

    def decode_data(self, stream, data, end_stream):
        if self._request is None:
            return CONTINUE
        return _decompress(self._request, self._factory.request.stats, data)

    def encode_headers(self, stream, response, end_stream):
        if end_stream:
            return CONTINUE
        self._response = self._start(self._factory.response, response.headers)
        return CONTINUE

    def encode_data(self, stream, data, end_stream):
        if self._response is None:
            return CONTINUE
        return _decompress(self._response, self._factory.response.stats, data)

    def _start(self, direction, headers):
        """A decompressor when this body is to be decompressed (and its headers changed to
        say so), else None."""
        encodings = header_value(headers, b"content-encoding")
        if (direction.enabled
                and (direction.ignore_no_transform or not _no_transform(headers))
                and encodings is not None
                and encodings.partition(b",")[0].strip().lower() == self._factory.encoding):
            direction.stats.decompressed += 1
            remaining = encodings.partition(b",")[2].strip()
            if remaining:
                set_header(headers, b"content-encoding", remaining)
            else:
                remove_header(headers, b"content-encoding")
            remove_header(headers, b"content-length")
            return self._factory.make_decompressor(self._factory.library_stats)
        direction.stats.not_decompressed += 1
        return None


def _decompress(decompressor, stats, data):
    out = decompressor.decompress(bytes(data))
    stats.total_compressed_bytes += len(data)
    stats.total_uncompressed_bytes += len(out)
    return out


def _no_transform(headers):
    value = header_value(headers, b"cache-control")
    return value is not None and b"no-transform" in [t.strip().lower() for t in value.split(b",")]


def _append_accept_encoding(headers, encoding):
    value = header_value(headers, b"accept-encoding")
    set_header(headers, b"accept-encoding", value + b"," + encoding if value else encoding)
