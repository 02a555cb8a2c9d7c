"""Answering a request from the proxy itself: the one local-reply path that the connection's
own checks, the router and the filters all take. A stream with filters has its reply encoded by
them (filtered_stream.py); one without gets Envoy's local reply bytes (local_reply.py)."""
from __future__ import annotations

from ..sockio import send_all
from . import local_reply
from .control import CloseConnection
from .filtered_stream import encode_local_reply
from .filters.health_check import FAILED_HEADER
from .grpc import DEADLINE_EXCEEDED, is_grpc, trailers_only


def answer(conn, stream, status, body, close=False, extra=(), flag=None, leading=()):
    """Answer ``stream`` from the proxy on ``conn``. A reply sent before the request body was read closes the
    connection afterwards (Envoy: the unread body cannot be trusted to end where it says).
    Once the request was routed, the route's response header mutations apply, as to an
    upstream's response (Envoy: direct responses, redirects and the router's own replies —
    no healthy upstream, connect failures, timeouts — alike)."""
    hcm = conn.hcm
    route = stream.route
    if route is not None and route.has_response_mutations:
        extra = route.mutate_response(list(extra), stream.weighted, conn)
    head = stream.head
    if head.has_body and stream.pending_reply is None and not stream.body_done:
        close = True
    close = close or stream.close
    stream.close = close
    if is_grpc(head.headers):
        # a gRPC client reads the outcome from grpc-status, in a trailers-only response
        timed_out = stream.info.response_code_details == "max_duration_timeout"
        grpc_status = DEADLINE_EXCEEDED if timed_out else None
        leading = [*leading, *trailers_only(status, body, grpc_status)]
        status, body = 200, b""
    stream.info.response_code = status
    stream.responded = True
    if flag is not None:
        stream.flag(flag)
        if stream.info.response_code_details is None:
            stream.info.response_code_details = local_reply.DETAILS_BY_FLAG.get(flag)
    if head.method != b"HEAD" and stream.filters is None:
        stream.info.bytes_sent = len(body)
    if stream.health_check_failed and FAILED_HEADER not in extra:
        extra = [*extra, FAILED_HEADER]
    hcm.count_response(status)
    if status == 413 and stream.info.response_code_details == "request_payload_too_large":
        hcm.stats.downstream_rq_too_large += 1  # a filter's buffer overflowed, as Envoy counts it
    if stream.filters is None:
        send_all(conn.sock, local_reply.encode(status, body, hcm.server_name, close,
                                               head.method == b"HEAD", extra, leading))
    else:
        encode_local_reply(conn, stream, status, body, close, extra, leading)
    if close:
        raise CloseConnection()
