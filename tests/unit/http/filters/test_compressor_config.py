"""Parsing the compressor and decompressor configs: Envoy 1.40's fields, defaults and ranges."""
import pytest

from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import compressor as cc
from hotproxy.config.http_filters import decompressor as dc

GZIP = {"@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip"}
BROTLI = {"@type": "type.googleapis.com/envoy.extensions.compression.brotli.compressor.v3.Brotli"}
ZSTD = {"@type": "type.googleapis.com/envoy.extensions.compression.zstd.compressor.v3.Zstd"}
GZIP_D = {"@type": "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip"}


def parse(parser, value):
    ctx = Context()
    result = parser(Node(value, "f", ctx))
    return result, ctx.problems


def test_defaults_are_envoys():
    config, problems = parse(cc.parse, {"compressor_library": {"name": "lib", "typed_config": GZIP}})
    assert problems == []
    assert config.library == cc.Gzip(memory_level=5, window_bits=12, level=-1)
    assert config.response.min_content_length == 30
    assert "text/html" in config.response.content_types and "application/grpc-web" in config.response.content_types
    assert config.response_stats_infix == "" and config.request is None
    assert config.runtime == "compressor"
    hash(config)


def test_response_and_request_direction():
    config, problems = parse(cc.parse, {
        "compressor_library": {"name": "lib", "typed_config": {**BROTLI, "quality": 5, "encoder_mode": "TEXT"}},
        "choose_first": True,
        "response_direction_config": {
            "common_config": {"min_content_length": 100, "content_type": ["Text/HTML"],
                              "enabled": {"default_value": False, "runtime_key": "k"}},
            "disable_on_etag_header": True, "remove_accept_encoding_header": True,
            "uncompressible_response_codes": [206]},
        "request_direction_config": {}})
    assert problems == []
    assert config.library == cc.Brotli(quality=5, mode="TEXT")
    assert config.response == cc.Direction(False, 100, frozenset({"text/html"}), runtime_key="k")
    assert config.response_stats_infix == "response."
    assert config.disable_on_etag_header and config.remove_accept_encoding_header and config.choose_first
    assert config.uncompressible_response_codes == {206}
    assert config.request == cc.Direction()


def test_deprecated_top_level_fields():
    config, problems = parse(cc.parse, {"compressor_library": {"name": "l", "typed_config": ZSTD},
                                        "content_length": 5, "content_type": ["a/b"],
                                        "disable_on_etag_header": True})
    assert problems == []
    assert config.response.min_content_length == 5 and config.response.content_types == {"a/b"}
    assert config.disable_on_etag_header and config.library == cc.Zstd()


@pytest.mark.parametrize("value, fragment", [
    ({}, "compressor_library: required field is missing"),
    ({"compressor_library": {"typed_config": GZIP}}, "compressor_library.name: required"),
    ({"compressor_library": {"name": "l", "typed_config": {**GZIP, "memory_level": 10}}},
     "memory_level: must be between 1 and 9"),
    ({"compressor_library": {"name": "l", "typed_config": {**GZIP, "window_bits": 16}}}, "window_bits"),
    ({"compressor_library": {"name": "l", "typed_config": {**BROTLI, "input_block_bits": 15}}},
     "input_block_bits"),
    ({"compressor_library": {"name": "l", "typed_config": {**ZSTD, "chunk_size": 100}}}, "chunk_size"),
    ({"compressor_library": {"name": "l", "typed_config": {**ZSTD, "dictionary": {}}}}, "not supported"),
    ({"compressor_library": {"name": "l", "typed_config": GZIP},
      "response_direction_config": {"status_header_enabled": True}}, "not supported"),
    ({"compressor_library": {"name": "l", "typed_config": GZIP},
      "response_direction_config": {"uncompressible_response_codes": [199]}}, "between 200 and 599"),
    ({"compressor_library": {"name": "l", "typed_config": GZIP},
      "response_direction_config": {"common_config": {"enabled": {"runtime_key": "k"}}}},
     "enabled.default_value: required"),
    ({"compressor_library": {"name": "l", "typed_config": GZIP}, "bogus": 1}, "unknown field 'bogus'"),
])
def test_bad_compressor_configs(value, fragment):
    _, problems = parse(cc.parse, value)
    assert any(fragment in f"{path}: {reason}" for path, reason in problems), problems


def test_per_route():
    assert parse(cc.parse_per_route, {"disabled": True}) == (cc.CompressorPerRoute(response_enabled=False), [])
    route, problems = parse(cc.parse_per_route, {"overrides": {"response_direction_config": {
        "remove_accept_encoding_header": True}}})
    assert problems == [] and route == cc.CompressorPerRoute(True, True)
    assert parse(cc.parse_per_route, {"overrides": {}}) == (cc.CompressorPerRoute(), [])
    _, problems = parse(cc.parse_per_route, {"disabled": False})
    assert problems and "must be true" in problems[0][1]
    _, problems = parse(cc.parse_per_route, {})
    assert problems


def test_decompressor():
    config, problems = parse(dc.parse, {"decompressor_library": {"name": "d", "typed_config": GZIP_D}})
    assert problems == []
    assert config.library == dc.GzipDecompressor(window_bits=15, chunk_size=4096, max_inflate_ratio=100)
    assert config.request_enabled and config.response_enabled and config.advertise_accept_encoding
    config, problems = parse(dc.parse, {
        "decompressor_library": {"name": "d", "typed_config": {**GZIP_D, "max_inflate_ratio": 10}},
        "request_direction_config": {"advertise_accept_encoding": False,
                                     "common_config": {"enabled": {"default_value": False, "runtime_key": "x"},
                                                       "ignore_no_transform_header": True}},
        "response_direction_config": {"common_config": {}}})
    assert problems == []
    assert config.library.max_inflate_ratio == 10
    assert not config.request_enabled and config.request_ignore_no_transform and not config.advertise_accept_encoding
    _, problems = parse(dc.parse, {"decompressor_library": {"name": "d", "typed_config": {
        **GZIP_D, "max_inflate_ratio": 1033}}})
    assert "between 1 and 1032" in problems[0][1]
