"""RE2 compatibility of compiled regexes and the string matchers."""
import pytest

from hotproxy.config.core import StringMatcher
from hotproxy.errors import ConfigError
from hotproxy.matching import can_match_empty, compile_regex, compile_string_matcher


@pytest.mark.parametrize("pattern, text, expected", [
    ("/api/v[0-9]+", b"/api/v12", True),
    ("a\\z", b"a", True),                     # RE2 \z is end of text
    ("(?<word>[a-z]+)-(?P<n>[0-9])", b"ab-1", True),
    ("[]a]+", b"]a]", True), ("[^]a]+", b"bc", True),
    ("(?i)abc", b"ABC", True),
    ("a.c", b"a\nc", False),
])
def test_re2_patterns(pattern, text, expected):
    assert (compile_regex(pattern, "where").fullmatch(text) is not None) is expected


@pytest.mark.parametrize("pattern, reason", [
    ("(?=a)", "lookaround"), ("(?<!a)b", "lookaround"), ("(a)\\1", "backreferences"),
    ("(?>a)", "atomic"), ("a*+", "possessive"), ("(a)?(?(1)b)", "conditional"),
    ("\\pL", "Unicode classes"), ("[[:alpha:]]", "POSIX"), ("a\\Z", "\\Z"), ("(x", "missing )"),
])
def test_patterns_re2_refuses_or_hotproxy_lacks(pattern, reason):
    with pytest.raises(ConfigError) as error:
        compile_regex(pattern, "a.b.regex")
    [(path, message)] = error.value.problems
    assert path == "a.b.regex"
    assert message.startswith(f"invalid regex '{pattern}': ") and reason in message


@pytest.mark.parametrize("pattern, expected", [
    ("x*", True), ("^", True), ("a|", True), ("\\b", True), ("x+", False), ("abc", False)])
def test_can_match_empty(pattern, expected):
    assert can_match_empty(compile_regex(pattern, "w")) is expected


@pytest.mark.parametrize("kind, value, ignore_case, text, expected", [
    ("exact", "abc", False, b"abc", True), ("exact", "abc", False, b"ABC", False),
    ("exact", "abc", True, b"ABC", True), ("prefix", "Ab", False, b"Abc", True),
    ("prefix", "Ab", True, b"aBc", True), ("suffix", "bc", False, b"abc", True),
    ("suffix", "BC", True, b"abc", True), ("contains", "b", False, b"abc", True),
    ("contains", "B", True, b"abc", True), ("contains", "z", False, b"abc", False),
    ("safe_regex", "a.c", True, b"abc", True), ("safe_regex", "a.c", False, b"xabc", False),
])
def test_string_matchers(kind, value, ignore_case, text, expected):
    test = compile_string_matcher(StringMatcher(kind, value, ignore_case), "w")
    assert bool(test(text)) is expected


def test_string_matcher_regex_error_path():
    with pytest.raises(ConfigError) as error:
        compile_string_matcher(StringMatcher("safe_regex", "("), "m.string_match")
    assert error.value.problems[0][0] == "m.string_match.safe_regex.regex"
