"""The compressor HTTP filter (envoy.filters.http.compressor): compresses response bodies, and
request bodies when request_direction_config is set, with gzip, brotli or zstd, streaming piece
by piece (compression_codecs.py). Which encoding a response gets is decided once per stream
across all the chain's compressor filters (accept_encoding.py), as in Envoy 1.40.
"""
from __future__ import annotations

from ...runtime import get_boolean
from ...stats.schema import stat_set
from .accept_encoding import IDENTITY, VALID, WILDCARD, Candidate, choose
from .api import CONTINUE, FilterFactory, HttpFilter, header_value, remove_header, set_header
from .compression_codecs import compressor_maker

CommonStats = stat_set("CompressorStats", (
    "compressed", "not_compressed", "total_uncompressed_bytes", "total_compressed_bytes",
    "content_length_too_small"))
_RESPONSE_ONLY = ("no_accept_header", "header_identity", "header_compressor_used",
                  "header_compressor_overshadowed", "header_wildcard", "header_not_valid",
                  "not_compressed_etag")
ResponseStats = stat_set("ResponseCompressorStats", _RESPONSE_ONLY)
# Without response_direction_config Envoy keeps the response's common stats beside these.
LegacyResponseStats = stat_set("LegacyResponseCompressorStats",
                               CommonStats.counters + _RESPONSE_ONLY)

_REGISTRY = "compressors"               # filter state: the chain's compressor filters, in order
_DECISION = "encoding_decision"         # filter state: (encoding, header stat), once per stream
_KNOWN_TRANSFER_CODINGS = frozenset((b"gzip", b"br", b"deflate", b"compress", b"zstd"))
_VARY_VALUE = b"Accept-Encoding"
_HEADER_STATS = {IDENTITY: "header_identity", WILDCARD: "header_wildcard"}


def factory(config, context):
    return CompressorFactory(config, context.stat_prefix)


class CompressorFactory(FilterFactory):
    def __init__(self, config, stat_prefix):
        self.config = config
        self.encoding = config.library.encoding
        self.encoding_bytes = self.encoding.encode()
        self.candidate = Candidate(self.encoding, config.response.content_types, config.choose_first)
        self.make_compressor = compressor_maker(config.library)
        self.prefix = f"{stat_prefix}compressor.{config.library_name}.{config.library.stat_name}."
        self.request_stats = CommonStats()
        if config.response_stats_infix:
            self.response_stats, self.header_stats = CommonStats(), ResponseStats()
        else:
            self.response_stats = self.header_stats = LegacyResponseStats()
        self.uncompressible = config.uncompressible_response_codes

    def create(self, stream):
        registry = (stream.info.filter_state or {}).get(_REGISTRY)
        if registry is None:
            registry = []
            stream.info.set_filter_state(_REGISTRY, registry)
        registry.append(self.candidate)
        return CompressorFilter(self)

    def stat_sets(self):
        sets = [(self.prefix + "request.", self.request_stats), (self.prefix, self.header_stats)]
        if self.response_stats is not self.header_stats:
            sets.append((self.prefix + "response.", self.response_stats))
        return tuple(sets)


class CompressorFilter(HttpFilter):
    __slots__ = ("_factory", "_accept_encoding", "_request_compressor", "_response_compressor")

    def __init__(self, factory):
        self._factory = factory
        self._accept_encoding = None
        self._request_compressor = None
        self._response_compressor = None

    # Requests: remember Accept-Encoding, maybe strip it, maybe compress the body.

    def decode_headers(self, stream, end_stream):
        factory, config = self._factory, self._factory.config
        headers = stream.request.headers
        self._accept_encoding = header_value(headers, b"accept-encoding")
        per_route = stream.route_config(factory.name)
        if _response_enabled(config, per_route) and _remove_accept_encoding(config, per_route):
            remove_header(headers, b"accept-encoding")
        request = config.request
        stats = factory.request_stats
        if (not end_stream and request is not None and _enabled(request)
                and not _is_upgrade(headers)
                and _long_enough(request, headers, stats)
                and _content_type_allowed(request, headers)
                and header_value(headers, b"content-encoding") is None
                and _transfer_encoding_allowed(headers, factory.encoding_bytes)):
            remove_header(headers, b"content-length")
            set_header(headers, b"content-encoding", factory.encoding_bytes)
            stats.compressed += 1
            self._request_compressor = factory.make_compressor()
        else:
            stats.not_compressed += 1
        return CONTINUE

    def decode_data(self, stream, data, end_stream):
        if self._request_compressor is None:
            return CONTINUE
        return _compress(self._request_compressor, self._factory.request_stats, data, end_stream)

    # Responses.

    def encode_headers(self, stream, response, end_stream):
        factory, config = self._factory, self._factory.config
        headers = response.headers
        per_route = stream.route_config(factory.name)
        enabled_and_long_enough = (_response_enabled(config, per_route)
                                   and _long_enough(config.response, headers, factory.response_stats))
        compressible = (enabled_and_long_enough
                        and not _is_upgrade(headers)
                        and _content_type_allowed(config.response, headers)
                        and not _no_transform(headers)
                        and self._etag_allowed(headers)
                        and header_value(headers, b"content-encoding") is None)
        if (not end_stream and self._accept_encoding_allowed(stream, enabled_and_long_enough, headers)
                and compressible and response.status not in factory.uncompressible
                and _transfer_encoding_allowed(headers, factory.encoding_bytes)):
            _sanitize_etag(headers)
            remove_header(headers, b"content-length")
            set_header(headers, b"content-encoding", factory.encoding_bytes)
            factory.response_stats.compressed += 1
            self._response_compressor = factory.make_compressor()
        else:
            factory.response_stats.not_compressed += 1
        if compressible:
            # Even uncompressed, a cache in front must know the answer depends on the header.
            _insert_vary(headers)
        return CONTINUE

    def encode_data(self, stream, data, end_stream):
        if self._response_compressor is None:
            return CONTINUE
        return _compress(self._response_compressor, self._factory.response_stats, data, end_stream)

    def _etag_allowed(self, headers):
        if self._factory.config.disable_on_etag_header and header_value(headers, b"etag") is not None:
            self._factory.header_stats.not_compressed_etag += 1
            return False
        return True

    def _accept_encoding_allowed(self, stream, maybe_compress, headers):
        if not maybe_compress:
            return False
        stats = self._factory.header_stats
        if self._accept_encoding is None:
            stats.no_accept_header += 1
            return False
        decision = stream.info.filter_state.get(_DECISION)
        if decision is None:
            content_type = header_value(headers, b"content-type")
            decision = choose(self._accept_encoding.decode("latin-1"),
                              content_type.decode("latin-1") if content_type else "",
                              stream.info.filter_state[_REGISTRY])
            stream.info.set_filter_state(_DECISION, decision)
        encoding, header_stat = decision
        mine = encoding.lower() == self._factory.encoding
        if header_stat == VALID:
            name = "header_compressor_used" if mine else "header_compressor_overshadowed"
        else:
            name = _HEADER_STATS.get(header_stat, "header_not_valid")
        setattr(stats, name, getattr(stats, name) + 1)
        return mine


def _compress(compressor, stats, data, end_stream):
    stats.total_uncompressed_bytes += len(data)
    out = compressor.finish(data) if end_stream else compressor.compress(data)
    stats.total_compressed_bytes += len(out)
    return out


def _response_enabled(config, per_route):
    if per_route is not None and per_route.response_enabled is not None:
        return per_route.response_enabled
    return _enabled(config.response)


def _enabled(direction):
    """A direction's ``enabled`` RuntimeFeatureFlag (or the deprecated ``runtime_enabled``): the
    runtime's boolean for its key, else the default_value, as Envoy's FeatureFlag reads it on
    each request; without a key the runtime is not consulted."""
    key = direction.runtime_key
    return get_boolean(key, direction.enabled) if key else direction.enabled


def _remove_accept_encoding(config, per_route):
    if per_route is not None and per_route.remove_accept_encoding_header is not None:
        return per_route.remove_accept_encoding_header
    return config.remove_accept_encoding_header


def _long_enough(direction, headers, stats):
    """Envoy's isMinimumContentLength: an unknown length is long enough, one that does not
    parse is not."""
    length = header_value(headers, b"content-length")
    if length is None:
        return True
    if length.isdigit() and int(length) >= direction.min_content_length:
        return True
    stats.content_length_too_small += 1
    return False


def _content_type_allowed(direction, headers):
    content_type = header_value(headers, b"content-type")
    if content_type is None:
        return True
    value = content_type.partition(b";")[0].strip().lower().decode("latin-1")
    return value in direction.content_types


def _tokens(value):
    return [token.strip().lower() for token in value.split(b",")]


def _no_transform(headers):
    value = header_value(headers, b"cache-control")
    return value is not None and b"no-transform" in _tokens(value)


def _is_upgrade(headers):
    connection = header_value(headers, b"connection")
    return (connection is not None and header_value(headers, b"upgrade") is not None
            and b"upgrade" in _tokens(connection))


def _transfer_encoding_allowed(headers, own_encoding):
    value = header_value(headers, b"transfer-encoding")
    if value is None:
        return True
    return not any(token in _KNOWN_TRANSFER_CODINGS or token == own_encoding
                   for token in _tokens(value))


def _sanitize_etag(headers):
    """Weak validators survive compression; strong ones do not (the bytes change)."""
    etag = header_value(headers, b"etag")
    if etag is not None and len(etag) > 2 and etag[:2] not in (b"W/", b"w/"):
        remove_header(headers, b"etag")


def _insert_vary(headers):
    vary = header_value(headers, b"vary")
    if vary is None:
        headers.append((b"vary", _VARY_VALUE))
    elif _VARY_VALUE not in [token.strip() for token in vary.split(b",")]:
        # Envoy looks for the token case-sensitively, so "accept-encoding" gets a second one.
        set_header(headers, b"vary", vary + b", " + _VARY_VALUE)
