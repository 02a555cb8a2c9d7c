"""envoy.filters.http.compressor: its Compressor and CompressorPerRoute configs, with the gzip,
brotli and zstd compressor libraries, as frozen dataclasses (defaults are Envoy 1.40's)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..fields import NOT_SUPPORTED, Enum, Fields, Node, present, typed_config

_LIB = "type.googleapis.com/envoy.extensions.compression."

COMPRESSOR = Fields(
    "compressor_library response_direction_config request_direction_config choose_first "
    "content_length content_type disable_on_etag_header remove_accept_encoding_header "
    "runtime_enabled")
RESPONSE_DIRECTION = Fields(
    "common_config disable_on_etag_header remove_accept_encoding_header "
    "uncompressible_response_codes", unsupported="status_header_enabled")
REQUEST_DIRECTION = Fields("common_config")
COMMON_DIRECTION = Fields("enabled min_content_length content_type")
RUNTIME_FEATURE_FLAG = Fields("default_value runtime_key")
LIBRARY = Fields("name typed_config")
PER_ROUTE = Fields("disabled overrides")
OVERRIDES = Fields("response_direction_config")
RESPONSE_OVERRIDES = Fields("remove_accept_encoding_header")

GZIP = Fields("memory_level compression_level compression_strategy window_bits chunk_size")
GZIP_LEVELS = Enum("DEFAULT_COMPRESSION BEST_SPEED COMPRESSION_LEVEL_1 COMPRESSION_LEVEL_2 "
                   "COMPRESSION_LEVEL_3 COMPRESSION_LEVEL_4 COMPRESSION_LEVEL_5 COMPRESSION_LEVEL_6 "
                   "COMPRESSION_LEVEL_7 COMPRESSION_LEVEL_8 COMPRESSION_LEVEL_9 BEST_COMPRESSION")
GZIP_STRATEGIES = Enum("DEFAULT_STRATEGY FILTERED HUFFMAN_ONLY RLE FIXED")
BROTLI = Fields("quality encoder_mode window_bits input_block_bits chunk_size "
                "disable_literal_context_modeling")
BROTLI_MODES = Enum("DEFAULT GENERIC TEXT FONT")
ZSTD = Fields("compression_level enable_checksum strategy chunk_size", unsupported="dictionary")
ZSTD_STRATEGIES = Enum("DEFAULT FAST DFAST GREEDY LAZY LAZY2 BTLAZY2 BTOPT BTULTRA BTULTRA2")

# Envoy's list when content_type is empty (compressor_filter.cc defaultContentEncoding).
DEFAULT_CONTENT_TYPES = (
    "text/html", "text/plain", "text/css", "application/javascript", "application/x-javascript",
    "text/javascript", "text/x-javascript", "text/ecmascript", "text/js", "text/jscript",
    "text/x-js", "application/ecmascript", "application/x-json", "application/xml",
    "application/json", "image/svg+xml", "text/xml", "application/xhtml+xml",
    "application/grpc-web", "application/grpc-web+proto")


@dataclass(frozen=True)
class Gzip:
    """``level`` -1 is zlib's default (DEFAULT_COMPRESSION); the window is gzip-framed."""
    encoding: ClassVar[str] = "gzip"
    stat_name: ClassVar[str] = "gzip"
    memory_level: int = 5
    window_bits: int = 12
    level: int = -1
    strategy: str = "DEFAULT_STRATEGY"
    chunk_size: int = 4096


@dataclass(frozen=True)
class Brotli:
    encoding: ClassVar[str] = "br"
    stat_name: ClassVar[str] = "brotli"
    quality: int = 3
    window_bits: int = 18
    input_block_bits: int = 24
    mode: str = "DEFAULT"
    chunk_size: int = 4096


@dataclass(frozen=True)
class Zstd:
    """``level`` 0 is zstd's default (3); above 22 it is clamped as zstd clamps it."""
    encoding: ClassVar[str] = "zstd"
    stat_name: ClassVar[str] = "zstd"
    level: int = 3
    checksum: bool = False
    strategy: str = "DEFAULT"
    chunk_size: int = 4096


@dataclass(frozen=True)
class Direction:
    """A CommonDirectionConfig: ``enabled`` is the RuntimeFeatureFlag's default_value, which the
    runtime's boolean for ``runtime_key`` replaces when it has one (the filter reads it per
    request only when the key is set); ``content_types`` lower-case, Envoy's list when empty."""
    enabled: bool = True
    min_content_length: int = 30
    content_types: frozenset = field(default_factory=lambda: frozenset(DEFAULT_CONTENT_TYPES))
    runtime_key: str = ""


@dataclass(frozen=True)
class Compressor:
    """``response_stats_infix`` is "response." when response_direction_config is set, as
    Envoy names the response direction's common stats only then; ``request`` None: request
    bodies are not compressed."""
    runtime: ClassVar[str] = "compressor"
    library_name: str
    library: object
    response: Direction = Direction()
    response_stats_infix: str = ""
    disable_on_etag_header: bool = False
    remove_accept_encoding_header: bool = False
    uncompressible_response_codes: frozenset = frozenset()
    request: Direction | None = None
    choose_first: bool = False


@dataclass(frozen=True)
class CompressorPerRoute:
    """What the route overrides (None: the filter's own): ``response_enabled`` False from
    ``disabled``, True from ``overrides.response_direction_config``."""
    runtime: ClassVar[str] = "compressor"
    response_enabled: bool | None = None
    remove_accept_encoding_header: bool | None = None


def parse(node: Node) -> Compressor | None:
    m = node.message(COMPRESSOR)
    if m is None:
        return None
    library = m.nested("compressor_library", _library, required=True)
    choose_first = m.boolean("choose_first")
    request = m.nested("request_direction_config", _request_direction)
    if m.has("response_direction_config"):
        for legacy in ("content_length", "content_type", "disable_on_etag_header",
                       "remove_accept_encoding_header", "runtime_enabled"):
            # Envoy reads the deprecated top-level fields only without response_direction_config.
            if m.has(legacy):
                m.at(legacy).fail("deprecated: set it in response_direction_config instead")
        response = m.nested("response_direction_config", _response_direction) or {}
        response["response_stats_infix"] = "response."
    else:
        response = {"response": _direction(m, "runtime_enabled", "content_length"),
                    **present(disable_on_etag_header=m.boolean("disable_on_etag_header"),
                              remove_accept_encoding_header=m.boolean(
                                  "remove_accept_encoding_header"))}
    if library is None:
        return None
    name, lib = library
    return Compressor(library_name=name, library=lib, request=request,
                      **present(choose_first=choose_first), **response)


def parse_per_route(node: Node) -> CompressorPerRoute | None:
    m = node.message(PER_ROUTE)
    if m is None:
        return None
    kind = m.one_of("disabled", "overrides")
    if kind == "disabled":
        if m.boolean("disabled") is False:
            m.at("disabled").fail("must be true (set overrides instead to enable compression)")
        return CompressorPerRoute(response_enabled=False)
    if kind is None:
        return None
    overrides = m.at("overrides").message(OVERRIDES)
    if overrides is None:
        return None
    if not overrides.has("response_direction_config"):
        return CompressorPerRoute()
    response = overrides.at("response_direction_config").message(RESPONSE_OVERRIDES)
    if response is None:
        return None
    # Its presence enables response compression, as response_direction_config does in Compressor.
    return CompressorPerRoute(response_enabled=True, remove_accept_encoding_header=response.boolean(
        "remove_accept_encoding_header"))


def runtime_feature_flag(node: Node) -> bool | None:
    """A RuntimeFeatureFlag's default_value (required, as in Envoy), its runtime_key read but
    not kept (the decompressor's)."""
    flag = keyed_feature_flag(node)
    return None if flag is None else flag[0]


def keyed_feature_flag(node: Node) -> tuple[bool | None, str] | None:
    """A RuntimeFeatureFlag: (default_value, runtime_key)."""
    m = node.message(RUNTIME_FEATURE_FLAG)
    if m is None:
        return None
    key = m.string("runtime_key", "")
    value = m.boolean("default_value")
    if value is None:
        m.at("default_value").fail("required field is missing")
    return value, key


def _direction(m, enabled_name="enabled", length_name="min_content_length") -> Direction:
    types = m.repeated("content_type", lambda n: n.string())
    length = m.uint32(length_name)
    enabled, key = m.nested(enabled_name, keyed_feature_flag) or (None, None)
    return Direction(**present(
        enabled=enabled, runtime_key=key or None,
        # Envoy takes 0 as unset: the default 30 applies.
        min_content_length=length or None,
        content_types=frozenset(t.strip().lower() for t in types) if types else None))


def _common(node: Node) -> Direction | None:
    m = node.message(COMMON_DIRECTION)
    return _direction(m) if m is not None else None


def _response_direction(node: Node) -> dict | None:
    m = node.message(RESPONSE_DIRECTION)
    if m is None:
        return None
    codes = m.repeated("uncompressible_response_codes", _response_code)
    return present(response=m.nested("common_config", _common),
                   disable_on_etag_header=m.boolean("disable_on_etag_header"),
                   remove_accept_encoding_header=m.boolean("remove_accept_encoding_header"),
                   uncompressible_response_codes=frozenset(codes) or None)


def _response_code(node: Node) -> int | None:
    return node.uint32(minimum=200, maximum=599)


def _request_direction(node: Node) -> Direction | None:
    m = node.message(REQUEST_DIRECTION)
    if m is None:
        return None
    return m.nested("common_config", _common) or Direction()


def _library(node: Node):
    """(name, library config) of a TypedExtensionConfig naming a compressor library."""
    m = node.message(LIBRARY)
    if m is None:
        return None
    name = m.string("name", required=True)
    library = m.nested("typed_config", lambda n: typed_config(n, COMPRESSOR_LIBRARIES),
                       required=True)
    return (name, library) if name and library is not None else None


def _gzip(node: Node) -> Gzip | None:
    m = node.message(GZIP)
    if m is None:
        return None
    level = m.enum("compression_level", GZIP_LEVELS)
    return Gzip(**present(
        memory_level=m.uint32("memory_level", minimum=1, maximum=9),
        window_bits=m.uint32("window_bits", minimum=9, maximum=15),
        level=_GZIP_LEVEL_NUMBERS.get(level),
        strategy=m.enum("compression_strategy", GZIP_STRATEGIES),
        chunk_size=_chunk_size(m)))


_GZIP_LEVEL_NUMBERS = {"DEFAULT_COMPRESSION": -1, "BEST_SPEED": 1, "BEST_COMPRESSION": 9,
                       **{f"COMPRESSION_LEVEL_{n}": n for n in range(1, 10)}}


def _brotli(node: Node) -> Brotli | None:
    m = node.message(BROTLI)
    if m is None:
        return None
    if m.boolean("disable_literal_context_modeling"):
        m.at("disable_literal_context_modeling").fail(f"true is {NOT_SUPPORTED}")
    return Brotli(**present(
        quality=m.uint32("quality", maximum=11),
        window_bits=m.uint32("window_bits", minimum=10, maximum=24),
        input_block_bits=m.uint32("input_block_bits", minimum=16, maximum=24),
        mode=m.enum("encoder_mode", BROTLI_MODES),
        chunk_size=_chunk_size(m)))


def _zstd(node: Node) -> Zstd | None:
    m = node.message(ZSTD)
    if m is None:
        return None
    level = m.uint32("compression_level")
    return Zstd(**present(
        level=None if level is None else (min(level, 22) or 3),
        checksum=m.boolean("enable_checksum"),
        strategy=m.enum("strategy", ZSTD_STRATEGIES),
        chunk_size=_chunk_size(m)))


def _chunk_size(m) -> int | None:
    """Envoy's output buffer size; Python's codecs size their own buffers, so it is validated
    and otherwise only bounds the decompressors' steps."""
    return m.uint32("chunk_size", minimum=4096, maximum=65536)


COMPRESSOR_LIBRARIES = {
    _LIB + "gzip.compressor.v3.Gzip": _gzip,
    _LIB + "brotli.compressor.v3.Brotli": _brotli,
    _LIB + "zstd.compressor.v3.Zstd": _zstd,
}
