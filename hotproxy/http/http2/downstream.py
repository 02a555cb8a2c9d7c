"""One downstream HTTP/2 connection of a connection manager (conn_manager.py).

The connection's greenlet reads frames and hands their events to the streams (the codec,
codec.py, is sans-IO); each request stream runs in a greenlet of its own (stream_port.py), through
the same checks, HTTP filters and router as an HTTP/1.1 request. Writes from every stream go out
through ``flush``, one at a time, in the order the codec framed them.

Flow control is end to end: request body bytes are acknowledged to the client (so that its
window reopens) only once the router passed them upstream, and a response body waits for the
client's window. Memory per stream and per connection stays within the windows.

A draining generation sends Envoy's two-phase GOAWAY: one naming 2^31-1 (codec.start_drain),
then after the connection manager's ``drain_timeout`` the final one naming the last stream
taken; streams in flight finish here, the client opens its next ones on the new generation.
"""
from __future__ import annotations

import time
from socket import MSG_PEEK
from socket import timeout as SocketTimeout

import gevent

from ...batched_writes import BatchedWriter
from ...deadlines import NEVER
from ..connection_addresses import ConnectionAddresses
from . import events as ev
from .codec import ServerCodec
from .keepalive import Keepalive
from .limits import Http2Stats
from .options import Http2Options
from .stream_port import StreamPort

RECV_SIZE = 65536
#: The client preface: a connection that starts with it speaks HTTP/2 (h2c with prior knowledge).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def opens_with_preface(sock, timeout):
    """Whether the client's first bytes are HTTP/2's preface, without reading them (MSG_PEEK).
    Waits for as many bytes as it takes to tell, up to ``timeout`` seconds (None: no limit);
    raises ``socket.timeout`` when they do not come, OSError when the client went away."""
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        remaining = deadline - time.monotonic() if deadline is not None else None
        if remaining is not None and remaining <= 0:
            raise SocketTimeout("timed out")
        sock.settimeout(remaining)
        try:
            seen = sock.recv(len(PREFACE), MSG_PEEK)
        finally:
            sock.settimeout(None)
        if not seen:
            raise OSError("closed before its first byte")
        if not PREFACE.startswith(seen):
            return False
        if len(seen) == len(PREFACE):
            return True
        gevent.sleep(0.005)     # a preface split across packets: the rest is on its way


_worker_stats = None


def worker_http2_stats():
    """The worker's downstream HTTP/2 codec stats, which Envoy keeps under ``http2.`` for every
    listener together."""
    global _worker_stats
    if _worker_stats is None:
        _worker_stats = Http2Stats()
    return _worker_stats


def options_for(hcm_config):
    """The Http2Options of a connection manager: its http2_protocol_options and header limits."""
    return Http2Options(max_headers_kb=hcm_config.max_request_headers_kb,
                        max_headers_count=hcm_config.max_headers_count,
                        **dict(hcm_config.http2_options or ()))


class Http2Connection(ConnectionAddresses):
    """The connection: what stream ports share, and the deadline the worker's Deadlines watch
    (the idle timeout while no stream is open, the drain's end while draining)."""

    protocol = "HTTP/2"
    #: idle and not due for a while: checked by the deadline sweep only (hotproxy/deadlines.py)
    parked = False
    #: what reset_high_memory_stream weighs on an HTTP/1.1 connection; an HTTP/2 connection's
    #: streams are its ports, which it does not weigh yet
    stream = None

    def __init__(self, hcm, sock, address, tls=None):
        self.hcm = hcm
        self.sock = sock
        self.tls = tls
        self.scheme = b"http" if tls is None else b"https"
        self.client_cert = None     # request_headers.client_certificate's, made once
        self.remote_ip, self.remote_port = address[0], address[1]
        self._local_address = None
        self.codec = ServerCodec(hcm.http2_options, hcm.http2_stats)
        self.ports = {}             # stream id → StreamPort
        # Writes go out through ``flush`` (now) or ``flush_soon`` (once the greenlets ready now
        # have run: the responses completed in one turn of the loop leave in one write)
        self.writer = BatchedWriter(self.codec, sock, self._write_failed)
        self.flush, self.flush_soon = self.writer.flush, self.writer.flush_soon
        self.greenlet = gevent.getcurrent()
        self.deadline = NEVER
        # it drains from close_at on (hcm.close_times), or once it took requests_left streams
        self.close_at, self.max_duration_at = hcm.close_times()
        self.requests_left = hcm.max_requests_per_connection
        self._drain_started = 0.0
        options = hcm.http2_options
        self.keepalive = Keepalive(self, options) if options.keepalive_timeout else None

    # what conn_manager.drain asks of a connection
    @property
    def idle(self):
        return not self.ports

    def release_if_idle(self):
        """The generation drains: HTTP/2 cannot move a connection, so it says GOAWAY."""
        self.start_drain()

    linger = release_if_idle

    def start_drain(self):
        if self._drain_started:
            return
        self._drain_started = time.monotonic()
        self.codec.start_drain()
        self.flush()
        self.deadline = self._drain_started + self.hcm.config.drain_timeout
        self.hcm.deadlines.unpark(self)

    def expire(self):
        """The Deadlines' call: idle too long, the drain_timeout after the first GOAWAY, or the
        close time of a connection manager that closes its connections."""
        now = time.monotonic()
        self.deadline = NEVER
        if now >= self.close_at and not self._drain_started:
            if now >= self.max_duration_at:
                self.hcm.stats.downstream_cx_max_duration_reached += 1
            return self.start_drain()
        if self._drain_started and self.codec.draining:
            self.codec.finish_drain()
            self.flush()
            if self.ports:
                return None
        self.greenlet.kill(SocketTimeout("timed out"), block=False)
        return None

    def _write_failed(self):
        self.abort("write failed")

    # reading

    def abort(self, reason):
        """End the connection now, without a GOAWAY (keepalive timeout)."""
        self.greenlet.kill(SocketTimeout(reason), block=False)

    def run(self):
        sock = self.sock
        codec = self.codec
        stats = self.hcm.stats
        if self.keepalive is not None:
            self.hcm.deadlines.watch(self.keepalive)
        stats.downstream_cx_http2_total += 1
        stats.downstream_cx_http2_active += 1
        self.hcm.http2_stats.nghttp2_downstream_connections += 1
        try:
            self.flush()    # our SETTINGS
            data = b""
            while True:
                if data:
                    events = codec.receive(data)
                    if not self._dispatch(events):
                        break
                    self.flush()
                if self._drain_started and not self.ports and codec.open_streams == 0:
                    break
                self._watch_idle()
                data = sock.recv(RECV_SIZE)
                if self.parked:
                    self.hcm.deadlines.unpark(self)
                if not data:
                    break
        except (OSError, SocketTimeout):
            pass
        finally:
            if self.keepalive is not None:
                self.hcm.deadlines.unwatch(self.keepalive)
            stats.downstream_cx_http2_active -= 1
            codec.connection_lost()     # its streams leave http2.streams_active
            for port in list(self.ports.values()):
                port.abort("connection termination")
            self.deadline = NEVER
            self._flush_quietly()
            self.writer.close()

    def _watch_idle(self):
        """The deadline while not draining: the close time, and the idle timeout while no stream
        is open."""
        if self._drain_started:
            return
        if self.ports:
            self.deadline = self.close_at
            return
        timeout = self.hcm.idle_timeout
        now = time.monotonic()
        self.deadline = min(now + timeout if timeout else NEVER, self.close_at)

    def _dispatch(self, events):
        """Hand each event to its stream; False when the connection must end."""
        ports = self.ports
        for event in events:
            kind = event.__class__
            if kind is ev.RequestData:
                port = ports.get(event.stream_id)
                if port is not None:
                    port.deliver(event)
                else:
                    self.codec.acknowledge(event.stream_id, event.flow_length)
            elif kind is ev.RequestHeaders:
                if not self._drain_started:
                    self.deadline = self.close_at
                port = ports[event.stream_id] = StreamPort(self, event)
                port.greenlet = gevent.spawn(port.serve)
                if self.requests_left:
                    self.requests_left -= 1
                    if not self.requests_left:
                        self.hcm.stats.downstream_cx_max_requests_reached += 1
                        self.start_drain()
            elif kind is ev.RequestTrailers:
                port = ports.get(event.stream_id)
                if port is not None:
                    port.deliver(event)
            elif kind is ev.WindowOpened:
                self._window_opened(event.stream_id)
            elif kind is ev.StreamReset or kind is ev.StreamError:
                port = ports.get(event.stream_id)
                if port is not None:
                    port.abort("stream reset" if kind is ev.StreamReset else event.reason)
            elif kind is ev.ConnectionError:
                self.hcm.stats.downstream_cx_protocol_error += 1
                self._flush_quietly()
                return False
            elif kind is ev.PingAck:
                if self.keepalive is not None:
                    self.keepalive.acked(event.opaque_data)
            elif kind is ev.PrematureResetsExceeded:
                self.hcm.stats.downstream_rq_too_many_premature_resets += 1
                return False
        return True

    def _window_opened(self, stream_id):
        if stream_id == 0:
            for port in self.ports.values():
                port.wake()
        else:
            port = self.ports.get(stream_id)
            if port is not None:
                port.wake()

    def stream_done(self, port):
        self.ports.pop(port.stream_id, None)
        if not self.ports:
            if self._drain_started:
                # the last stream of a draining connection: a reader waiting for bytes closes
                # (one busy elsewhere sees it at the top of its loop)
                sock = self.sock
                sock.hub.cancel_wait(sock._read_event, SocketTimeout("drained"), False)
            else:
                self._watch_idle()

    def _flush_quietly(self):
        try:
            self.flush()
        except OSError:
            pass

