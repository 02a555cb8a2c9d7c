"""Tunnels on HTTP/2 streams, as the Envoy 1.40 binary makes them (probed):

- an extended CONNECT (RFC 8441, ``:protocol websocket``, with ``allow_connect``) arrives as the
  upgrade request request_head.py made of it; the HTTP/1.1 upstream's 101 becomes the client's
  ``200`` (its headers without Upgrade and Connection);
- a CONNECT takes a ``connect_matcher`` route (connect_tunnel.py's rules): with
  ``connect_config`` it ends here, the client gets ``200`` (date, server) and its bytes go over
  TCP to the cluster; without, the CONNECT goes to the upstream and opens on its 2xx.

Then DATA frames carry the bytes both ways (with the stream's flow control) until either side
ends; the client's END_STREAM half-closes the upstream connection. Counted as upgrades.
"""
from __future__ import annotations

from socket import SHUT_WR

import gevent

from ...deadlines import NEVER
from ..connect_tunnel import connect_route, open_tcp
from ..date import http_date
from ..upgrade import h2_tunnel, open_upstream, relay_refusal, tunnel_headers, tunnel_opens
from . import events as ev


def serve_tunnel(port, stream, target):
    """Open and run the tunnel of ``stream`` on ``port`` (stream_port.py), or answer it. The
    stream has its (empty) filter chain: refusals and local replies take its encode sinks."""
    head = stream.head
    if head.upgrade is None:        # a CONNECT
        decided = connect_route(port, stream)
        if decided is None:
            return
        route, terminate = decided
        if terminate:
            return _terminated(port, stream, route)
    opened = open_upstream(port, stream, target)
    if opened is None:
        return
    response, raw_head, rest, sent_at = opened
    if raw_head is None:        # an HTTP/2 upstream's stream
        return h2_tunnel(port, stream, response, True)
    if not tunnel_opens(stream, response):
        return relay_refusal(port, stream, response, rest, sent_at)
    headers = [item for item in tunnel_headers(port, stream, response.status, raw_head)
               if item[0] != b"upgrade" and item[0] != b"connection"]
    stream.info.response_code = 200
    stats = port.hcm.stats
    stats.downstream_cx_upgrades_total += 1
    stats.downstream_cx_upgrades_active += 1
    try:
        _open(port, headers)
        _pump(port, stream, stream.upstream.sock, rest)
    finally:
        stats.downstream_cx_upgrades_active -= 1
        port.hcm.router.abort(stream)   # the upstream connection ends with the tunnel


def _terminated(port, stream, route):
    opened = open_tcp(port, stream, route)
    if opened is None:
        return
    upstream, done = opened
    try:
        _open(port, [(b"date", http_date()), (b"server", port.hcm.server_name)])
        _pump(port, stream, upstream, b"")
    finally:
        done()


def _open(port, headers):
    port.send_headers(200, headers, False)
    port.connection.flush()
    port.set_deadline(NEVER)    # a tunnel waits on its peers for as long as they like


def _pump(port, stream, upstream, upstream_tail):
    """Bytes both ways: the upstream's as DATA in a greenlet of their own, the client's DATA to
    the upstream here, each piece acknowledged once the upstream took it."""
    info = stream.info

    def downward():
        try:
            if upstream_tail:
                port.send_data(upstream_tail, False)
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                info.bytes_sent += len(data)
                port.send_data(data, False)
            port.send_data(b"", True)
        except OSError:
            pass
    down = gevent.spawn(downward)
    codec = port.connection.codec
    try:
        end = False
        while not end:
            event = port.next_event()
            if event.__class__ is ev.RequestTrailers:
                break
            data, end = event.data, event.end_stream
            if data:
                info.bytes_received += len(data)
                upstream.sendall(data)
            codec.acknowledge(port.stream_id, event.flow_length)
            port.connection.flush()
        upstream.shutdown(SHUT_WR)
        down.join()
    finally:
        down.kill()
