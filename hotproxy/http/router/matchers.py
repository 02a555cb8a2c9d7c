"""Request matchers of a route, compiled once from the config into plain callables.

- ``compile_regex``: an RE2 pattern (Envoy's ``safe_regex``) as a Python bytes regex, refusing
  what RE2 refuses and what Python would read differently.
- ``compile_string_matcher``: envoy.type.matcher.v3.StringMatcher → ``test(value)``, truthy on
  a match.
- ``compile_request_checks``: a route's header and query-parameter matchers → one
  ``checks(headers, host, path, method, scheme) -> bool`` (None when the route has none).

Errors are ``ConfigError`` problems whose path is relative to the route configuration.
"""
from __future__ import annotations

import re
# re._parser builds the parse tree behind re.compile: reading it is how lookarounds,
# backreferences and empty-matching patterns are found without writing another regex parser.
import re._constants as _re_ops
import re._parser as _re_parser

from ...errors import ConfigError

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
    return _literal_test(kind, matcher.value.encode(), matcher.ignore_case)


def _literal_test(kind, expected, ignore_case):
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


# --- header matchers ---------------------------------------------------------------------------

_LITERAL_KINDS = frozenset(("exact", "prefix", "suffix", "contains"))


def _header_value_test(matcher, where):
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
        return _literal_test(kind, matcher.value.encode(), False)
    raise ConfigError([(where, f"header matcher '{kind}' is not supported by hotproxy yet")])


_PSEUDO_HEADERS = {
    # Envoy keeps the request line and Host in pseudo-headers; "host" is read as :authority.
    b":authority": lambda host, path, method, scheme: host,
    b"host": lambda host, path, method, scheme: host,
    b":path": lambda host, path, method, scheme: path,
    b":method": lambda host, path, method, scheme: method,
    b":scheme": lambda host, path, method, scheme: scheme,
}


def compile_header_matcher(matcher, where):
    """HeaderMatcher → ``check(headers, host, path, method, scheme) -> bool``.

    Envoy 1.40 tests each value of a repeated header on its own: the matcher holds when any value
    matches (before ``invert_match``). A missing header fails every matcher except the
    ``present_match`` forms that ask for absence, unless ``treat_missing_header_as_empty``.
    """
    test = _header_value_test(matcher, where)
    name = matcher.name.encode()
    invert = matcher.invert_match
    matched = not invert
    if matcher.treat_missing_header_as_empty:
        on_missing = bool(test(b"")) != invert
    elif matcher.kind == "present":
        on_missing = bool(matcher.value) == invert
    else:
        on_missing = False

    pseudo = _PSEUDO_HEADERS.get(name)
    if pseudo is not None:
        def check_pseudo(headers, host, path, method, scheme):
            value = pseudo(host, path, method, scheme)
            if value is None:
                return on_missing
            return matched if test(value) else invert
        return check_pseudo

    def check(headers, host, path, method, scheme):
        missing = True
        for header_name, value in headers:
            if header_name == name:
                if test(value):
                    return matched
                missing = False
        return on_missing if missing else invert
    return check


# --- query parameters --------------------------------------------------------------------------

def _query_first_values(path):
    """First value of each query parameter, undecoded, as Envoy's ``parseQueryString`` sees it."""
    params = {}
    start = path.find(b"?")
    if start >= 0:
        for param in path[start + 1:].split(b"&"):
            name, _, value = param.partition(b"=")
            params.setdefault(name, value)
    return params


def _compile_query_matcher(matcher, where):
    """QueryParameterMatcher → ``check(params) -> bool``; a missing parameter never matches."""
    name = matcher.name.encode()
    if matcher.present_match or matcher.string_match is None:
        return lambda params: name in params
    test = compile_string_matcher(matcher.string_match, f"{where}.string_match")

    def check(params):
        value = params.get(name)
        return value is not None and test(value)
    return check


# --- a route's extra conditions ----------------------------------------------------------------

def compile_request_checks(match, where):
    """All header and query-parameter matchers of RouteMatch ``match`` as one callable, or None."""
    header_checks = tuple(compile_header_matcher(matcher, f"{where}.headers[{i}]")
                          for i, matcher in enumerate(match.headers))
    query_checks = tuple(_compile_query_matcher(matcher, f"{where}.query_parameters[{i}]")
                         for i, matcher in enumerate(match.query_parameters))
    if not header_checks and not query_checks:
        return None
    if len(header_checks) == 1 and not query_checks:
        return header_checks[0]

    def checks(headers, host, path, method, scheme):
        for check in header_checks:
            if not check(headers, host, path, method, scheme):
                return False
        if query_checks:
            params = _query_first_values(path)
            for check in query_checks:
                if not check(params):
                    return False
        return True
    return checks
