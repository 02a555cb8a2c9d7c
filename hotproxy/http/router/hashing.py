"""A route's hash_policy: the request's 64-bit hash key for RING_HASH and MAGLEV clusters, as
Envoy's HashPolicyImpl computes it, so that a key reaches the host Envoy would pick.

Each policy hashes one part of the request with xxHash64 (seed 0) or yields nothing: a header's
values (each rewritten, then sorted, hashed as one string), a cookie, the client's IP (without
port), a query parameter's first value (not decoded), a filter state value (its string, as
Envoy hashes a string object; only streams with HTTP filters have filter state). The key is the
hashes combined in order, ``key = rotl1(key) ^ hash``; a ``terminal`` policy that produced a key
ends the list.

A cookie policy with a ``ttl`` whose cookie is missing makes one up, as Envoy does: the hex
xxHash64 of the client's and the local "ip:port", hashed like a received value and sent to the
client in a Set-Cookie of the response (``name="value"; Max-Age=ttl; Path=path; attributes;
HttpOnly``, Max-Age left out for a ttl of 0).

The router asks for the key only when the cluster's balancer hashes (RING_HASH, MAGLEV): in
Envoy the balancer asks for it, so other clusters never get a made-up cookie (probed).
"""
from __future__ import annotations


from xxhash import xxh64_intdigest

from ...matching import compile_regex
from .rewrites import _re2_global_replace

_MASK = (1 << 64) - 1


class RequestHash:
    """``key(stream, headers, target, conn) -> int | None`` for a route's policies."""

    __slots__ = ("_methods",)

    def __init__(self, policies, where):
        self._methods = tuple((_method(policy, f"{where}[{index}]"), policy.terminal)
                              for index, policy in enumerate(policies))

    def key(self, stream, headers, target, conn):
        key = None
        for method, terminal in self._methods:
            value = method(stream, headers, target, conn)
            if value is not None:
                key = value if key is None else (((key << 1) | (key >> 63)) & _MASK) ^ value
            if terminal and key is not None:
                break
        return key


def _method(policy, where):
    kind = policy.kind
    if kind == "header":
        return _header_method(policy, where)
    if kind == "cookie":
        return _cookie_method(policy)
    if kind == "source_ip":
        return lambda stream, headers, target, conn: xxh64_intdigest(conn.remote_ip.encode())
    if kind == "query_parameter":
        name = policy.name.encode()
        return lambda stream, headers, target, conn: _query_hash(target, name)
    if kind == "filter_state":
        return _filter_state_method(policy.name)
    raise ValueError(f"{where}: unknown hash policy kind {kind!r}")


def _header_method(policy, where):
    name = policy.name.encode()
    rewrite = None
    if policy.regex_rewrite is not None:
        regex = compile_regex(policy.regex_rewrite.pattern, f"{where}.header.regex_rewrite.pattern")
        rewrite = _re2_global_replace(regex, policy.regex_rewrite.substitution.encode())

    def header_hash(stream, headers, target, conn):
        values = [value for key, value in headers if key == name]
        if not values:
            return None
        if rewrite is not None:
            values = [rewrite(value) for value in values]
        if len(values) > 1:
            values.sort()
        return xxh64_intdigest(b"".join(values))
    return header_hash


def _cookie_method(policy):
    name = policy.name.encode()
    ttl = policy.ttl
    if ttl is not None:
        parts = [b'%s="%%s"' % name]
        if ttl:
            parts.append(b"; Max-Age=%d" % ttl)
        if policy.path:
            parts.append(b"; Path=" + policy.path.encode())
        for attribute, value in policy.attributes:
            parts.append(b"; " + attribute.encode() + (b"=" + value.encode() if value else b""))
        parts.append(b"; HttpOnly")
        set_cookie = b"".join(parts)

    def cookie_hash(stream, headers, target, conn):
        value = cookie_value(headers, name)
        if value:
            return xxh64_intdigest(value)
        if ttl is None:
            return None
        value = b"%016x" % xxh64_intdigest((conn.remote_address + conn.local_address).encode())
        stream.add_set_cookie(set_cookie % value)
        return xxh64_intdigest(value)
    return cookie_hash


def _filter_state_method(key):
    def filter_state_hash(stream, headers, target, conn):
        info = getattr(stream, "info", None)    # a stream without HTTP filters has none
        state = info.filter_state if info is not None else None
        return filter_state_hash_of(state.get(key)) if state else None
    return filter_state_hash


def filter_state_hash_of(value):
    """The hash of a filter state value as Envoy's FilterStateHashMethod takes it: only a
    Hashable object gives one. Envoy's string objects (set_filter_state's, StringAccessor's) hash
    their serialized string with xxHash64: here a str (UTF-8) or bytes value; an object with a
    ``hash()`` method (Envoy's Hashable) gives what it returns. Anything else, like an object
    Envoy cannot hash, gives none."""
    if value is None:
        return None
    if value.__class__ is str:
        return xxh64_intdigest(value.encode("utf-8", "surrogateescape"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return xxh64_intdigest(bytes(value))
    method = getattr(value, "hash", None)
    if callable(method):
        result = method()
        return None if result is None else int(result) & _MASK
    return None


def cookie_value(headers, name):
    """The first value of cookie ``name`` in the Cookie headers, its double quotes removed
    (Envoy's Utility::parseCookieValue); b"" when there is none."""
    for key, header in headers:
        if key != b"cookie":
            continue
        for pair in header.split(b";"):
            pair = pair.lstrip(b" ")
            found, equals, value = pair.partition(b"=")
            if equals and found == name:
                if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
                    value = value[1:-1]
                return value
    return b""


def _query_hash(target, name):
    query_at = target.find(b"?")
    if query_at < 0:
        return None
    for parameter in target[query_at + 1:].split(b"&"):
        found, _, value = parameter.partition(b"=")
        if found == name:
            return xxh64_intdigest(value)
    return None
