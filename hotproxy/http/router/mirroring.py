"""Request mirroring (route ``request_mirror_policies``): a copy of each request goes to a shadow
cluster, fire and forget.

When a request is routed, ``Mirrors.start`` decides which policies mirror it (runtime_fraction:
its runtime key's value when the runtime has one, else its default_value; cluster_header) and
keeps its body pieces as framed for the upstream, up to the buffer limit (past it the copy is
dropped and ``retry_or_shadow_abandoned`` counted). Once the request is complete, each copy is sent from its own greenlet: the head the primary upstream got,
its Host (authority) suffixed "-shadow" unless disable_shadow_host_suffix_append, and the body.
The shadow's response is read and dropped; its failures and delays are never seen by the client,
and the primary response is never held back for it. The shadow cluster counts the request as
Envoy's does (upstream_rq_total, upstream_rq_<class>); its time is bounded by the route timeout
(or the stream idle timeout when the route has none).
"""
from __future__ import annotations

import random
import re
import time

import gevent

from ...config.runtime import RuntimeFraction
from ...sockio import send_all
from ...upstream.connect import ConnectFailure
from ...upstream.request import give_back, take_connection
from ..filters.route_policy import drawer
from ..http1.serialize import LAST_CHUNK
from .own_response import read_response

_HOST_LINE = re.compile(rb"\r\nhost:[ \t]*([^\r]*)\r\n", re.IGNORECASE)


def shadow_host(host):
    """Envoy's shadow authority: "-shadow" after the host, before any port."""
    if host.startswith(b"["):
        end = host.find(b"]") + 1
        return host[:end] + b"-shadow" + host[end:] if end else host + b"-shadow"
    name, colon, port = host.rpartition(b":")
    if colon and port.isdigit():
        return name + b"-shadow:" + port
    return host + b"-shadow"


def shadow_head(request_head, suffix):
    """The primary's encoded request head as the shadow gets it."""
    if not suffix:
        return request_head
    return _HOST_LINE.sub(lambda m: b"\r\nhost: " + shadow_host(m.group(1)) + b"\r\n",
                          request_head, count=1)


class MirrorPolicies:
    """A route's policies: ``targets(headers) -> [(cluster_name, host_suffix)]`` for one request."""

    __slots__ = ("_policies",)

    def __init__(self, policies, rng=random):
        self._policies = tuple((policy.cluster, policy.cluster_header and policy.cluster_header.encode(),
                                drawer(_fraction_of(policy), rng), policy.host_suffix)
                               for policy in policies)

    def targets(self, headers):
        chosen = []
        for cluster, header, draw, suffix in self._policies:
            if not draw():
                continue
            if header is not None:
                cluster = next((value.decode("latin-1") for name, value in headers
                                if name == header), None)
                if not cluster:
                    continue
            chosen.append((cluster, suffix))
        return chosen


class Copy:
    """One request's copies in the making: their targets and the body kept so far (None once it
    outgrew ``limit``)."""

    __slots__ = ("targets", "body", "size", "limit")

    def __init__(self, targets, limit):
        self.targets = targets
        self.body = []
        self.size = 0
        self.limit = limit


class Mirrors:
    """The router's mirroring half, one per connection manager (so per worker)."""

    def __init__(self, router):
        self.router = router
        self.copies = {}            # stream → Copy, from routing to the end of the request

    def start(self, stream, headers, limit):
        targets = stream.route.mirrors.targets(headers)
        if targets:
            self.copies[stream] = Copy(targets, limit)

    def keep(self, stream, piece, size):
        copy = self.copies.get(stream)
        if copy is None or copy.body is None:
            return
        copy.size += size
        if copy.size > copy.limit:
            copy.body = None
            if stream.route.retry is None:     # a retrying route counts it once, for both
                stream.cluster.stats.retry_or_shadow_abandoned += 1
            return
        copy.body.append(piece)

    def forget(self, stream):
        self.copies.pop(stream, None)

    def send(self, stream):
        """The request is complete: send its copies, each from a greenlet of its own."""
        copy = self.copies.pop(stream, None)
        if copy is None or copy.body is None or not stream.request_bytes:
            return
        body = b"".join(copy.body) + (LAST_CHUNK if stream.chunked else b"")
        route = stream.route
        timeout = route.timeout or self.router.stream_idle_timeout or None
        head_only = stream.head.method == b"HEAD"
        clusters = self.router.clusters
        for name, suffix in copy.targets:
            cluster = clusters.get(name)
            if cluster is not None:
                gevent.spawn(_exchange, cluster, shadow_head(stream.request_bytes, suffix) + body,
                             timeout, head_only)


def _exchange(cluster, request, timeout, head_only):
    """Send one copy and read its response to the end; every failure stays here."""
    host = cluster.pick_host()
    if host is None:
        return
    cluster.stats.upstream_rq_total += 1
    try:
        upstream = take_connection(cluster, host, host.pool)
    except ConnectFailure:
        return
    reusable = False
    sent_at = time.monotonic()
    try:
        with gevent.Timeout(timeout, False):
            send_all(upstream.sock, request)
            reusable = read_response(cluster, upstream, head_only)[1]
        if reusable:
            cluster.rq_time.record((time.monotonic() - sent_at) * 1000)
    except Exception:   # noqa: BLE001 - a shadow's failure is never the client's
        reusable = False
    finally:
        give_back(cluster, upstream, reusable)


def _fraction_of(policy):
    """A policy's runtime_fraction as ``drawer`` takes it: keyed, or its plain default."""
    if policy.runtime_key:
        return RuntimeFraction(policy.numerator, policy.denominator, policy.runtime_key)
    return policy.numerator, policy.denominator
