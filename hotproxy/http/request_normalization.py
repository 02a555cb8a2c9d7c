"""What the connection manager does to a request's headers, path and Host before routing, when
its config asks (Envoy's ``headers_with_underscores_action``, ``normalize_path``,
``merge_slashes``, ``path_with_escaped_slashes_action``, ``strip_trailing_host_dot``,
``strip_any_host_port`` / ``strip_matching_host_port``). The result is both what is routed and
what is forwarded. Sans-IO; a config that asks for none of it gets no normalizer at all, so the
request path pays nothing.

The path steps run in Envoy's order (observed on Envoy 1.40, docs/envoy-reference.md): escaped
slashes first (``%2F`` ``%5C``, any case), then RFC 3986 dot-segment removal with Chromium's
canonicalisation as Envoy uses it (percent-encoded unreserved characters decoded, ``\\`` read as
``/``, ``%2e`` as ``.``, ``%00`` refused), then merging slashes. The query is never touched.
"""
from __future__ import annotations

import re

FORWARD, REJECT, REDIRECT, REJECT_HEADERS = "forward", "reject", "redirect", "reject headers"

_ESCAPED_SLASH = re.compile(rb"%2f|%5c", re.I)
_UNRESERVED_ESCAPE = re.compile(rb"%(4[1-9a-fA-F]|5[0-9aA]|6[1-9a-fA-F]|7[0-9aA]|3[0-9]|2[dDeE]|5[fF]|7[eE])")
_SLASHES = re.compile(rb"/{2,}")
_NUL_ESCAPE = b"%00"


class PathNormalizer:
    """``apply(target) -> (outcome, target)``: ``FORWARD`` the (possibly changed) target,
    ``REJECT`` it (400), or ``REDIRECT`` the client to it (307)."""

    def __init__(self, normalize=False, merge_slashes=False, escaped_slashes="KEEP_UNCHANGED"):
        self.normalize = normalize
        self.merge_slashes = merge_slashes
        self.escaped_slashes = "KEEP_UNCHANGED" if escaped_slashes == "IMPLEMENTATION_SPECIFIC_DEFAULT" else escaped_slashes

    @classmethod
    def from_config(cls, config):
        """The normalizer an HCM config asks for, or None."""
        normalizer = cls(config.normalize_path, config.merge_slashes, config.path_with_escaped_slashes_action)
        if normalizer.normalize or normalizer.merge_slashes or normalizer.escaped_slashes != "KEEP_UNCHANGED":
            return normalizer
        return None

    def apply(self, target):
        if target[:1] != b"/":
            return FORWARD, target  # "*" for OPTIONS
        path, mark, query = target.partition(b"?")
        outcome = FORWARD
        if self.escaped_slashes != "KEEP_UNCHANGED" and _ESCAPED_SLASH.search(path):
            if self.escaped_slashes == "REJECT_REQUEST":
                return REJECT, target
            if self.escaped_slashes == "UNESCAPE_AND_REDIRECT":
                outcome = REDIRECT
            path = _ESCAPED_SLASH.sub(_unescape_slash, path)
        if self.normalize:
            path = canonical_path(path)
            if path is None:
                return REJECT, target
        if self.merge_slashes:
            path = _SLASHES.sub(b"/", path)
        return outcome, path + mark + query


def _unescape_slash(match):
    return b"/" if match.group()[2:] in (b"f", b"F") else b"\\"


def canonical_path(path):
    """``path`` (no query) with dot segments removed as Envoy's normalize_path removes them, or
    None when it cannot be normalized."""
    if _NUL_ESCAPE in path:
        return None
    path = _UNRESERVED_ESCAPE.sub(lambda match: bytes((int(match.group(1), 16),)), path)
    segments = path.replace(b"\\", b"/").split(b"/")[1:]
    kept = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == b".":
            if last:
                kept.append(b"")
        elif segment == b"..":
            if kept:
                kept.pop()
            if last:
                kept.append(b"")
        else:
            kept.append(segment)
    return b"/" + b"/".join(kept)


class HostNormalizer:
    """``apply(host, listener_port) -> host``: one trailing dot removed (``strip_trailing_host_dot``),
    then the port removed: always (``ANY``) or when it is the listener's (``MATCHING``)."""

    def __init__(self, strip_trailing_dot=False, strip_port="NONE"):
        self.strip_trailing_dot = strip_trailing_dot
        self.strip_port = strip_port

    @classmethod
    def from_config(cls, config):
        normalizer = cls(config.strip_trailing_host_dot, config.strip_host_port)
        return normalizer if normalizer.strip_trailing_dot or normalizer.strip_port != "NONE" else None

    def apply(self, host, listener_port):
        name, port = _split_port(host)
        if self.strip_trailing_dot and name.endswith(b".") and name[:1] != b"[":
            name = name[:-1]
        if port is not None and (self.strip_port == "ANY"
                                 or (self.strip_port == "MATCHING" and port == b"%d" % listener_port)):
            port = None
        return name if port is None else name + b":" + port


def _split_port(host):
    """(name, port digits or None); an IPv6 literal keeps its brackets."""
    colon = host.rfind(b":")
    if colon < 0 or host.rfind(b"]") > colon:
        return host, None
    return host[:colon], host[colon + 1:]


class RequestNormalizer:
    """The three steps together, in Envoy's order: headers with underscores (dropped, or the
    request refused: ``REJECT_HEADERS``), then the path, then the Host."""

    def __init__(self, underscores, path, host):
        self.underscores = underscores  # None (ALLOW), "DROP_HEADER" or "REJECT_REQUEST"
        self.path = path
        self.host = host

    @classmethod
    def from_config(cls, config):
        action = config.headers_with_underscores_action
        normalizer = cls(None if action == "ALLOW" else action, PathNormalizer.from_config(config),
                         HostNormalizer.from_config(config))
        return normalizer if normalizer.underscores or normalizer.path or normalizer.host else None

    def apply(self, head, target, listener_port, codec_stats):
        """``(outcome, target)``; edits ``head`` (its headers, target and host) in place.
        ``codec_stats``: the http1.* or http2.* stats, which count the underscores."""
        if self.underscores is not None and any(b"_" in name for name, _ in head.headers):
            if self.underscores == "REJECT_REQUEST":
                codec_stats.requests_rejected_with_underscores_in_headers += 1
                return REJECT_HEADERS, target
            kept = [header for header in head.headers if b"_" not in header[0]]
            codec_stats.dropped_headers_with_underscores += len(head.headers) - len(kept)
            head.headers = kept
        if self.path is not None:
            outcome, target = self.path.apply(target)
            if outcome is not FORWARD:
                return outcome, target
            head.target = target
        if self.host is not None:
            host = self.host.apply(head.host, listener_port)
            if host != head.host:
                head.host = host
                head.headers = [(b"host", host) if name == b"host" else (name, value)
                                for name, value in head.headers]
        return FORWARD, target
