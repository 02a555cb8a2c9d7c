"""The connection manager's checks of a new request before routing that may answer it: the
overload manager's actions, and the config's path normalizations."""
from __future__ import annotations

from . import local_reply
from .request_normalization import FORWARD, REJECT, REJECT_HEADERS


def overloaded(conn, stream, overload):
    """Envoy's overload actions on a new request, where Envoy applies them (after the codec,
    before Host and every other check): disable_http_keepalive makes this response the
    connection's last, stop_accepting_requests answers 503. True when answered."""
    hcm = conn.hcm
    if not hcm.draining and overload.disables_keepalive():
        stream.close = True
        hcm.stats.downstream_cx_overload_disable_keepalive += 1
    if not overload.stops_request():
        return False
    hcm.stats.downstream_rq_overload_close += 1
    head = stream.head
    # a CONNECT or an upgrade has no end to wait for: the connection cannot continue
    conn.local_reply(stream, 503, local_reply.OVERLOADED,
                     close=head.method == b"CONNECT" or head.upgrade is not None)
    return True

def normalized_target(conn, stream, head, target):
    """The target to route after the config's normalizations, or None when the request was
    answered (400 for what is refused, 307 to an unescaped path)."""
    hcm = conn.hcm
    outcome, target = hcm.normalizer.apply(head, target, conn.sock.getsockname()[1],
                                           conn.codec_stats)
    if outcome is FORWARD:
        return target
    if outcome is REJECT_HEADERS:
        conn.reject_malformed(stream)
    elif outcome is REJECT:
        hcm.stats.downstream_rq_failed_path_normalization += 1
        conn.local_reply(stream, 400, b"", close=True)
    else:
        hcm.stats.downstream_rq_redirected_with_normalized_path += 1
        conn.local_reply(stream, 307, b"", extra=[(b"location", target)])
    return None
