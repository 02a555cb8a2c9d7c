"""One HTTP/1.1 request of the proxy's own to a cluster, its whole response read back: what
filters use for callouts (ext_authz's authorization check).

It borrows a connection from the worker's pool for a host the cluster picks, as the router does,
and gives it back reusable when the exchange ended cleanly. The cluster counts it as Envoy counts
an async client's request (upstream_rq_total, upstream_rq_<class>, the request time). It runs in
the calling greenlet: the caller's stream waits, and ``timeout`` bounds the whole exchange,
connecting included. Every failure is a ``SideRequestFailed``; none reaches the caller otherwise.
"""
from __future__ import annotations

import time

import gevent

from ..errors import ProtocolError
from ..sockio import send_all
from ..upstream.connect import ConnectFailure
from ..upstream.request import give_back, take_connection
from .http1.serialize import request_head
from .router.own_response import ResponseCut, read_response

#: a response body beyond this is no answer a callout can use
MAX_BODY_BYTES = 1024 * 1024


class SideRequestFailed(Exception):
    """No complete response: ``reason`` is "no_cluster", "no_healthy_upstream", "overflow",
    "connect_failure", "timeout", "reset" or "protocol_error"."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class SideResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # (lower-case name, value) byte pairs, hop-by-hop ones left out
        self.body = body


def send(cluster_manager, cluster_name, method, target, headers, body=b"", timeout=None):
    """Send ``method target`` with ``headers`` (byte pairs, Host among them) and ``body`` to the
    cluster named ``cluster_name``; returns its SideResponse or raises SideRequestFailed. The
    body is framed by a Content-Length (in the place of the caller's, if it gave one)."""
    cluster = cluster_manager.get(cluster_name) if cluster_manager is not None else None
    if cluster is None:
        raise SideRequestFailed("no_cluster")
    host = cluster.pick_host()
    if host is None:
        raise SideRequestFailed("no_healthy_upstream")
    length = b"%d" % len(body)
    framed = [(name, length) if name == b"content-length" else (name, value)
              for name, value in headers if name != b"transfer-encoding"]
    if not any(name == b"content-length" for name, _ in framed):
        framed.append((b"content-length", length))
    request = request_head(method, target, framed) + body
    stats = cluster.stats
    stats.upstream_rq_total += 1
    timer = gevent.Timeout(timeout, SideRequestFailed("timeout")) if timeout else None
    if timer is not None:
        timer.start()
    try:
        return _exchange(cluster, host, request, method == b"HEAD")
    except SideRequestFailed as failure:
        if failure.reason == "timeout":
            stats.upstream_rq_timeout += 1
        raise
    finally:
        if timer is not None:
            timer.close()


def _exchange(cluster, host, request, head_only):
    try:
        upstream = take_connection(cluster, host, host.pool)
    except ConnectFailure as failure:
        raise SideRequestFailed("overflow" if str(failure) == "overflow" else "connect_failure") from None
    reusable = False
    sent_at = time.monotonic()
    try:
        send_all(upstream.sock, request)
        response, reusable = _read_response(cluster, upstream, head_only)
        cluster.rq_time.record((time.monotonic() - sent_at) * 1000)
        return response
    except OSError:
        raise SideRequestFailed("reset") from None
    except ProtocolError:
        raise SideRequestFailed("protocol_error") from None
    finally:
        give_back(cluster, upstream, reusable)


def _read_response(cluster, upstream, head_only):
    """(SideResponse, whether the connection may be reused)."""
    body = []
    size = 0

    def keep(piece):
        nonlocal size
        size += len(piece)
        if size > MAX_BODY_BYTES:
            raise SideRequestFailed("protocol_error")
        body.append(piece)

    try:
        head, reusable = read_response(cluster, upstream, head_only, keep)
    except ResponseCut:
        raise SideRequestFailed("reset") from None
    if head is None:
        raise SideRequestFailed("protocol_error")
    return SideResponse(head.status, head.headers, b"".join(body)), reusable
