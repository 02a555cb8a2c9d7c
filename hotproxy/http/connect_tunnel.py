"""CONNECT requests on HTTP/1.1, as the Envoy 1.40 binary answers them (probed):

- only ``connect_matcher`` routes take a CONNECT, and no other route does: none matching is 404;
- a matching route where CONNECT is not enabled (its own ``upgrade_configs``, else the
  connection manager's) is 403;
- with ``connect_config`` on the route's CONNECT entry the CONNECT ends here: the client gets
  ``200 OK`` (date, server) and its bytes go over TCP to a host of the route's cluster and back
  until either side closes (network/pump.py; splice where both ends are plain TCP);
- enabled without ``connect_config``, the CONNECT itself goes to the (HTTP) upstream, and the
  tunnel opens on its 2xx (upgrade.py).

A tunnel counts as an upgrade (``downstream_cx_upgrades_*``) and ends the downstream connection.
"""
from __future__ import annotations

from ..network.pump import Relay
from ..sockio import send_all
from ..upstream.connect import ConnectFailure, connect
from . import local_reply
from .control import CloseConnection
from .date import http_date
from .request_headers import forwarded_headers
from .router.route_table import ROUTE
from .router.terminal import route_request
from .upgrade import route_upgrade, tunnel

_CONNECT = b"connect"


def connect_request(conn, stream):
    """Answer or tunnel the CONNECT request ``stream`` on HTTP/1.1 ``conn``; the connection ends
    after."""
    decided = connect_route(conn, stream)
    if decided is None:
        return None
    route, terminate = decided
    if terminate:
        return _terminate(conn, stream, route)
    return tunnel(conn, stream, stream.head.target)


def connect_route(conn, stream):
    """The route of the CONNECT request ``stream`` and whether the CONNECT ends here: (route,
    terminate); None when the request was answered (404, 403, a direct response)."""
    hcm = conn.hcm
    head = stream.head
    stream.close = True
    route = stream.route = hcm.route_table.match_connect(head.host, head.headers, conn.scheme)
    if route is None:
        hcm.stats.no_route += 1
        conn.local_reply(stream, 404, b"", close=True, flag="NR")
        return None
    if route.kind is not ROUTE:
        route_request(conn, stream, head.target, forwarded_headers)
        return None
    entry = route_upgrade(route, _CONNECT)
    enabled = entry[1] if entry is not None else hcm.upgrades.get(_CONNECT, False)
    if not enabled:
        conn.local_reply(stream, 403, b"", close=True)
        return None
    return route, entry is not None and entry[2]


def _terminate(conn, stream, route):
    opened = open_tcp(conn, stream, route)
    if opened is None:
        return None
    upstream, done = opened
    hcm = conn.hcm
    try:
        send_all(conn.sock, b"HTTP/1.1 200 OK\r\ndate: %s\r\nserver: %s\r\n\r\n"
                 % (http_date(), hcm.server_name))
        if conn.decoder.upgrade_tail:
            send_all(upstream, conn.decoder.upgrade_tail)
        relay = Relay(conn.sock, upstream, hcm.deadlines, hcm.stream_idle_timeout)
        relay.run()
        stream.info.bytes_received += relay.bytes_up
        stream.info.bytes_sent += relay.bytes_down
    finally:
        done()
    raise CloseConnection()


def open_tcp(conn, stream, route):
    """A TCP connection to a host of the route's cluster for a terminated CONNECT, counted as an
    upgrade: (the socket, ``done()`` to call when the tunnel ends); None when the request was
    answered instead (no cluster, no host, the breaker full, the connect failed)."""
    hcm = conn.hcm
    head = stream.head
    name = route.cluster_name
    if name is None:
        name, stream.weighted = route.pick_cluster(head.headers)
    cluster = hcm.router.clusters.get(name) if name is not None else None
    if cluster is None:
        hcm.router.stats.no_cluster += 1
        conn.local_reply(stream, 503, b"", close=True, flag="NC")
        return None
    stream.cluster = cluster
    host = cluster.pick_host(None, conn.sock, head.headers)
    if host is None:
        conn.local_reply(stream, 503, local_reply.NO_HEALTHY_UPSTREAM, close=True, flag="UH")
        return None
    stream.info.upstream_host = host.label
    connections = cluster.breakers.connections
    if not connections.try_acquire():
        cluster.breaker_stats.upstream_cx_overflow += 1
        conn.local_reply(stream, 503, local_reply.CONNECT_ERROR + b"overflow", close=True,
                         flag="UO", leading=local_reply.OVERFLOW_HEADERS)
        return None
    try:
        upstream = connect(host, cluster.stats, cluster.config.connect_timeout, host.transport,
                           None, cluster.config.upstream_bind_config)
    except ConnectFailure as failure:
        connections.release()
        conn.local_reply(stream, 503, local_reply.CONNECT_ERROR + failure.reason.encode(),
                         close=True, flag="UF")
        return None
    stats = hcm.stats
    stats.downstream_cx_upgrades_total += 1
    stats.downstream_cx_upgrades_active += 1
    host.active_requests += 1
    stream.info.response_code = 200
    stream.responded = True
    hcm.count_response(200)
    conn.set_deadline(float("inf"))     # the tunnel's idle timeout watches it now

    def done():
        stats.downstream_cx_upgrades_active -= 1
        host.active_requests -= 1
        connections.release()
        cluster.stats.upstream_cx_active -= 1
        cluster.stats.upstream_cx_destroy += 1
        upstream.close()
    return upstream, done
