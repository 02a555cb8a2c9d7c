"""One request stream of a downstream HTTP/2 connection (downstream.py), in its own greenlet.

A ``StreamPort`` is what the filters and the router see as the stream's connection (the
callbacks an HTTP/1.1 stream has in DownstreamConnection): local replies, the stream's deadline,
the connection's addresses and TLS facts. The request goes through the same checks, filters and
router as an HTTP/1.1 one; its response always takes the filter chain's encode path (with no
filter but the router, the chain is empty), whose sinks here frame HEADERS and DATA instead of
HTTP/1.1 bytes.
"""
from __future__ import annotations

import time
from collections import deque
from socket import timeout as SocketTimeout

from gevent.event import Event
from greenlet import greenlet as RawGreenlet

from ...deadlines import NEVER
from ..control import CloseConnection
from ..filtered_stream import guarded, run_filters
from ..local_answer import answer
from ..request_checks import normalized_target, overloaded
from ..stream import ActiveStream
from ..stream_log import log_stream
from .. import stream_duration
from ..stream_duration import StreamDurationReached
from ..upgrade import upgrade_allowed
from . import events as ev
from .request_head import request_head
from .stream_sinks import ENCODED, give_empty_chain
from .tunnel_stream import serve_tunnel

#: error code of RST_STREAM when our side abandons a stream (RFC 9113 §7)
_INTERNAL_ERROR = 0x2
_CANCEL = 0x8


#: an abort's reason (downstream.py) -> the response flag and details of a stream the client
#: left before its response started, as Envoy 1.40 logs them (probed)
_LEFT = {"stream reset": ("DR", "http2.remote_reset"),
         "connection termination": ("DC", "downstream_remote_disconnect")}


class StreamAborted(Exception):
    """Thrown into a stream's greenlet: the client reset it, or the connection ended
    (``reason``: the abort's)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class StreamPort:
    protocol = "HTTP/2"
    #: HTTP/1.1's framed-bytes callbacks: an HTTP/2 stream's response always takes the encode
    #: sinks below, so the router never calls these
    send_response = send_body = None

    def __init__(self, connection, event):
        self.connection = connection
        self.hcm = connection.hcm
        self.sock = connection.sock
        self.tls = connection.tls
        self.scheme = connection.scheme
        self.remote_ip, self.remote_port = connection.remote_ip, connection.remote_port
        self.stream_id = event.stream_id
        stats = self.hcm.stats     # a request counts once decoded, even if it never runs
        stats.downstream_rq_total += 1
        stats.downstream_rq_http2_total += 1
        self.opening = event        # the RequestHeaders that opened the stream
        self.inbox = deque()        # RequestData / RequestTrailers events, in order
        self._waiter = None         # an Event while the greenlet waits for one or for window
        self.deadline = NEVER
        self.greenlet = None
        self.stream = None
        self.ended = False          # our side of the stream is closed (END_STREAM or RST)

    # the connection facts filters, header formatters and access logs read
    @property
    def client_cert(self):
        return self.connection.client_cert

    @client_cert.setter
    def client_cert(self, value):
        self.connection.client_cert = value

    @property
    def remote_address(self):
        return self.connection.remote_address

    @property
    def local_address(self):
        """The stream's (``serve`` read it at its start, where it logs): a log line written
        after the connection's end closed its socket needs no socket."""
        stream = self.stream
        if stream is not None and stream.info.downstream_local_address is not None:
            return stream.info.downstream_local_address
        return self.connection.local_address

    @property
    def direct_local_address(self):
        return self.connection.direct_local_address

    @property
    def local_ip(self):
        return self.connection.local_ip

    @property
    def upstream_address(self):
        upstream = self.stream.upstream if self.stream is not None else None
        return upstream.pool.host.label if upstream is not None else ""

    # the stream's callbacks

    def set_deadline(self, deadline):
        self.deadline = deadline

    def expire(self):
        self.deadline = NEVER
        self.greenlet.kill(SocketTimeout("timed out"), block=False)

    def local_reply(self, stream, status, body, close=False, extra=(), flag=None, leading=()):
        give_empty_chain(stream)   # answered before it was routed: through no filter
        answer(self, stream, status, body, close, extra, flag, leading)

    @property
    def codec_stats(self):
        return self.hcm.http2_stats

    def reject_malformed(self, stream):
        """A request refused as malformed ends with its stream reset (INTERNAL_ERROR, as the
        Envoy 1.40 binary resets it)."""
        stream.responded = True
        self.ended = True
        self.connection.codec.reset(self.stream_id, _INTERNAL_ERROR)
        self.connection.flush()

    def defer_reply(self, stream, status, body, flag=None, leading=()):
        stream.pending_reply = (status, body, flag, leading)

    def log(self, stream):
        log_stream(self, stream)

    def deliver(self, event):
        """The reader's call: a body piece or the trailers of this stream."""
        self.inbox.append(event)
        self.wake()

    def wake(self):
        """Something the greenlet may wait for arrived (an event, more send window)."""
        if self._waiter is not None:
            self._waiter.set()

    def _armed_waiter(self):
        """The Event to wait on, cleared before the check it guards (a wake in between stays)."""
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = Event()
        else:
            waiter.clear()
        return waiter

    def next_event(self):
        """The next RequestData or RequestTrailers of this stream, waiting for it."""
        inbox = self.inbox
        while not inbox:
            waiter = self._armed_waiter()
            if not inbox:
                waiter.wait()
        return inbox.popleft()

    def abort(self, reason):
        """The client reset the stream (or the connection ended): the greenlet stops. One that
        has not started never runs: the stream leaves its connection here, and the greenlet
        ends as cancelled (an expected end, not a failure for the hub to print)."""
        self.ended = True
        greenlet = self.greenlet
        if greenlet is None:
            return
        if RawGreenlet.__bool__(greenlet):      # running (the gevent Greenlet's bool: spawned)
            greenlet.kill(StreamAborted(reason), block=False)
        elif not greenlet.dead:
            greenlet.kill(block=False)
            self.connection.stream_done(self)

    # the exchange

    def serve(self):
        hcm = self.hcm
        stats = hcm.stats
        event = self.opening
        head, target = request_head(event.headers, event.end_stream)
        stats.downstream_rq_active += 1
        stream = self.stream = ActiveStream(head, time.monotonic())
        stream.connection = self
        stream.replied = stream.decoded = stream.route_cleared = False
        stream.target = target
        if hcm.logging:     # read while the socket is open (local_address)
            stream.info.downstream_local_address = self.connection.local_address
        hcm.deadlines.watch(self)
        completed = False
        try:
            try:
                if self._start(stream, head, target):
                    self._receive_body(stream, event.end_stream)
                    self._finish(stream)
                else:
                    self._discard_body(event.end_stream)
                completed = True
            except CloseConnection:
                completed = True    # a reply that closes an HTTP/1.1 connection ends the stream
            except SocketTimeout:
                self._timed_out(stream)
            except StreamDurationReached:
                completed = True
                if not self.ended and not stream_duration.answer(self, stream, close=False):
                    self._reset(_INTERNAL_ERROR)
        except StreamAborted as aborted:
            self._client_left(stream, aborted.reason)
        except OSError:
            stream.flag("DC")       # the connection failed under a write
        finally:
            self._end(stream, completed)

    def _client_left(self, stream, reason):
        """The client reset the stream or closed its connection: counted as Envoy counts a
        remote reset; the upstream request (if any) is reset by ``_end`` at once."""
        left = _LEFT.get(reason)
        if left is None:        # our codec reset it (a malformed frame)
            if not stream.responded:
                stream.flag("DC")
            return
        self.hcm.stats.downstream_rq_rx_reset += 1
        if not stream.responded:
            flag, stream.info.response_code_details = left
            stream.flag(flag)

    def _start(self, stream, head, target):
        """The checks and routing of DownstreamConnection._on_head; False when answered."""
        hcm = self.hcm
        if hcm.overload is not None and overloaded(self, stream, hcm.overload):
            return False
        if head.host is None:
            self.local_reply(stream, 400, b"")
            return False
        if head.method == b"CONNECT":
            give_empty_chain(stream)
            serve_tunnel(self, stream, target)     # a CONNECT (no path: no normalization)
            return False
        if b"#" in target:
            self.local_reply(stream, 400, b"")
            return False
        if hcm.normalizer is not None:
            target = normalized_target(self, stream, head, target)
            if target is None:
                return False
        if hcm.server.health_check_failed:
            stream.health_check_failed = hcm.health_check is not None
        stream.route = hcm.route_table.match(head.host, target, head.headers, head.method)
        if hcm.stream_limits is not None:
            hcm.stream_limits.arm(self, stream)
        if head.upgrade is not None:    # an extended CONNECT (RFC 8441), now an upgrade request
            if upgrade_allowed(hcm, stream.route, head.upgrade.lower()):
                give_empty_chain(stream)
                serve_tunnel(self, stream, target)
            else:
                self.local_reply(stream, 403, b"")
            return False
        run_filters(self, stream, target, ENCODED)
        return not stream.responded or stream.upstream is not None

    def _receive_body(self, stream, end):
        hcm = self.hcm
        codec = self.connection.codec
        while not end:
            self.deadline = (time.monotonic() + hcm.stream_idle_timeout
                             if hcm.stream_idle_timeout else NEVER)
            event = self.next_event()
            if event.__class__ is ev.RequestTrailers:
                # trailers end the request; an HTTP/1.1 upstream gets them where its cluster
                # enables them (router.finish)
                stream.head.trailers = [(name, value) for name, value in event.headers]
                break
            data, end = event.data, event.end_stream
            if data:
                stream.info.bytes_received += len(data)
                if not stream.responded:
                    guarded(self, stream, stream.filters.decode_data, bytes(data), False)
                if stream.out:
                    hcm.router.send_pending(stream, self)
            codec.acknowledge(self.stream_id, event.flow_length)
            self.connection.flush()

    def _discard_body(self, end):
        """The stream was answered before its body: take the rest so the windows reopen."""
        codec = self.connection.codec
        while not end and not self.ended:
            event = self.next_event()
            if event.__class__ is ev.RequestTrailers:
                break
            end = event.end_stream
            codec.acknowledge(self.stream_id, event.flow_length)
        self.connection.flush()

    def _finish(self, stream):
        hcm = self.hcm
        stream.body_done = True
        if hcm.logging:
            stream.info.request_complete_ms = (time.monotonic() - stream.start) * 1000
        if stream.head.has_body and not stream.responded:
            guarded(self, stream, stream.filters.decode_data, b"", True)
        if not stream.decoded:
            return
        if stream.pending_reply is not None:
            if hcm.router.mirroring:
                hcm.router.mirrors.send(stream)
            status, body, flag, leading = stream.pending_reply
            stream.pending_reply = None
            self.local_reply(stream, status, body, flag=flag, leading=leading)
        elif stream.upstream is not None:
            hcm.router.finish(stream, self)

    def _timed_out(self, stream):
        hcm = self.hcm
        if stream.responded:
            return
        hcm.stats.downstream_rq_idle_timeout += 1
        stream.flag("SI")
        try:
            self.local_reply(stream, 408, b"stream timeout")
        except CloseConnection:
            pass

    def _end(self, stream, completed):
        hcm = self.hcm
        stats = hcm.stats
        hcm.deadlines.unwatch(self)
        if hcm.stream_limits is not None:
            hcm.stream_limits.disarm(self)
        stats.downstream_rq_active -= 1
        if completed:
            stats.downstream_rq_completed += 1
            hcm.rq_time.record((time.monotonic() - stream.start) * 1000)
        if stream.upstream is not None or hcm.router.mirroring:
            hcm.router.abort(stream)
        if hcm.logging:
            log_stream(self, stream)
        if stream.filters is not None:
            stream.filters.on_stream_end()
            stream.filters = None   # the manager refers back to the stream: no cycle for the GC
        if not self.ended:
            self._reset(_INTERNAL_ERROR if completed else _CANCEL)
        self.connection.stream_done(self)

    def _reset(self, code):
        """RST_STREAM with ``code``: our side of the stream ends unfinished."""
        connection = self.connection
        self.ended = True
        connection.codec.reset(self.stream_id, code)
        try:
            connection.flush()
        except OSError:
            pass

    # the encode sinks (filter_chain.py): HEADERS and DATA frames

    def send_headers(self, status, headers, end_stream):
        """HEADERS, sent with the first DATA (or by ``flush_response``) unless they end the
        stream: one write for a response that arrives whole."""
        self.connection.codec.send_headers(self.stream_id, status, headers, end_stream)
        self.ended = end_stream
        if end_stream:
            self.connection.flush_soon()

    def flush_response(self, stream):
        """The router relayed what one upstream read held: send what is framed."""
        self.connection.flush_soon()

    def send_trailers(self, trailers):
        """Trailers end the stream (gRPC's grpc-status rides in them)."""
        self.connection.codec.send_trailers(self.stream_id, trailers)
        self.ended = True
        self.connection.flush_soon()

    def send_data(self, data, end_stream):
        """Send ``data`` as the client's windows allow, waiting for them to open."""
        connection = self.connection
        codec = connection.codec
        view = memoryview(data)
        while True:
            waiter = self._armed_waiter()
            sent = codec.send_data(self.stream_id, view, end_stream)
            connection.flush_soon()
            view = view[sent:]
            if not view:
                break
            waiter.wait()
        self.ended = end_stream
