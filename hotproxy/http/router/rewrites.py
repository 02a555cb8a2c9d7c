"""Path rewrites and redirect locations of a route.

- Path rewriters (``prefix_rewrite``, ``regex_rewrite``) that keep the query string.
- ``RedirectBuilder``: the ``location`` of a redirect, built the way Envoy's
  ``Http::Utility::newUri`` builds it.
"""
from __future__ import annotations

from ...errors import ConfigError
from ...matching import can_match_empty, compile_regex


def _path_end(path):
    """Index where the path proper ends: at the first '?' or '#'."""
    end = path.find(b"?")
    if end < 0:
        end = len(path)
    fragment = path.find(b"#", 0, end)
    return end if fragment < 0 else fragment


def make_path_rewriter(match, prefix_rewrite, regex_rewrite, where):
    """``rewrite(path) -> path`` for a route/redirect, or None when it rewrites nothing.

    ``prefix_rewrite`` replaces what the route matched: the configured prefix or path, or the
    whole path for ``safe_regex`` routes. Both rewrites leave the query string alone. An empty
    ``prefix_rewrite`` is unset, as in proto3.
    """
    if prefix_rewrite and regex_rewrite is not None:
        raise ConfigError([(where, "only one of prefix_rewrite and regex_rewrite may be set")])
    if prefix_rewrite:
        replacement = prefix_rewrite.encode()
        if match.path_kind == "safe_regex":
            return lambda path: replacement + path[_path_end(path):]
        matched_length = len(match.path_value.encode())
        return lambda path: replacement + path[matched_length:]
    if regex_rewrite is not None:
        regex = compile_regex(regex_rewrite.pattern, f"{where}.regex_rewrite.pattern.regex")
        replace = _re2_global_replace(regex, regex_rewrite.substitution.encode())

        def rewrite(path):
            end = _path_end(path)
            return replace(path[:end]) + path[end:]
        return rewrite
    return None


def _parse_substitution(substitution, group_count):
    """RE2 rewrite string → list of literal bytes and group numbers, or None when RE2 would
    refuse it (a group the pattern lacks). RE2 stops a rewrite at an invalid escape."""
    pieces = []
    literal = bytearray()
    i, n = 0, len(substitution)
    while i < n:
        c = substitution[i]
        if c != 0x5C:  # backslash
            literal.append(c)
            i += 1
            continue
        escaped = substitution[i + 1] if i + 1 < n else -1
        if escaped == 0x5C:
            literal.append(0x5C)
        elif 0x30 <= escaped <= 0x39:
            group = escaped - 0x30
            if group > group_count:
                return None
            pieces += (bytes(literal), group)
            literal.clear()
        else:
            break
        i += 2
    pieces.append(bytes(literal))
    return [piece for piece in pieces if piece != b""]


def _re2_global_replace(regex, substitution):
    """``replace(text) -> text`` with RE2::GlobalReplace semantics."""
    pieces = _parse_substitution(substitution, regex.groups)
    if pieces is None:
        return same_path

    def expand(m):
        return b"".join(piece if piece.__class__ is bytes else (m.group(piece) or b"")
                        for piece in pieces)

    if not can_match_empty(regex):
        return lambda text: regex.sub(expand, text)

    def replace(text):
        # RE2 refuses an empty match right where the previous match ended; Python allows it.
        out = []
        position = 0
        end = len(text)
        previous_end = -1
        replaced = False
        while position <= end:
            m = regex.search(text, position)
            if m is None:
                break
            start, stop = m.span()
            if position < start:
                out.append(text[position:start])
            if start == stop == previous_end:
                out.append(text[position:position + 1])
                position += 1
                continue
            out.append(expand(m))
            position = previous_end = stop
            replaced = True
        if not replaced:
            return text
        out.append(text[position:])
        return b"".join(out)
    return replace


# --- redirects ---------------------------------------------------------------------------------

_STANDARD_PORTS = {b"http": b":80", b"https": b":443"}


class RedirectBuilder:
    """The Location of a redirect (or of a 201/3xx direct response when ``redirect`` is None).

    ``scheme`` is the request's scheme as Envoy sees it (x-forwarded-proto when trusted). The
    request's port is dropped when a port_redirect is set, or when the scheme changes and the port
    was the standard one of the old scheme (http://a:80 → https://a, but https://a:8080 stays).
    """

    __slots__ = ("_scheme", "_host", "_port", "_path", "_path_has_query", "_rewrite_path",
                 "_strip_query")

    def __init__(self, redirect, match, where):
        self._scheme = self._host = self._path = self._rewrite_path = None
        self._port = b""
        self._path_has_query = self._strip_query = False
        if redirect is None:
            return
        if redirect.scheme_redirect:
            self._scheme = redirect.scheme_redirect.encode()
        elif redirect.https_redirect:
            self._scheme = b"https"
        if redirect.host_redirect:
            self._host = redirect.host_redirect.encode()
        if redirect.port_redirect:
            self._port = b":%d" % redirect.port_redirect
        if redirect.path_redirect:
            if redirect.prefix_rewrite or redirect.regex_rewrite is not None:
                raise ConfigError([(where, "path_redirect excludes prefix_rewrite and "
                                           "regex_rewrite")])
            self._path = redirect.path_redirect.encode()
            self._path_has_query = b"?" in self._path
        else:
            self._rewrite_path = make_path_rewriter(match, redirect.prefix_rewrite,
                                                    redirect.regex_rewrite, where)
        self._strip_query = redirect.strip_query

    def location(self, scheme, host, path):
        new_scheme = self._scheme or scheme
        port = self._port
        new_host = self._host
        if new_host is None:
            new_host = _host_for_redirect(host, scheme, new_scheme, port)
        if self._path is not None:
            new_path = self._path
            query_at = path.find(b"?")
            if not self._path_has_query and query_at >= 0:
                new_path += path[query_at:]
        elif self._rewrite_path is not None:
            new_path = self._rewrite_path(path)
        else:
            new_path = path
        if new_path[:1] != b"/":
            new_path = b"/" + new_path
        if self._strip_query and not self._path_has_query:
            query_at = new_path.find(b"?")
            if query_at >= 0:
                new_path = new_path[:query_at]
        return b"".join((new_scheme, b"://", new_host, port, new_path))


def _host_for_redirect(host, scheme, new_scheme, new_port):
    if not host:
        return host
    if host[:1] == b"[":
        port_at = host.rfind(b"]:")
        if port_at >= 0:
            port_at += 1
    else:
        port_at = host.rfind(b":")
    if port_at < 0:
        return host
    if new_port or (new_scheme != scheme and _STANDARD_PORTS.get(scheme) == host[port_at:]):
        return host[:port_at]
    return host


def same_path(path):
    return path
