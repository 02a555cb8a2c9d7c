"""Request matchers of a route, compiled once from the config into plain callables (the string
and regex matching itself is hotproxy/matching.py's).

- ``compile_request_checks``: a route's header, query-parameter and gRPC matchers → one
  ``checks(headers, host, path, method, scheme) -> bool`` (None when the route has none).

Errors are ``ConfigError`` problems whose path is relative to the route configuration.
"""
from __future__ import annotations

from ...matching import compile_string_matcher, header_matcher_outcomes
from ..grpc import is_grpc


# --- header matchers ---------------------------------------------------------------------------

_PSEUDO_HEADERS = {
    # Envoy keeps the request line and Host in pseudo-headers; "host" is read as :authority.
    b":authority": lambda host, path, method, scheme: host,
    b"host": lambda host, path, method, scheme: host,
    b":path": lambda host, path, method, scheme: path,
    b":method": lambda host, path, method, scheme: method,
    b":scheme": lambda host, path, method, scheme: scheme,
}


def compile_header_matcher(matcher, where):
    """HeaderMatcher → ``check(headers, host, path, method, scheme) -> bool`` (the outcomes:
    matching.header_matcher_outcomes)."""
    test, matched, invert, on_missing = header_matcher_outcomes(matcher, where)
    name = matcher.name.encode()

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
    if match.grpc:
        header_checks += (lambda headers, host, path, method, scheme: is_grpc(headers),)
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
