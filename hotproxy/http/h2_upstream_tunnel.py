"""Tunnels whose upstream is a stream of an HTTP/2 connection (a cluster with HTTP/2 options), as
the Envoy 1.40 binary makes them (probed):

- the request goes as an extended CONNECT (a WebSocket upgrade, from an HTTP/1.1 ``Upgrade`` or
  an h2 extended CONNECT) or an h2 CONNECT (router/h2_tunnel_heads.py), and it goes whether or not
  the upstream sent SETTINGS_ENABLE_CONNECT_PROTOCOL: Envoy does not wait for it, and an upstream
  that refuses resets the stream (PROTOCOL_ERROR: Envoy's 502 ``protocol error``);
- an answer that does not open the tunnel is relayed as a response, and the tunnel ends;
- then the bytes are DATA frames on the upstream stream, with its flow control both ways (a
  piece is acknowledged to the upstream once it went downstream, and the client is read no
  faster than the upstream's window opens).

How the ends map: an HTTP/1.1 client's EOF resets the upstream stream, and the upstream's
END_STREAM or reset closes the client's connection (Envoy 1.40 does both). With an HTTP/2 client,
END_STREAM either way is END_STREAM the other way (half-close), and a reset on either side resets
the other. The stream idle timeout covers both directions together.
"""
from __future__ import annotations

import time

import gevent

from ..deadlines import NEVER
from ..sockio import send_all
from ..upstream.http2_request import Request as H2Request
from ..upstream.http2_request import StreamEnded
from . import local_reply
from .control import CloseConnection
from .http1.serialize import response_head as http1_head
from .http2 import events as ev
from .router import h2_exchange

_RECV = 65536
_INTERNAL_ERROR = 0x2


def over_http2(stream):
    """Whether the stream's upstream is an HTTP/2 stream (the router's choice for the cluster)."""
    return stream.upstream.__class__ is H2Request


def response_head(stream):
    """The upstream's final response head (an events.ResponseHeaders; 1xx are skipped). Raises
    StreamEnded when the stream ended before it."""
    request = stream.upstream
    while True:
        event = request.next_event()
        if event.__class__ is ev.ResponseHeaders:
            return event


def reset_reply(reason):
    """(status, body, flag) for a stream that ended before its response head, as Envoy answers
    it: a protocol error is a 502, any other reset a 503."""
    body = local_reply.CONNECT_ERROR + reason.encode()
    if reason == "protocol error":
        return 502, body, "UPE"
    if reason.startswith("remote"):
        return 503, body, "UR"
    return 503, body, "UC"


def relay_refusal(conn, stream, response):
    """The upstream answered ``response`` and the tunnel does not open: relay the response as
    the router relays any (h2_exchange.relay), then end the exchange."""
    router = conn.hcm.router
    stream.close = True
    stream.upstream.inbox.appendleft(response)
    try:
        h2_exchange.relay(router, stream, conn, None, NEVER, router.stream_idle_timeout)
    except StreamEnded:
        stream.flag("UR")
    finally:
        router.abort(stream)
    raise CloseConnection()


class _Idle:
    """The tunnel's idle timeout, watched by the worker's Deadlines: ``on_idle`` ends it."""

    __slots__ = ("timeout", "deadline", "on_idle")

    def __init__(self, timeout, on_idle):
        self.timeout = timeout or None
        self.on_idle = on_idle
        self.deadline = NEVER
        self.touch()

    def touch(self):
        if self.timeout:
            self.deadline = time.monotonic() + self.timeout

    def expire(self):
        self.deadline = NEVER
        self.on_idle()


def pump_http1(conn, stream, status, headers):
    """Send the client the head that opens the tunnel (a 101, or a CONNECT's 2xx), then relay
    the bytes until either side ends; the connection closes after."""
    hcm = conn.hcm
    request = stream.upstream
    sock = conn.sock
    info = stream.info
    send_all(sock, http1_head(status, headers))
    conn.set_deadline(float("inf"))     # the tunnel's idle timeout watches it now

    def send(data, end_stream):     # the connection's close ends the tunnel: no framing
        if data:
            send_all(sock, data)

    def upward():
        try:
            tail = conn.decoder.upgrade_tail
            if tail:
                info.bytes_received += len(tail)
                request.send_data(tail, False)
            while True:
                data = sock.recv(_RECV)
                if not data:
                    break
                idle.touch()
                info.bytes_received += len(data)
                request.send_data(data, False)
        except (OSError, StreamEnded):
            pass
        request.end("downstream closed")    # the downward loop ends; the stream is reset

    idle = _Idle(hcm.stream_idle_timeout, lambda: request.end("stream idle timeout"))
    with _Counted(hcm, idle):
        up = gevent.spawn(upward)
        try:
            _relay_downward(request, idle, info, send)
        except StreamEnded:
            pass
        finally:
            up.kill()
            _reset_upstream(request)
            hcm.router.abort(stream)
    raise CloseConnection()


def _relay_downward(request, idle, info, send):
    """Relay the upstream's bytes to the client by ``send(data, end_stream)`` until the upstream
    ends its side (END_STREAM, or trailers: ``send(b"", True)``). Raises StreamEnded at a reset."""
    while True:
        event = request.next_event()
        kind = event.__class__
        if kind is ev.ResponseData:
            data = event.data
            end = event.end_stream
            if data or end:
                idle.touch()
                info.bytes_sent += len(data)
                send(data, end)
            request.consumed(event.flow_length)
            if end:
                return
        elif kind is ev.ResponseTrailers:
            send(b"", True)
            return


def _reset_upstream(request):
    """The client's side of the tunnel is over: a stream still open upstream is reset with
    INTERNAL_ERROR, as Envoy resets it whatever the client did (the pool would say CANCEL)."""
    connection = request.connection
    if request.complete or request.stream_id is None or connection.closed:
        return
    request.complete = True
    connection.codec.reset(request.stream_id, _INTERNAL_ERROR)
    try:
        connection.flush()
    except OSError:
        connection.close()


def pump_http2(port, stream, headers):
    """Send the HTTP/2 client the 200 that opens the tunnel, then relay DATA both ways until
    both sides ended it (or either reset it)."""
    hcm = port.hcm
    request = stream.upstream
    info = stream.info
    codec = port.connection.codec
    port.send_headers(200, headers, False)
    port.connection.flush()
    port.set_deadline(NEVER)    # a tunnel waits on its peers for as long as they like

    def upward():
        """The client's DATA upstream; True once its END_STREAM went with it."""
        while True:
            event = port.next_event()
            if event.__class__ is ev.RequestTrailers:   # trailers end a tunnel's bytes
                request.send_data(b"", True)
                return True
            data, end = event.data, event.end_stream
            if data or end:
                idle.touch()
                info.bytes_received += len(data)
                request.send_data(data, end)
            codec.acknowledge(port.stream_id, event.flow_length)
            port.connection.flush()
            if end:
                return True

    def on_idle():
        request.end("stream idle timeout")
        up.kill(block=False)

    idle = _Idle(hcm.stream_idle_timeout, on_idle)
    with _Counted(hcm, idle):
        up = gevent.spawn(upward)
        try:
            _relay_downward(request, idle, info, port.send_data)
            # the upstream ended its side: the tunnel is over once the client ends its own
            if up.get() is True:
                request.complete = True
        except StreamEnded:
            # the upstream reset it (or it idled out): the client's is reset too
            port.ended = True
            codec.reset(port.stream_id, _INTERNAL_ERROR)
            port.connection.flush()
        finally:
            up.kill()
            _reset_upstream(request)
            hcm.router.abort(stream)


class _Counted:
    """An open tunnel: counted as an upgrade, its idle timeout watched."""

    __slots__ = ("hcm", "idle")

    def __init__(self, hcm, idle):
        self.hcm = hcm
        self.idle = idle

    def __enter__(self):
        stats = self.hcm.stats
        stats.downstream_cx_upgrades_total += 1
        stats.downstream_cx_upgrades_active += 1
        if self.idle.timeout:
            self.hcm.deadlines.watch(self.idle)

    def __exit__(self, *exc):
        self.hcm.stats.downstream_cx_upgrades_active -= 1
        self.hcm.deadlines.unwatch(self.idle)
        return False
