"""Streaming gzip, brotli and zstd codecs for the compressor and decompressor filters.

gzip is zlib-ng's (as in Envoy): about twice as fast as zlib, and its output is Envoy's.

A compressor flushes at the end of every data piece and finishes the stream at its end, as
Envoy's compressors do (Flush per frame, Finish at end_stream), so that a streamed response goes
out as it comes instead of waiting for the compressor's window to fill.

A decompressor bounds what one piece may expand to: ``max_inflate_ratio`` times its length,
checked every ``chunk_size`` bytes of output, as Envoy's bomb protection does. Past the bound,
or on corrupt input, it stops for good: the piece's output so far passes on, the rest of the
body is dropped, and the library's error counter counts it (Envoy's zlib_data_error,
brotli_error, zstd_generic_error). Memory per stream stays near ratio × piece + one chunk.
"""
from __future__ import annotations

import brotli
import zstandard
from zlib_ng import zlib_ng as zlib

from ...stats.schema import stat_set

_GZIP_STRATEGIES = {"DEFAULT_STRATEGY": zlib.Z_DEFAULT_STRATEGY, "FILTERED": zlib.Z_FILTERED,
                    "HUFFMAN_ONLY": zlib.Z_HUFFMAN_ONLY, "RLE": zlib.Z_RLE, "FIXED": zlib.Z_FIXED}
_BROTLI_MODES = {"DEFAULT": brotli.MODE_GENERIC, "GENERIC": brotli.MODE_GENERIC,
                 "TEXT": brotli.MODE_TEXT, "FONT": brotli.MODE_FONT}
_ZSTD_STRATEGIES = {"DEFAULT": 0, "FAST": zstandard.STRATEGY_FAST,
                    "DFAST": zstandard.STRATEGY_DFAST, "GREEDY": zstandard.STRATEGY_GREEDY,
                    "LAZY": zstandard.STRATEGY_LAZY, "LAZY2": zstandard.STRATEGY_LAZY2,
                    "BTLAZY2": zstandard.STRATEGY_BTLAZY2, "BTOPT": zstandard.STRATEGY_BTOPT,
                    "BTULTRA": zstandard.STRATEGY_BTULTRA,
                    "BTULTRA2": zstandard.STRATEGY_BTULTRA2}
_ZSTD_BLOCK = 128 * 1024
_GZIP_HEADER = 16       # added to window bits: zlib writes and reads the gzip framing

# Envoy's decompressor library stats, under ``decompressor_library.``.
ZlibDecompressorStats = stat_set("ZlibDecompressorStats", (
    "zlib_errno", "zlib_stream_error", "zlib_data_error", "zlib_mem_error", "zlib_buf_error",
    "zlib_version_error"))
BrotliDecompressorStats = stat_set("BrotliDecompressorStats", (
    "brotli_error", "brotli_output_overflow", "brotli_redundant_input"))
ZstdDecompressorStats = stat_set("ZstdDecompressorStats", (
    "zstd_generic_error", "zstd_dictionary_error", "zstd_checksum_wrong_error",
    "zstd_memory_error"))
LIBRARY_STATS = {"gzip": ZlibDecompressorStats, "br": BrotliDecompressorStats,
                 "zstd": ZstdDecompressorStats}


def compressor_maker(library):
    """A function making one streaming compressor (``compress(piece)``, ``finish(piece)``)
    for ``library`` (config/http_filters/compressor.py Gzip, Brotli or Zstd)."""
    if library.encoding == "gzip":
        strategy = _GZIP_STRATEGIES[library.strategy]
        wbits = library.window_bits + _GZIP_HEADER
        return lambda: _GzipCompressor(library.level, wbits, library.memory_level, strategy)
    if library.encoding == "br":
        mode = _BROTLI_MODES[library.mode]
        return lambda: _BrotliCompressor(mode, library.quality, library.window_bits,
                                         library.input_block_bits)
    params = zstandard.ZstdCompressionParameters.from_level(
        library.level, strategy=_ZSTD_STRATEGIES[library.strategy],
        write_checksum=int(library.checksum))
    zstd = zstandard.ZstdCompressor(compression_params=params)
    return lambda: _ZstdCompressor(zstd.compressobj())


class _GzipCompressor:
    __slots__ = ("_z",)

    def __init__(self, level, wbits, memory_level, strategy):
        self._z = zlib.compressobj(level, zlib.DEFLATED, wbits, memory_level, strategy)

    def compress(self, data):
        return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data):
        return self._z.compress(data) + self._z.flush(zlib.Z_FINISH)


class _BrotliCompressor:
    __slots__ = ("_b",)

    def __init__(self, mode, quality, window_bits, block_bits):
        self._b = brotli.Compressor(mode=mode, quality=quality, lgwin=window_bits,
                                    lgblock=block_bits)

    def compress(self, data):
        return self._b.process(data) + self._b.flush()

    def finish(self, data):
        return self._b.process(data) + self._b.finish()


class _ZstdCompressor:
    __slots__ = ("_z",)

    def __init__(self, compressobj):
        self._z = compressobj

    def compress(self, data):
        return self._z.compress(data) + self._z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self, data):
        return self._z.compress(data) + self._z.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


def decompressor_maker(library):
    """A function of the library stats making one bounded streaming decompressor
    (``decompress(piece)``; ``failed`` once it stopped)."""
    kind = {"gzip": _GzipDecompressor, "br": _BrotliDecompressor, "zstd": _ZstdDecompressor}
    return lambda stats: kind[library.encoding](library, stats)


class _Bounded:
    __slots__ = ("failed", "_stats", "_chunk", "_ratio")

    def __init__(self, library, stats):
        self.failed = False
        self._stats = stats
        self._chunk = library.chunk_size
        self._ratio = library.max_inflate_ratio

    def _fail(self, counter):
        self.failed = True
        setattr(self._stats, counter, getattr(self._stats, counter) + 1)


class _GzipDecompressor(_Bounded):
    __slots__ = ("_z",)

    def __init__(self, library, stats):
        super().__init__(library, stats)
        self._z = zlib.decompressobj(library.window_bits + _GZIP_HEADER)

    def decompress(self, data):
        if self.failed or self._z.eof:
            return b""
        limit = self._ratio * len(data)
        out, total, pending = [], 0, data
        try:
            while True:
                piece = self._z.decompress(pending, self._chunk)
                pending = self._z.unconsumed_tail
                out.append(piece)
                total += len(piece)
                if total > limit:
                    self._fail("zlib_data_error")
                    break
                if self._z.eof or (not pending and len(piece) < self._chunk) or not piece:
                    break
        except zlib.error:
            self._fail("zlib_data_error")
        return b"".join(out)


class _BrotliDecompressor(_Bounded):
    __slots__ = ("_b",)

    def __init__(self, library, stats):
        super().__init__(library, stats)
        self._b = brotli.Decompressor()

    def decompress(self, data):
        if self.failed or self._b.is_finished():
            return b""
        limit = self._ratio * len(data)
        out, total, pending = [], 0, data
        try:
            while True:
                piece = self._b.process(pending, output_buffer_limit=self._chunk)
                pending = b""
                out.append(piece)
                total += len(piece)
                if total > limit:
                    self._fail("brotli_error")
                    break
                if self._b.is_finished() or self._b.can_accept_more_data():
                    break
        except brotli.error:
            self._fail("brotli_error")
        return b"".join(out)


class _StopInflating(Exception):
    pass


class _ChunkSink:
    """Where zstd writes its output chunk by chunk: the bound is checked on each one."""
    __slots__ = ("chunks", "total", "limit")

    def __init__(self):
        self.chunks = []
        self.total = 0
        self.limit = 0

    def write(self, chunk):
        self.chunks.append(bytes(chunk))
        self.total += len(chunk)
        if self.total > self.limit:
            raise _StopInflating
        return len(chunk)


class _ZstdDecompressor(_Bounded):
    __slots__ = ("_sink", "_writer")

    def __init__(self, library, stats):
        super().__init__(library, stats)
        self._sink = _ChunkSink()
        self._writer = zstandard.ZstdDecompressor().stream_writer(
            self._sink, write_size=self._chunk, closefd=False)

    def decompress(self, data):
        if self.failed:
            return b""
        sink = self._sink
        # zstd emits a block (up to 128 KiB) only once its last byte is in, so a small piece
        # that completes a block may legitimately bring that much.
        sink.chunks, sink.total, sink.limit = [], 0, self._ratio * len(data) + _ZSTD_BLOCK
        try:
            self._writer.write(data)
        except _StopInflating:
            self._fail("zstd_generic_error")
        except zstandard.ZstdError:
            self._fail("zstd_generic_error")
        return b"".join(sink.chunks)
