"""One unary gRPC call of ext_authz, ``envoy.service.auth.v3.Authorization/Check``, over a stream of
the cluster's HTTP/2 upstream pool (upstream/http2_pool.py), in the calling greenlet.

The request is a POST to ``/envoy.service.auth.v3.Authorization/Check`` with ``:authority`` the
service's ``authority`` (else the cluster's name), ``content-type: application/grpc``,
``te: trailers``, ``grpc-timeout`` and, as Envoy's async client adds them,
``x-envoy-internal: true`` and ``x-envoy-expected-rq-timeout-ms``, then ``initial_metadata``;
its body is the one length-prefixed message. The answer is the response's message once its
gRPC status is OK (in trailers, or in a trailers-only response). Everything else raises
``CallFailed``: a cluster that is missing or does not speak HTTP/2, no healthy host, a connect
failure, a reset, a non-200 or non-OK answer, or the ``timeout`` that bounds the whole call.
"""
from __future__ import annotations

import struct

import gevent

from ...upstream.connect import ConnectFailure
from ...upstream.http2_pool import StreamEnded
from ...upstream.request import give_back, take_connection
from ..http2 import events as ev
from ..router.h2_exchange import attach_pools

PATH = b"/envoy.service.auth.v3.Authorization/Check"
#: a CheckResponse beyond this is no answer (gRPC's default max receive size)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class CallFailed(Exception):
    """No usable answer: ``reason`` says why (for logs and tests)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class GrpcCheck:
    """Calls the service of one filter config: the request head is made once."""

    def __init__(self, cluster_manager, service):
        self.cluster_manager = cluster_manager
        self.service = service
        if cluster_manager is not None:
            attach_pools(cluster_manager)   # idempotent: the router's pools, once per worker
        timeout_ms = round(service.timeout * 1000)
        self.headers = [
            (b":method", b"POST"), (b":scheme", b"http"),
            (b":authority", (service.authority or service.cluster).encode()),
            (b":path", PATH), (b"content-type", b"application/grpc"), (b"te", b"trailers"),
            (b"grpc-timeout", b"%dm" % timeout_ms), (b"x-envoy-internal", b"true"),
            (b"x-envoy-expected-rq-timeout-ms", b"%d" % timeout_ms),
            *((name.encode(), value.encode()) for name, value in service.initial_metadata)]

    def call(self, message):
        """The serialized CheckResponse for the serialized CheckRequest ``message``."""
        manager = self.cluster_manager
        cluster = manager.get(self.service.cluster) if manager is not None else None
        if cluster is None:
            raise CallFailed("no_cluster")
        pools = getattr(cluster, "http2", None)
        if pools is None:
            raise CallFailed("not_http2")
        host = cluster.pick_host()
        if host is None:
            raise CallFailed("no_healthy_upstream")
        cluster.stats.upstream_rq_total += 1
        host.stats.rq_total += 1
        timer = gevent.Timeout(self.service.timeout or None)
        request = None
        timer.start()
        try:
            request = take_connection(cluster, host, pools.pool(host))
            request.open(self.headers, False)
            request.send_data(struct.pack(">BI", 0, len(message)) + message, True)
            return _answer(request)
        except ConnectFailure as failure:
            raise CallFailed(failure.reason) from None
        except StreamEnded as ended:
            raise CallFailed(ended.reason) from None
        except gevent.Timeout as expired:
            if expired is not timer:
                raise
            cluster.stats.upstream_rq_timeout += 1
            raise CallFailed("timeout") from None
        finally:
            timer.close()
            if request is not None:     # an unfinished stream is reset, the connection stays
                give_back(cluster, request, True)


def _answer(request):
    """Read the response: its message once the gRPC status is OK."""
    body = bytearray()
    status = None
    while True:
        event = request.next_event()
        kind = event.__class__
        if kind is ev.ResponseHeaders:
            if event.status != 200:
                request.complete = event.end_stream
                raise CallFailed(f"http_{event.status}")
            status = _grpc_status(event.headers)
            end = event.end_stream
        elif kind is ev.ResponseData:
            body += event.data
            request.consumed(event.flow_length)
            if len(body) > MAX_MESSAGE_BYTES + 5:
                raise CallFailed("too_large")
            end = event.end_stream
        elif kind is ev.ResponseTrailers:
            status = _grpc_status(event.headers)
            end = True
        else:
            continue        # a 1xx
        if end:
            request.complete = True
            break
    if status != b"0":
        raise CallFailed(f"grpc_status_{(status or b'missing').decode('latin-1')}")
    if len(body) < 5 or body[0] != 0:
        raise CallFailed("bad_message")     # none, or compressed (none was offered)
    length = struct.unpack_from(">I", body, 1)[0]
    if len(body) != 5 + length:
        raise CallFailed("bad_message")
    return bytes(body[5:])


def _grpc_status(headers):
    for name, value in headers:
        if name == b"grpc-status":
            return value.strip()
    return None
