"""The response head a client gets for an upstream's (Envoy's header rules: service time,
Server, Date, the route's mutations, framing), and the small header helpers the router shares.
"""
from __future__ import annotations

from time import monotonic

from ...stats.schema import DOWNSTREAM_RQ_CLASSES, count_status_class
from ...upstream.health.passive import report_immediate_fail
from ..date import http_date
from ..filters.api import Response
from ..filters.health_check import FAILED_HEADER
from ..headers import PLAIN_CONNECTION_VALUES, nominated_headers, strip_hop_by_hop
from ..http1.codec import END, ResponseDecoder
from ..http1.serialize import response_head

# How the response body is framed for the client.
NONE, RAW, CHUNKED = "none", "raw", "chunked"
#: the stream's filters take the response (http/filter_chain.py), and frame it after them
FILTERED = "filtered"
NO_BODY_STATUS = frozenset((204, 304))
_new = object.__new__
#: b"0" … b"999": a service time in milliseconds, without formatting one a response
_DECIMALS = tuple(b"%d" % ms for ms in range(1000))
CLASS_STATS = ("upstream_rq_1xx", "upstream_rq_2xx", "upstream_rq_3xx", "upstream_rq_4xx",
               "upstream_rq_5xx")


def downstream_head(router, stream, head, out, sent_at, head_only, conn, attempt):
    """Queue the downstream response head for the upstream's ``head`` in ``out``; returns the
    body framing to use (NONE, RAW or CHUNKED)."""
    status = head.status
    info = stream.info
    info.response_code = status
    info.response_code_details = "via_upstream"
    stream.responded = True
    cluster = stream.cluster
    upstream = stream.upstream
    host = upstream.pool.host
    cluster_stats = cluster.stats
    cluster_stats.upstream_rq_completed += 1
    cluster.response_codes[status] += 1
    if 200 <= status < 300:     # the common case, without count_status_class's lookups
        cluster_stats.upstream_rq_2xx += 1
        router.stats.downstream_rq_2xx += 1     # the connection manager's
        host.stats.rq_success += 1
    else:
        count_status_class(cluster_stats, CLASS_STATS, status)
        count_status_class(router.stats, DOWNSTREAM_RQ_CLASSES, status)
        if status >= 500:
            host.stats.rq_error += 1
        else:
            host.stats.rq_success += 1
    if cluster.outlier_detection is not None and status >= 200:
        cluster.record_outcome(host, status)
    if cluster.health_reporter is not None:
        report_immediate_fail(cluster, host, head.headers)
    upstream.keep_alive = head.keep_alive
    headers = head.headers  # the hop-by-hop ones are not in it
    server_at, has_date = head.server_at, head.has_date  # -2: not known, look
    connection = head.connection
    if connection is not None and connection not in PLAIN_CONNECTION_VALUES:
        nominated = nominated_headers(connection)
        if nominated:
            headers = strip_hop_by_hop(headers, nominated, ())
            server_at = -2
    service_time_ms = int((monotonic() - sent_at) * 1000)
    info.upstream_service_time_ms = service_time_ms
    headers.append((b"x-envoy-upstream-service-time",
                    _DECIMALS[service_time_ms] if service_time_ms < 1000 else b"%d" % service_time_ms))
    if router.tracer is not None:
        decorated = router.tracer.response_header(stream)
        if decorated is not None:
            headers.append(decorated)
    if attempt is not None and attempt.count_in_response:
        headers.append((b"x-envoy-attempt-count", b"%d" % attempt.state.attempts))
    route = stream.route
    if route.has_response_mutations:     # a cookie-making hash policy counts as one
        cookies = stream.cookies() if route.makes_cookies else None
        if cookies is not None:
            headers.extend((b"set-cookie", value) for value in cookies)
        headers = route.mutate_response(headers, stream.weighted, conn)
        server_at = -2
    if server_at == -2:
        server_at, has_date = set_server(headers, router.server_name)
    elif server_at >= 0:
        headers[server_at] = (b"server", router.server_name)
    if not has_date:
        headers.append((b"date", http_date()))
    if server_at == -1:
        headers.append((b"server", router.server_name))
    if stream.health_check_failed:
        headers.append(FAILED_HEADER)
    if stream.close:
        if stream.head.upgrade is not None or stream.head.method == b"CONNECT":
            # a refused upgrade (or CONNECT): Envoy adds the service time only once the
            # downstream request ended, which a tunnel's never does (upgrade.py closes)
            _drop_service_time(headers)
        headers.append((b"connection", b"close"))
    if stream.filters is not None:
        headers = _through_filters(stream, status, head, headers, head_only)
        if headers is None:
            return FILTERED
    if status in NO_BODY_STATUS or status < 200:
        framing = NONE
    elif head.content_length is not None:
        framing = NONE if head_only else RAW
    else:
        # chunked, or delimited by the upstream closing: chunk-framed for the client
        framing = NONE if head_only else CHUNKED
        headers.append((b"transfer-encoding", b"chunked"))
    info.response_headers = headers
    out.append(response_head(status, headers))
    return framing


def _through_filters(stream, status, head, headers, head_only):
    """The response head through the stream's encode filters. Returns its header list when
    this function's caller frames the body after all, as without filters: every filter
    continued, none has a body hook (``router_frames``), and the head frames it as the filters'
    sink would (filtered_stream.encode_head). Else None: the filters took the head, and frame
    the response after them (FILTERED)."""
    response = stream.response = _new(Response)    # Response(status, headers), no __init__ call
    response.status = status
    response.headers = headers
    no_body = (head_only or status in NO_BODY_STATUS or status < 200
               or head.content_length == b"0")
    manager = stream.filters
    if not manager.router_frames:
        manager.encode_headers(no_body)
        return None
    if not manager.encode_headers(no_body, to_sink=False):
        return None         # a filter holds the head
    headers = response.headers
    if response.status == status:
        if status in NO_BODY_STATUS or status < 200:
            return headers
        length = head.content_length
        if length is not None:
            if (b"content-length", length) in headers:  # the body's length, as the filters left it
                return headers
        else:
            # chunk-framed (a HEAD's head says so too), as the sink frames it, unless a filter
            # gave it a length; no filter has an encode_trailers hook, so the router forwards
            # the trailers as without filters
            for name, _ in headers:
                if name == b"content-length":
                    break
            else:
                return headers
    manager.head_to_sink(no_body)
    return None


def _drop_service_time(headers):
    for index, item in enumerate(headers):
        if item[0] == b"x-envoy-upstream-service-time":
            del headers[index]
            return


def set_server(headers, server_name):
    """Every Server header becomes ``server_name``. Returns (the index of the last one or -1,
    whether there is a Date header)."""
    server_at, has_date = -1, False
    for index, item in enumerate(headers):
        name = item[0]
        if name == b"server":
            headers[index] = (b"server", server_name)
            server_at = index
        elif name == b"date":
            has_date = True
    return server_at, has_date


def response_decoder(cluster_config):
    """The decoder of a new upstream connection, with its cluster's response head bounds."""
    return ResponseDecoder(cluster_config.max_response_headers_kb * 1024,
                           cluster_config.max_response_headers_count)


def parser_takes_rest(events):
    """Whether the bytes after a head that ``events`` came from go to the parser too: the
    message is not complete and its body is not framed by a Content-Length (as
    ``downstream_head`` frames it for a request other than HEAD)."""
    if END in events:
        return False
    head = events[0] if events else None
    return not (head is not None and head.__class__ is not bytes and head.content_length is not None
                and head.status >= 200 and head.status not in NO_BODY_STATUS)


def set_header(headers, name, value):
    for index, item in enumerate(headers):
        if item[0] == name:
            headers[index] = (name, value)
            return
    headers.append((name, value))
