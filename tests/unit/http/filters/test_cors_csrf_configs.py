"""Parsing the CORS and CSRF configs and the buffer filter's: Envoy 1.40's fields and defaults."""
import pytest

from hotproxy.config.core import StringMatcher
from hotproxy.config.fields import Context, Node
from hotproxy.config.http_filters import buffer, cors, csrf
from hotproxy.config.runtime import RuntimeFraction

ENABLED_HALF = {"default_value": {"numerator": 50, "denominator": "HUNDRED"}, "runtime_key": "k"}


def parse(parser, value):
    ctx = Context()
    result = parser(Node(value, "f", ctx))
    return result, ctx.problems


def test_cors_filter_config_is_empty():
    config, problems = parse(cors.parse, {})
    assert problems == [] and config == cors.Cors() and config.runtime == "cors"
    _, problems = parse(cors.parse, {"allow_methods": "GET"})
    assert problems == [("f.allow_methods", "unknown field 'allow_methods'")]


def test_cors_policy_fields_and_defaults():
    policy, problems = parse(cors.parse_per_route, {})
    assert problems == []
    assert policy == cors.CorsPolicy() and policy.filter_enabled == (100, 100)
    assert policy.shadow_enabled is None and policy.forward_not_matching_preflights
    policy, problems = parse(cors.parse_per_route, {
        "allowOriginStringMatch": [{"exact": "https://a.example"}, {"prefix": "https://b"}],
        "allow_methods": "GET, POST", "allow_headers": "x-a", "expose_headers": "x-b",
        "max_age": "600", "allow_credentials": True, "filter_enabled": ENABLED_HALF,
        "shadow_enabled": {"default_value": {"numerator": 1, "denominator": "TEN_THOUSAND"}},
        "allow_private_network_access": True, "forward_not_matching_preflights": False})
    assert problems == []
    assert policy.allow_origin_string_match == (StringMatcher("exact", "https://a.example"),
                                                StringMatcher("prefix", "https://b"))
    assert (policy.allow_methods, policy.allow_headers, policy.expose_headers, policy.max_age) == (
        "GET, POST", "x-a", "x-b", "600")
    assert policy.allow_credentials and policy.allow_private_network_access
    # with a runtime_key the fraction keeps it, for the filter to read the runtime's value
    assert policy.filter_enabled == RuntimeFraction(50, 100, "k")
    assert policy.shadow_enabled == (1, 10_000)
    assert not policy.forward_not_matching_preflights
    hash(policy)


@pytest.mark.parametrize("value, problem", [
    ({"allow_origin": ["*"]}, ("f.allow_origin", "unknown field 'allow_origin'")),
    ({"filter_enabled": {}}, ("f.filter_enabled.default_value", "required field is missing")),
    ({"max_age": "1\n"}, ("f.max_age", "must not contain NUL, CR or LF, got '1\\n'")),
    ({"allow_origin_string_match": [{"exact": "a", "prefix": "b"}]},
     ("f.allow_origin_string_match[0]", "only one of exact, prefix, suffix, safe_regex, contains "
                                        "may be set, got exact and prefix")),
])
def test_cors_policy_refusals(value, problem):
    assert problem in parse(cors.parse_per_route, value)[1]


def test_csrf_policy():
    policy, problems = parse(csrf.parse, {
        "filter_enabled": {"default_value": {"numerator": 100}},
        "shadow_enabled": ENABLED_HALF, "additional_origins": [{"suffix": ".example.com"}]})
    assert problems == [] and policy.runtime == "csrf"
    assert policy.filter_enabled == (100, 100)
    assert policy.shadow_enabled == RuntimeFraction(50, 100, "k")
    assert policy.additional_origins == (StringMatcher("suffix", ".example.com"),)
    assert csrf.parse_per_route is csrf.parse
    _, problems = parse(csrf.parse, {})
    assert problems == [("f.filter_enabled", "required field is missing")]


def test_buffer_configs():
    config, problems = parse(buffer.parse, {"max_request_bytes": 1024})
    assert problems == [] and config == buffer.Buffer(1024) and config.runtime == "buffer"
    assert parse(buffer.parse, {})[1] == [("f.max_request_bytes", "required field is missing")]
    assert parse(buffer.parse, {"max_request_bytes": 0})[1] == [
        ("f.max_request_bytes", "must be between 1 and 4294967295, got 0")]
    assert parse(buffer.parse_per_route, {"disabled": True}) == (buffer.BufferPerRoute(None), [])
    assert parse(buffer.parse_per_route, {"buffer": {"max_request_bytes": "5"}}) == (
        buffer.BufferPerRoute(buffer.Buffer(5)), [])
    assert parse(buffer.parse_per_route, {"disabled": False})[1] == [
        ("f.disabled", "must be true (set buffer to buffer on this route)")]
    assert parse(buffer.parse_per_route, {})[1] == [
        ("f", "exactly one of disabled, buffer is required")]
