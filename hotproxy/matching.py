"""Envoy's string matching, compiled once from the config into plain callables, for every part of
the proxy that matches strings (routes, certificate SANs, …).

- ``compile_regex``: an RE2 pattern (Envoy's ``safe_regex``) as a Python bytes regex, refusing
  what RE2 refuses and what Python would read differently.
- ``compile_string_matcher``: envoy.type.matcher.v3.StringMatcher → ``test(value)``, truthy on
  a match.

Errors are ``ConfigError`` problems at the path the caller names.
"""
from __future__ import annotations

import re
# re._parser builds the parse tree behind re.compile: reading it is how lookarounds,
# backreferences and empty-matching patterns are found without writing another regex parser.
import re._constants as _re_ops
import re._parser as _re_parser

from .errors import ConfigError

_REFUSED_BY_RE2 = {
    _re_ops.ASSERT: "lookaround assertions are not supported by RE2",
    _re_ops.ASSERT_NOT: "lookaround assertions are not supported by RE2",
    _re_ops.GROUPREF: "backreferences are not supported by RE2",
    _re_ops.GROUPREF_EXISTS: "conditional groups are not supported by RE2",
    _re_ops.ATOMIC_GROUP: "atomic groups are not supported by RE2",
    _re_ops.POSSESSIVE_REPEAT: "possessive quantifiers are not supported by RE2",
}
_UNSUPPORTED_ESCAPES = {"p": "Unicode classes (\\p)", "P": "Unicode classes (\\P)",
                        "C": "\\C", "Q": "\\Q...\\E quoting", "E": "\\Q...\\E quoting"}


def compile_regex(pattern, where):
    """The RE2 ``pattern`` compiled for bytes; ConfigError at ``where`` when it cannot be."""
    try:
        translated = _translate_re2(pattern)
        compiled = re.compile(translated.encode())
        _refuse_non_re2(_re_parser.parse(translated))
    except (re.error, ValueError) as error:
        raise ConfigError([(where, f"invalid regex '{pattern}': {error}")]) from None
    return compiled


def can_match_empty(compiled):
    """True when ``compiled`` can match an empty string somewhere (e.g. ``x*``, ``^``)."""
    return _re_parser.parse(compiled.pattern.decode()).getwidth()[0] == 0


def _translate_re2(pattern):
    """Respell what Python reads differently from RE2; ValueError for what Python lacks."""
    out = []
    in_class = False
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in _UNSUPPORTED_ESCAPES:
                raise ValueError(f"{_UNSUPPORTED_ESCAPES[nxt]} is not supported by hotproxy yet")
            if nxt == "Z":
                raise ValueError("invalid escape sequence: \\Z")
            out.append("\\Z" if nxt == "z" else c + nxt)  # RE2 \z is Python \Z
            i += 2
            continue
        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                raise ValueError("POSIX character classes are not supported by hotproxy yet")
            in_class = c != "]"
        elif c == "[":
            in_class = True
            # a ']' right after '[' or '[^' is a literal member of the class
            for skip in ("^]", "]"):
                if pattern.startswith(skip, i + 1):
                    out.append(c + skip)
                    i += 1 + len(skip)
                    break
            else:
                out.append(c)
                i += 1
            continue
        elif pattern.startswith("(?<", i) and pattern[i + 3:i + 4] not in ("=", "!"):
            out.append("(?P<")  # RE2 also accepts (?<name>...)
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _refuse_non_re2(parsed):
    for op, av in parsed.data:
        if op in _REFUSED_BY_RE2:
            raise ValueError(_REFUSED_BY_RE2[op])
        if op is _re_ops.SUBPATTERN:
            _refuse_non_re2(av[3])
        elif op in (_re_ops.MAX_REPEAT, _re_ops.MIN_REPEAT):
            _refuse_non_re2(av[2])
        elif op is _re_ops.BRANCH:
            for branch in av[1]:
                _refuse_non_re2(branch)


# --- string matchers ---------------------------------------------------------------------------

def compile_string_matcher(matcher, where):
    """StringMatcher → ``test(value: bytes)``, truthy on a match. ``where`` names the matcher."""
    kind = matcher.kind
    if kind == "safe_regex":
        return compile_regex(matcher.value, f"{where}.safe_regex.regex").fullmatch
    return literal_test(kind, matcher.value.encode(), matcher.ignore_case)


def literal_test(kind, expected, ignore_case=False):
    if ignore_case:
        expected = expected.lower()
        if kind == "exact":
            return lambda value: value.lower() == expected
        if kind == "prefix":
            return lambda value: value.lower().startswith(expected)
        if kind == "suffix":
            return lambda value: value.lower().endswith(expected)
        return lambda value: expected in value.lower()
    if kind == "exact":
        return expected.__eq__
    if kind == "prefix":
        return lambda value: value.startswith(expected)
    if kind == "suffix":
        return lambda value: value.endswith(expected)
    return lambda value: expected in value


_LITERAL_KINDS = frozenset(("exact", "prefix", "suffix", "contains"))


def header_value_test(matcher, where):
    """A HeaderMatcher's test of one header value: ``test(value: bytes)``, truthy on a match
    (inversion and absence are the caller's). ``where`` names the matcher."""
    kind = matcher.kind
    if kind == "present":
        present = bool(matcher.value)
        return lambda value: present
    if kind == "string_match":
        return compile_string_matcher(matcher.string_match, f"{where}.string_match")
    if kind == "safe_regex":
        return compile_regex(matcher.value, f"{where}.safe_regex_match.regex").fullmatch
    if kind == "exact" and not matcher.value:
        return lambda value: True  # the deprecated exact_match "" matches any value
    if kind in _LITERAL_KINDS:
        return literal_test(kind, matcher.value.encode(), False)
    raise ConfigError([(where, f"header matcher '{kind}' is not supported by hotproxy yet")])


def header_matcher_outcomes(matcher, where):
    """A HeaderMatcher as its checks use it: (``test`` of one value, the outcome of a value that
    matches, of one that does not, of a missing header). Each value of a repeated header is
    tested on its own, as in Envoy 1.40; a missing header fails every matcher except the
    ``present_match`` forms asking for absence, unless ``treat_missing_header_as_empty``."""
    test = header_value_test(matcher, where)
    invert = matcher.invert_match
    if matcher.treat_missing_header_as_empty:
        on_missing = bool(test(b"")) != invert
    elif matcher.kind == "present":
        on_missing = bool(matcher.value) == invert
    else:
        on_missing = False
    return test, not invert, invert, on_missing
