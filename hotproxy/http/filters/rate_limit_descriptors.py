"""Descriptors from a route's ``rate_limits`` (config/rate_limit.py), as Envoy's
RateLimitPolicyEntryImpl makes them: each entry of the filter's stage gives one descriptor, a
tuple of (key, value) string pairs from its actions in order, or none when an action cannot
produce its entry (a header that is absent without ``skip_if_absent``, a header_value_match
that does not come out as expected)."""
from __future__ import annotations

import ipaddress

from ..router.matchers import compile_header_matcher

_SCHEME = b"http"


def compile_rate_limits(rate_limits, stage, where=""):
    """``describe(stream, local_cluster) -> list of descriptors`` for the entries of ``stage``
    (those with a disable_key are left out, as the local rate limit filter does)."""
    entries = [_compile_entry(entry, f"{where}[{index}]")
               for index, entry in enumerate(rate_limits)
               if entry.stage == stage and not entry.disable_key]

    def describe(stream, local_cluster):
        descriptors = []
        for entry in entries:
            descriptor = entry(stream, local_cluster)
            if descriptor:
                descriptors.append(descriptor)
        return descriptors
    return describe


def _compile_entry(entry, where):
    actions = [_compile_action(action, f"{where}.actions[{index}]")
               for index, action in enumerate(entry.actions)]

    def describe(stream, local_cluster):
        descriptor = []
        for action in actions:
            result = action(stream, local_cluster)
            if result is None:
                return None
            if result is not _SKIP:
                descriptor.append(result)
        return tuple(descriptor)
    return describe


_SKIP = object()    # the action adds nothing, and the descriptor goes on


def _compile_action(action, where):
    kind, key = action.kind, action.key
    if kind == "request_headers":
        name = action.header.encode()
        missing = _SKIP if action.skip_if_absent else None

        def request_header(stream, _):
            for header, value in stream.request.headers:
                if header == name:
                    return key, value.decode("latin-1")
            return missing
        return request_header
    if kind == "generic_key":
        entry = (key, action.value)
        return lambda stream, _: entry
    if kind == "header_value_match":
        checks = [compile_header_matcher(matcher, f"{where}.headers[{index}]")
                  for index, matcher in enumerate(action.headers)]
        entry = (key, action.value)
        expect = action.expect_match

        def header_value_match(stream, _):
            request = stream.request
            matched = all(check(request.headers, request.host, request.target, request.method,
                                _SCHEME) for check in checks)
            return entry if matched == expect else None
        return header_value_match
    if kind == "remote_address":
        return lambda stream, _: (key, stream.connection.remote_ip) if _is_ip(stream) else None
    if kind == "masked_remote_address":
        v4, v6 = action.v4_prefix_mask_len, action.v6_prefix_mask_len

        def masked_remote_address(stream, _):
            try:
                address = ipaddress.ip_address(stream.connection.remote_ip)
            except ValueError:
                return None
            length = v4 if address.version == 4 else v6
            return key, str(ipaddress.ip_network(f"{address}/{length}", strict=False))
        return masked_remote_address
    if kind == "source_cluster":
        return lambda stream, local_cluster: (key, local_cluster)
    if kind == "destination_cluster":
        return lambda stream, _: _destination(stream, key)
    raise ValueError(f"{where}: unknown rate limit action {kind!r}")


def _destination(stream, key):
    """The route's cluster: its ``cluster``, the weighted cluster the stream was given, or the
    one its cluster_header names (a weighted pick is not made here: it is the router's)."""
    route = stream.route
    if route is None:
        return None
    name = route.cluster_name
    if name is None:
        weighted = getattr(stream, "weighted", None)
        action = route.config.route
        if weighted is not None:
            name = weighted.name
        elif action is not None and action.cluster_header:
            name = route.pick_cluster(stream.request.headers)[0]
    return (key, name) if name else None


def _is_ip(stream):
    address = stream.connection.remote_ip
    return bool(address) and not address.startswith("/")
