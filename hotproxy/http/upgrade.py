"""Upgraded HTTP/1.1 connections: a request with ``Upgrade: websocket`` (or another type the
connection manager's ``upgrade_configs`` names) goes to the upstream with its Upgrade and
Connection headers; on the upstream's 101 the client gets the 101, and from then on the two
connections are a byte pump (network/pump.py: splice where both ends are plain TCP) until either
side closes. Counted in ``downstream_cx_upgrades_total`` / ``_active``. A tunnel is a busy
connection: across a reload it stays on its generation until it closes.

As Envoy 1.40: a type neither the connection manager nor the route names is answered 403; a
route's own ``upgrade_configs`` turns a type on or off for that route. An upstream that does not
answer 101 has its response relayed, and the connection then closes. Unlike Envoy, the HTTP
filters do not see upgrade requests (``upgrade_configs[].filters`` is refused), and a route's
retry policy does not apply to them (docs/envoy-reference.md).
"""
from __future__ import annotations

import time

from ..errors import ProtocolError
from ..network.pump import Relay
from ..sockio import send_all
from . import local_reply
from .control import CloseConnection
from .http1.codec import END
from .date import http_date
from .headers import HOP_BY_HOP
from .http1.serialize import LAST_CHUNK, chunk, response_head
from .request_headers import forwarded_headers
from ..stats.schema import count_status_class
from .h2_upstream_tunnel import over_http2, pump_http1, pump_http2, reset_reply
from .h2_upstream_tunnel import relay_refusal as h2_relay_refusal
from .h2_upstream_tunnel import response_head as h2_response_head
from .router.h2_tunnel_heads import client_response, opens
from ..upstream.http2_request import StreamEnded
from .router.downstream_head import (CHUNKED, CLASS_STATS, FILTERED, RAW, downstream_head,
                                     response_decoder, set_server)
from .router.retry import UpstreamReset
from .router.route_table import ROUTE
from .router.terminal import route_request

#: bounds on what is read of an upstream's answer to an upgrade request
_HEAD_LIMIT = 64 * 1024
_REFUSAL_LIMIT = 1 << 20


def upgrade_allowed(hcm, route, kind):
    """Whether an upgrade to ``kind`` (lower-case bytes) is proxied on ``route``: the route's
    own upgrade_configs entry decides, else the connection manager's (Envoy's
    createUpgradeFilterChain: a route may turn on a type its connection manager leaves out)."""
    entry = route_upgrade(route, kind)
    if entry is not None:
        return entry[1]
    return hcm.upgrades.get(kind, False)


def route_upgrade(route, kind):
    """The route's (type, enabled, terminate) entry for ``kind``, or None."""
    action = route.config.route if route is not None else None
    for entry in (action.upgrade_configs if action is not None else ()):
        if entry[0].encode() == kind:
            return entry
    return None


def tunnel(conn, stream, target):
    """Proxy the upgrade request ``stream`` on HTTP/1.1 connection ``conn``; ends by closing it
    (``CloseConnection``) once the tunnel or the refusal is over."""
    stream.close = True     # whatever happens, this connection carries no further request
    opened = open_upstream(conn, stream, target)
    if opened is None:
        return None
    response, raw_head, rest, sent_at = opened
    if raw_head is None:
        return h2_tunnel(conn, stream, response, False)
    if not tunnel_opens(stream, response):
        return relay_refusal(conn, stream, response, rest, sent_at)
    headers = tunnel_headers(conn, stream, response.status, raw_head)
    send_all(conn.sock, response_head(response.status, headers))
    _pump(conn, stream, rest)


def open_upstream(conn, stream, target):
    """Send the upgrade (or CONNECT) request upstream and read the response head: (its
    ResponseHead, its bytes, the bytes after it, when the request went); for an HTTP/2
    upstream (its events.ResponseHeaders, None, None, when); None when the request was answered
    here instead."""
    hcm = conn.hcm
    head = stream.head
    router = hcm.router
    route = stream.route
    if route is None or route.kind is not ROUTE:
        route_request(conn, stream, target, forwarded_headers)
        return None
    headers = forwarded_headers(conn, stream)
    if head.version != "2" and head.method != b"CONNECT":
        # HTTP/1.1's were read as hop-by-hop; an HTTP/2 extended CONNECT's carries them already
        headers += [(b"connection", b"upgrade"), (b"upgrade", head.upgrade)]
    stream.close = False    # not to be said in the 101
    router.start(stream, conn, target, headers)
    if router.replays:
        router.retries.forget(stream)
    if stream.responded:
        raise CloseConnection()
    if stream.pending_reply is not None or stream.upstream is None:
        status, body, flag, leading = stream.pending_reply or (503, b"", "UF", ())
        conn.local_reply(stream, status, body, close=True, flag=flag, leading=leading)
        return None
    if over_http2(stream):
        return _h2_response(conn, stream)
    try:
        router.flush(stream)
        sent_at = time.monotonic()
        conn.set_deadline(sent_at + route.timeout if route.timeout else float("inf"))
        response, raw_head, rest = _response_head(stream)
    except UpstreamReset:
        _fail(conn, stream, 503, local_reply.CONNECT_ERROR + b"connection termination", "UC")
        return None
    except ProtocolError:
        _fail(conn, stream, 502, local_reply.CONNECT_ERROR + b"protocol error", "UPE")
        return None
    return response, raw_head, rest, sent_at


def _h2_response(conn, stream):
    # Envoy 1.40 holds no route timeout against a tunnel's response head (probed): the stream
    # idle timeout ends the wait, with its 408
    sent_at = time.monotonic()
    idle = conn.hcm.stream_idle_timeout
    conn.set_deadline(sent_at + idle if idle else float("inf"))
    try:
        response = h2_response_head(stream)
    except StreamEnded as ended:
        _fail(conn, stream, *reset_reply(ended.reason))
        return None
    return response, None, None, sent_at


def h2_tunnel(conn, stream, response, downstream_h2):
    """The HTTP/2 upstream's answer to the tunnel request: the tunnel opens on its 200 (a
    CONNECT's 2xx), else the answer is relayed (h2_upstream_tunnel.py)."""
    head = stream.head
    if not opens(head, response.status):
        return h2_relay_refusal(conn, stream, response)
    status, headers = client_response(head, response.status, response.headers, downstream_h2)
    headers = _client_headers(conn, stream, status, headers)
    if downstream_h2:
        return pump_http2(conn, stream, headers)
    return pump_http1(conn, stream, status, headers)


def tunnel_opens(stream, response):
    """An upgrade opens on a 101, a CONNECT forwarded upstream on a 2xx."""
    if stream.head.method == b"CONNECT":
        return 200 <= response.status < 300
    return response.status == 101


def tunnel_headers(conn, stream, status, raw_head):
    """The headers of the 101 (or a CONNECT's 2xx) for the client, as Envoy 1.40 relays them:
    the upstream's in their order, Upgrade and Connection included, Server replaced, no
    x-envoy-upstream-service-time."""
    headers = []
    for line in raw_head.split(b"\n")[1:]:
        name, colon, value = line.rstrip(b"\r").partition(b":")
        name = name.lower()
        if colon and (name not in HOP_BY_HOP or name in (b"upgrade", b"connection")):
            headers.append((name, value.strip(b" \t")))
    return _client_headers(conn, stream, status, headers)


def _client_headers(conn, stream, status, headers):
    """The route's response mutations, Date and Server on the head that opens the tunnel, which
    is counted as the stream's response."""
    router = conn.hcm.router
    route = stream.route
    if route.has_response_mutations:
        headers = route.mutate_response(headers, stream.weighted, conn)
    server_at, has_date = set_server(headers, router.server_name)
    if not has_date:
        headers.append((b"date", http_date()))
    if server_at == -1:
        headers.append((b"server", router.server_name))
    stream.info.response_code = status
    stream.info.response_code_details = "via_upstream"
    stream.responded = True
    count_status_class(stream.cluster.stats, CLASS_STATS, status)
    conn.hcm.count_response(status)
    return headers


def _response_head(stream):
    """The upstream's response head: a ResponseHead, its bytes, and the bytes after it."""
    upstream = stream.upstream
    decoder = upstream.decoder = response_decoder(stream.cluster.config)
    decoder.expect_upgrade()
    received = b""
    while True:
        data = upstream.sock.recv(65536)
        if not data:
            raise UpstreamReset("connection termination")
        received += data
        end = received.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(received) > _HEAD_LIMIT:
            raise ProtocolError(502, "upstream.headers_too_large")
    events = decoder.feed(received[:end + 4])
    return events[0], received[:end + 4], received[end + 4:]


def _pump(conn, stream, upstream_tail):
    hcm = conn.hcm
    stats = hcm.stats
    upstream = stream.upstream
    stats.downstream_cx_upgrades_total += 1
    stats.downstream_cx_upgrades_active += 1
    conn.set_deadline(float("inf"))     # the relay's own idle timeout watches it now
    try:
        if upstream_tail:
            send_all(conn.sock, upstream_tail)
        client_tail = conn.decoder.upgrade_tail
        if client_tail:
            send_all(upstream.sock, client_tail)
        relay = Relay(conn.sock, upstream.sock, hcm.deadlines, hcm.stream_idle_timeout)
        relay.run()
        stream.info.bytes_received += relay.bytes_up
        stream.info.bytes_sent += relay.bytes_down + len(upstream_tail)
    finally:
        stats.downstream_cx_upgrades_active -= 1
        hcm.router.abort(stream)    # the upstream connection ends with the tunnel
    raise CloseConnection()


def relay_refusal(conn, stream, response, rest, sent_at):
    """The upstream answered the upgrade request with a plain response: relay it (an HTTP/2
    stream's through its encode sinks), then close."""
    decoder = stream.upstream.decoder
    events = decoder.events
    size = 0
    data = rest
    while True:
        if data:
            decoder.feed(data)
        if END in events:
            break
        data = stream.upstream.sock.recv(65536)
        if not data:
            decoder.feed_eof()
            continue
        size += len(data)
        if size > _REFUSAL_LIMIT:
            return _fail(conn, stream, 502, local_reply.CONNECT_ERROR + b"protocol error", "UPE")
    body = b"".join(bytes(event) for event in events if event.__class__ is bytes)
    events.clear()
    stream.close = True
    out = []
    framing = downstream_head(conn.hcm.router, stream, response, out, sent_at, False, conn, None)
    if framing is FILTERED:
        if not stream.filters.encoding_ended:
            stream.filters.encode_data(body, True)
    else:
        if framing is RAW:
            out.append(body)
        elif framing is CHUNKED:
            out += [chunk(body), LAST_CHUNK] if body else [LAST_CHUNK]
        stream.info.bytes_sent += len(body)
        send_all(conn.sock, b"".join(out))
    conn.hcm.router.abort(stream)
    raise CloseConnection()


def _fail(conn, stream, status, body, flag):
    conn.hcm.router.abort(stream)
    return conn.local_reply(stream, status, body, close=True, flag=flag)
