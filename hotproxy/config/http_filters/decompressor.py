"""envoy.filters.http.decompressor: its Decompressor config with the gzip, brotli and zstd
decompressor libraries, as frozen dataclasses (defaults are Envoy 1.40's)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fields import NOT_SUPPORTED, Fields, Node, present, typed_config
from .compressor import runtime_feature_flag

_LIB = "type.googleapis.com/envoy.extensions.compression."

DECOMPRESSOR = Fields("decompressor_library request_direction_config response_direction_config")
REQUEST_DIRECTION = Fields("common_config advertise_accept_encoding")
RESPONSE_DIRECTION = Fields("common_config")
COMMON_DIRECTION = Fields("enabled ignore_no_transform_header")
LIBRARY = Fields("name typed_config")
GZIP = Fields("window_bits chunk_size max_inflate_ratio")
BROTLI = Fields("disable_ring_buffer_reallocation chunk_size")
ZSTD = Fields("chunk_size", unsupported="dictionaries")

# Envoy's bound on output per input byte where the library has no max_inflate_ratio field.
DEFAULT_MAX_INFLATE_RATIO = 100


@dataclass(frozen=True)
class GzipDecompressor:
    encoding: ClassVar[str] = "gzip"
    stat_name: ClassVar[str] = "gzip"
    window_bits: int = 15
    chunk_size: int = 4096
    max_inflate_ratio: int = DEFAULT_MAX_INFLATE_RATIO


@dataclass(frozen=True)
class BrotliDecompressor:
    encoding: ClassVar[str] = "br"
    stat_name: ClassVar[str] = "brotli"
    chunk_size: int = 4096
    max_inflate_ratio: int = DEFAULT_MAX_INFLATE_RATIO


@dataclass(frozen=True)
class ZstdDecompressor:
    encoding: ClassVar[str] = "zstd"
    stat_name: ClassVar[str] = "zstd"
    chunk_size: int = 4096
    max_inflate_ratio: int = DEFAULT_MAX_INFLATE_RATIO


@dataclass(frozen=True)
class Decompressor:
    """``*_enabled``: the direction's RuntimeFeatureFlag default_value (true when unset)."""
    runtime: ClassVar[str] = "decompressor"
    library_name: str
    library: object
    request_enabled: bool = True
    request_ignore_no_transform: bool = False
    advertise_accept_encoding: bool = True
    response_enabled: bool = True
    response_ignore_no_transform: bool = False


def parse(node: Node) -> Decompressor | None:
    m = node.message(DECOMPRESSOR)
    if m is None:
        return None
    library = m.nested("decompressor_library", _library, required=True)
    request = m.nested("request_direction_config", _request) or {}
    response = m.nested("response_direction_config", _response) or {}
    if library is None:
        return None
    return Decompressor(library_name=library[0], library=library[1], **request, **response)


def _common(node: Node, direction: str) -> dict | None:
    m = node.message(COMMON_DIRECTION)
    if m is None:
        return None
    return present(**{f"{direction}_enabled": m.nested("enabled", runtime_feature_flag),
                      f"{direction}_ignore_no_transform": m.boolean("ignore_no_transform_header")})


def _request(node: Node) -> dict | None:
    m = node.message(REQUEST_DIRECTION)
    if m is None:
        return None
    common = m.nested("common_config", lambda n: _common(n, "request")) or {}
    return {**common, **present(advertise_accept_encoding=m.boolean("advertise_accept_encoding"))}


def _response(node: Node) -> dict | None:
    m = node.message(RESPONSE_DIRECTION)
    if m is None:
        return None
    return m.nested("common_config", lambda n: _common(n, "response")) or {}


def _library(node: Node):
    m = node.message(LIBRARY)
    if m is None:
        return None
    name = m.string("name", required=True)
    library = m.nested("typed_config", lambda n: typed_config(n, DECOMPRESSOR_LIBRARIES),
                       required=True)
    return (name, library) if name and library is not None else None


def _chunk_size(m) -> int | None:
    return m.uint32("chunk_size", minimum=4096, maximum=65536)


def _gzip(node: Node) -> GzipDecompressor | None:
    m = node.message(GZIP)
    if m is None:
        return None
    return GzipDecompressor(**present(
        window_bits=m.uint32("window_bits", minimum=9, maximum=15),
        chunk_size=_chunk_size(m),
        max_inflate_ratio=m.uint32("max_inflate_ratio", minimum=1, maximum=1032)))


def _brotli(node: Node) -> BrotliDecompressor | None:
    m = node.message(BROTLI)
    if m is None:
        return None
    if m.boolean("disable_ring_buffer_reallocation"):
        m.at("disable_ring_buffer_reallocation").fail(f"true is {NOT_SUPPORTED}")
    return BrotliDecompressor(**present(chunk_size=_chunk_size(m)))


def _zstd(node: Node) -> ZstdDecompressor | None:
    m = node.message(ZSTD)
    if m is None:
        return None
    return ZstdDecompressor(**present(chunk_size=_chunk_size(m)))


DECOMPRESSOR_LIBRARIES = {
    _LIB + "gzip.decompressor.v3.Gzip": _gzip,
    _LIB + "brotli.decompressor.v3.Brotli": _brotli,
    _LIB + "zstd.decompressor.v3.Zstd": _zstd,
}
