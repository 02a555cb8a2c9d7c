"""A stream's access-log entry: the StreamInfo the access logs print, made when it ends."""
from __future__ import annotations

from time import monotonic, time

from ..stream_info import StreamInfo


def log_stream(conn, stream):
    """Hand ``stream``'s StreamInfo to the access logs, once, with what is known at its end:
    the facts of accesslog's ON_DEMAND_FACTS only when a format may read them (or tracing,
    whose logs do not say)."""
    if stream.logged:
        return
    stream.logged = True
    now = monotonic()
    started = stream.start
    info = stream.info
    # written out, not _connection_facts: this runs for every request
    info.start_time = time() - (now - started)
    info.start_monotonic = started
    info.protocol = conn.protocol
    info.response_complete_ms = (now - started) * 1000
    head = stream.head
    info.method = head.method
    info.path = head.target
    info.request_headers = head.headers
    hcm = conn.hcm
    # popped whatever the logs read: the router keeps a count per stream until then
    attempts = hcm.router.retries.attempt_counts.pop(stream, 0)
    logs = hcm.access_logs
    if getattr(logs, "every_fact", True):
        info.scheme = conn.scheme
        info.downstream_tls = conn.tls
        info.downstream_remote_address = info.downstream_direct_remote_address = conn.remote_address
        info.downstream_local_address = conn.local_address
        info.downstream_direct_local_address = conn.direct_local_address
        if info.request_complete_ms is not None and info.upstream_service_time_ms is not None:
            info.first_upstream_rx_ms = info.request_complete_ms + info.upstream_service_time_ms
        cluster = stream.cluster
        info.upstream_cluster = cluster.name if cluster is not None else None
        # Envoy counts the first attempt once a cluster is chosen, a host or not (probed)
        info.upstream_request_attempt_count = attempts or int(cluster is not None)
        route = stream.route
        info.route_name = route.name if route is not None else None
    logs.log(info)


def log_unparsed(conn, status, body_length):
    """A request that never got past its head still shows in the access log, as in Envoy."""
    now = monotonic()
    info = StreamInfo()
    _connection_facts(conn, info, now, now)
    info.response_code = status
    info.bytes_sent = body_length
    info.response_flags = {"DPE"} if status != 408 else set()
    conn.hcm.access_logs.log(info)


def _connection_facts(conn, info, started, now):
    info.start_time = time() - (now - started)
    info.start_monotonic = started
    info.protocol = conn.protocol
    info.scheme = conn.scheme
    info.downstream_tls = conn.tls
    info.response_complete_ms = (now - started) * 1000
    info.downstream_remote_address = info.downstream_direct_remote_address = conn.remote_address
    info.downstream_local_address = conn.local_address
    info.downstream_direct_local_address = conn.direct_local_address
