"""Where a request meets the router filter, the terminal one: a route answers by itself (no
route, a direct response, a redirect) or the request goes to the upstream."""
from __future__ import annotations

from ...sockio import send_all
from .grpc_timeout import grpc_timed, takes_grpc_timeout
from .route_table import DIRECT_RESPONSE, REDIRECT, ROUTE

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def route_request(conn, stream, target, decorate):
    """The router's part, at the end of the filters: the route's own answer (no route, a direct
    response, a redirect) or the upstream. ``decorate``: request_headers.forwarded_headers, or
    None when the filters saw the headers decorated already."""
    hcm = conn.hcm
    stats = hcm.stats
    head = stream.head
    route = stream.route
    if route is None:
        stats.no_route += 1
        return conn.local_reply(stream, 404, b"", flag="NR")
    kind = route.kind
    if kind is not ROUTE:
        stream.info.response_code_details = "direct_response"
    if kind is DIRECT_RESPONSE:
        stats.rq_direct_response += 1
        location = route.direct_location(redirect_scheme(head, conn.scheme), head.host, target)
        extra = [(b"location", location)] if location is not None else []
        return conn.local_reply(stream, route.direct_status, route.direct_body or b"",
                                extra=extra)
    if kind is REDIRECT:
        stats.rq_redirect += 1
        location = route.redirect_location(redirect_scheme(head, conn.scheme), head.host, target)
        return conn.local_reply(stream, route.redirect_status, b"",
                                extra=[(b"location", location)])
    if route.extras and takes_grpc_timeout(route, head.headers):
        stream.route = grpc_timed(route, head.headers)
    if decorate is None:
        return hcm.router.start(stream, conn, target, head.headers)
    if head.expect_continue:
        send_all(conn.sock, CONTINUE)
    hcm.router.start(stream, conn, target, decorate(conn, stream))


def redirect_scheme(head, connection_scheme):
    """The scheme redirects keep: the client's x-forwarded-proto, else the connection's."""
    for name, value in head.headers:
        if name == b"x-forwarded-proto":
            return value
    return connection_scheme
