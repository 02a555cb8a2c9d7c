"""The replies a downstream connection sends by itself when a request goes wrong outside the
router: a request the codec refused, and a request or connection that timed out."""
from __future__ import annotations

import time

from ..deadlines import NEVER
from ..sockio import send_all
from . import local_reply
from .stream_log import log_unparsed


def protocol_error_reply(conn, error):
    """A request the codec refused: its 4xx, then the connection closes."""
    stream = conn.stream
    if stream is not None and stream.responded:
        return
    hcm = conn.hcm
    if stream is None:
        hcm.stats.downstream_rq_total += 1
    if error.status == 431:
        hcm.stats.downstream_rq_too_large += 1
    hcm.count_response(error.status)
    body = local_reply.PROTOCOL_ERROR_BODIES.get(error.status, b"")
    if stream is not None:
        stream.info.response_code = error.status
        stream.info.bytes_sent = len(body)
        stream.flag("DPE")
    elif hcm.logging:
        log_unparsed(conn, error.status, len(body))
    try:
        send_all(conn.sock, local_reply.encode(error.status, body, hcm.server_name, close=True))
        conn.close()
    except OSError:
        pass


def timeout_reply(conn):
    """The connection's deadline passed: an idle connection closes silently, a request that
    has not been answered gets its 408 first."""
    conn.deadline = NEVER
    hcm = conn.hcm
    stats = hcm.stats
    stream = conn.stream
    if not conn.decoder.mid_message and stream is None:
        if time.monotonic() >= conn.max_duration_at:
            stats.downstream_cx_max_duration_reached += 1
        else:
            stats.downstream_cx_idle_timeout += 1
        return  # an idle keep-alive connection: closed silently
    if stream is not None and stream.responded:
        return
    if stream is None:
        stats.downstream_rq_total += 1
        stats.downstream_rq_header_timeout += 1
        body = b"request header timeout" if hcm.request_headers_timeout else b"request timeout"
        if hcm.logging:
            log_unparsed(conn, 408, len(body))
    elif hcm.request_timeout and time.monotonic() >= conn.request_deadline > 0:
        stats.downstream_rq_timeout += 1
        body = b"request timeout"
        stream.flag("DT")
    else:
        stats.downstream_rq_idle_timeout += 1
        body = b"stream timeout"
        stream.flag("SI")
    if stream is not None:
        stream.info.response_code = 408
        stream.info.bytes_sent = len(body)
    hcm.count_response(408)
    try:
        send_all(conn.sock, local_reply.encode(408, body, hcm.server_name, close=True))
        conn.close()
    except OSError:
        pass
