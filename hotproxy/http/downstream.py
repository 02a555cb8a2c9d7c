"""One downstream HTTP/1.1 connection of a connection manager (conn_manager.py): it reads and
decodes requests in its own greenlet, decorates and routes them, runs them through the HTTP
filters when the connection manager has any (filter_chain.py), and hands them to the router.
Pipelined requests are answered in order because one greenlet handles them one after another.
docs/envoy-reference.md records the Envoy behaviour matched here, rule by rule.
"""
from __future__ import annotations

from time import monotonic
from functools import partial
from socket import timeout as SocketTimeout

import gevent

from ..deadlines import NEVER
from ..errors import ProtocolError
from ..sockio import GeventSocket, send_all, send_parts
from . import local_reply
from .connection_addresses import ConnectionAddresses
from .connection_ending import ConnectionEnding
from .control import CloseConnection, OverloadReset, Release
from .error_replies import protocol_error_reply, timeout_reply
from .filtered_stream import guarded, run_filters
from .local_answer import answer
from .http1.codec import END, RequestDecoder
from .request_checks import normalized_target, overloaded
from .request_headers import forwarded_headers
from .router.terminal import route_request
from .stream import ActiveStream
from .stream_duration import StreamDurationReached, end_http1
from .stream_log import log_stream
from .connect_tunnel import connect_request
from .upgrade import tunnel, upgrade_allowed

RECV_SIZE = 65536
#: Bytes a connection may read back to back before it yields to the others (fairness: a
#: greenlet that always finds data ready would otherwise never give up the hub).
_YIELD_EVERY = 1 << 20


class DownstreamConnection(ConnectionAddresses, ConnectionEnding):
    """One downstream connection. Reads happen only in ``run``; responses go straight out.

    It is also what the router and the filters answer through (the stream's callbacks):
    ``local_reply``/``defer_reply``, ``send_response``/``send_body`` for an upstream's response,
    and ``set_deadline`` for the timeouts of the exchange."""

    def __init__(self, hcm, sock, address, tls=None):
        self.hcm = hcm
        self.sock = sock
        #: the TLS handshake's facts (DownstreamTls), None for plain text
        self.tls = tls
        self.scheme = b"http" if tls is None else b"https"
        self.client_cert = None     # request_headers.client_certificate's, made once
        self.remote_ip = address[0]
        self.remote_port = address[1]
        self.decoder = RequestDecoder(hcm.max_headers_bytes, hcm.config.max_headers_count)
        self.stream = None
        #: when the request under way times out (see run), 0.0 before its first bytes
        self.request_deadline = 0.0
        #: when this connection times out in its current state (see hotproxy/deadlines.py)
        self.deadline = NEVER
        self.greenlet = gevent.getcurrent()
        # The stream's callbacks for the router, as partials: no Python frame of their own on
        # the request path. set_deadline(t): when the exchange times out (route and idle
        # timeouts); send_response(parts): framed bytes of an upstream's response;
        # send_body(data): the rest of a Content-Length body.
        self.set_deadline = partial(setattr, self, "deadline")
        self.send_response = partial(send_parts, sock)
        self.send_body = partial(send_all, sock)
        #: waiting at a message boundary: nothing read and unparsed, so the connection may move
        self.idle = False
        self._local_address = None
        # from close_at on, its next response closes it, or it closes while idle (a closing
        # drain, max_connection_duration: hcm.close_times)
        self.close_at, self.max_duration_at = hcm.close_times()
        #: max_requests_per_connection: requests this connection may still take, 0: no limit
        self.requests_left = hcm.max_requests_per_connection
        #: its next response closes it, and while idle it is closed only by its idle timeout
        #: (the client may be sending): a TLS connection that cannot move to the next
        #: generation, and one accepted during a closing drain, which serves its first exchange
        #: as Envoy's does rather than close before its request arrives
        self.lingering = hcm.closing

    # The mutation context that header formatters read (%DOWNSTREAM_REMOTE_ADDRESS% …): the
    # addresses (ConnectionAddresses), the protocol and the upstream's address.
    protocol = "HTTP/1.1"
    #: idle and not due for a while: checked by the deadline sweep only (hotproxy/deadlines.py)
    parked = False

    @property
    def upstream_address(self):
        stream = self.stream
        upstream = stream.upstream if stream is not None else None
        return upstream.pool.host.label if upstream is not None else ""

    def run(self):
        sock = self.sock
        hcm = self.hcm
        decoder = self.decoder
        events = decoder.events
        wait_first = False
        recv_size = hcm.recv_size
        since_yield = 0
        recv = sock.recv
        # The request clock (request_headers_timeout, else request_timeout) starts with the
        # request's first bytes; request_deadline stays 0.0 without one.
        request_limit = hcm.request_headers_timeout or hcm.request_timeout
        # A plain gevent socket without a timeout is read as gevent reads it, minus a Python frame
        # and six lookups through its class's __getattr__ (sock._wait is the hub's wait then).
        plain = self.tls is None and type(sock) is GeventSocket and sock.timeout is None
        if plain:
            hub_wait, read_event, raw_recv = sock.hub.wait, sock._read_event, sock._sock.recv
        try:
            while True:
                at_boundary = self.stream is None and not decoder.mid_message
                if (at_boundary and hcm.draining and not hcm.closing and self.tls is None
                        and monotonic() >= self.move_at):
                    return self._release()
                self.deadline = self._read_deadline(at_boundary)
                self.idle = at_boundary
                if wait_first and plain:
                    # The client cannot have sent its next request before reading our response:
                    # wait for readability rather than paying a failing recv first.
                    hub_wait(read_event)
                    try:
                        data = raw_recv(recv_size)
                    except BlockingIOError:
                        data = recv(recv_size)
                else:
                    data = recv(recv_size)
                self.idle = False
                if self.parked:
                    hcm.deadlines.unpark(self)
                if not data:
                    return
                since_yield += len(data)
                if since_yield >= _YIELD_EVERY:
                    since_yield = 0
                    gevent.sleep(0)
                if request_limit and self.request_deadline == 0.0:
                    self.request_deadline = monotonic() + request_limit
                try:
                    decoder.feed(data)
                except ProtocolError:
                    # Serve the complete requests that came before the bad bytes, then answer
                    # the error (unless one of them closes the connection first).
                    _keep_complete_requests(events)
                    if self._dispatch(events) is _CLOSE:
                        return self.close()
                    raise
                outcome = self._dispatch(events)
                if outcome is _CLOSE:
                    return self.close()
                wait_first = outcome is _NEXT
                stream = self.stream
                if stream is not None and stream.out:
                    hcm.router.send_pending(stream, self)
                    if events:  # the router spliced the rest of the body: the request's END
                        outcome = self._dispatch(events)
                        if outcome is _CLOSE:
                            return self.close()
                        wait_first = outcome is _NEXT
        except Release:
            self._release()
        except OverloadReset:
            if self.stream is not None:
                self.stream.flag("OM")
        except CloseConnection:
            if self.stream is not None and hcm.logging:
                self.log(self.stream)  # before the delayed close, which is not the request's time
            self.close()
        except ProtocolError as error:
            hcm.stats.downstream_cx_protocol_error += 1
            protocol_error_reply(self, error)
        except SocketTimeout:
            timeout_reply(self)
        except StreamDurationReached:
            end_http1(self)
        except OSError:
            if self.stream is not None and not self.stream.responded:
                self.stream.flag("DC")  # the client went away; nothing to answer
        finally:
            stream = self.stream
            if stream is not None:  # the connection ended inside an exchange
                hcm.stats.downstream_rq_active -= 1
                if stream.upstream is not None or hcm.router.mirroring:
                    hcm.router.abort(stream)
                if hcm.logging:
                    self.log(stream)
                if stream.filters is not None:
                    stream.filters.on_stream_end()
                    stream.filters = None

    # request lifecycle

    def _dispatch(self, events):
        """Act on decoded events in order. Returns _MORE while a request is still arriving,
        _NEXT once the last one ended, _CLOSE when one ended that closes the connection."""
        outcome = _MORE
        for event in events:
            if event.__class__ is bytes:
                self._on_body(event)
            elif event is END:
                if self._on_end():
                    events.clear()
                    return _CLOSE
                outcome = _NEXT
            else:
                self._on_head(event)
                outcome = _MORE
        events.clear()
        return outcome

    def _on_head(self, head):
        hcm = self.hcm
        stats = hcm.stats
        stats.downstream_rq_total += 1
        stats.downstream_rq_http1_total += 1
        stats.downstream_rq_active += 1
        stream = self.stream = ActiveStream(head, monotonic())
        if stream.start >= self.close_at:
            stream.close = True  # draining: this exchange is the connection's last
            if stream.start >= self.max_duration_at:
                self.max_duration_at = NEVER
                stats.downstream_cx_max_duration_reached += 1
        if self.requests_left:
            self.requests_left -= 1
            if not self.requests_left:
                stream.close = True
                stats.downstream_cx_max_requests_reached += 1
        if head.version != "1.1":
            # HTTP/1.0 needs accept_http_10, which hotproxy does not support: Envoy's default.
            return self.local_reply(stream, 426, local_reply.PROTOCOL_ERROR_BODIES[426], close=True)
        if hcm.overload is not None and overloaded(self, stream, hcm.overload):
            return None
        if head.host is None:
            return self.local_reply(stream, 400, b"", close=True)
        if head.method == b"CONNECT":
            return connect_request(self, stream)
        target = head.target
        if b"#" in target:
            return self.local_reply(stream, 400, b"", close=True)  # a fragment is not sent (Envoy)
        if hcm.normalizer is not None:
            target = normalized_target(self, stream, head, target)
            if target is None:
                return None
        if hcm.server.health_check_failed:
            stream.close = True  # Envoy's drain-close: load balancers move their clients away
            stream.health_check_failed = hcm.health_check is not None
        stream.route = hcm.route_table.match(head.host, target, head.headers, head.method)
        if hcm.stream_limits is not None:
            hcm.stream_limits.arm(self, stream)
        if head.upgrade is not None:
            if upgrade_allowed(hcm, stream.route, head.upgrade.lower()):
                return tunnel(self, stream, target)
            return self.local_reply(stream, 403, b"", close=True)
        if hcm.filters:
            return run_filters(self, stream, target)
        route = stream.route
        if route is None or not route.starts_router or head.expect_continue:
            return route_request(self, stream, target, forwarded_headers)
        hcm.router.start(stream, self, target, forwarded_headers(self, stream))  # its common case

    def _on_body(self, data):
        stream = self.stream
        stream.info.bytes_received += len(data)
        if stream.filters is not None:
            if not stream.responded:
                guarded(self, stream, stream.filters.decode_data, bytes(data), False)
        elif stream.upstream is not None:  # else it was answered here: the body goes nowhere
            self.hcm.router.send_body(stream, data)

    def _on_end(self):
        """The request is complete. Returns True when the connection must now close."""
        stream = self.stream
        hcm = self.hcm
        stream.body_done = True
        if monotonic() >= self.close_at:
            stream.close = True  # its close time passed mid-exchange: say so in this response
        if hcm.logging:
            stream.info.request_complete_ms = (monotonic() - stream.start) * 1000
        filters = stream.filters
        if filters is not None and not stream.responded:
            head = stream.head
            if head.chunked or head.content_length:     # head.has_body
                # the end of the request goes through the filters
                guarded(self, stream, filters.decode_data, b"", True)
        if filters is None or stream.decoded:
            # the router has the whole request: answer a deferred failure, or relay the response
            if stream.pending_reply is not None:
                if hcm.router.mirroring:
                    hcm.router.mirrors.send(stream)   # the primary failed: the copy still goes
                status, body, flag, leading = stream.pending_reply
                stream.pending_reply = None
                self.local_reply(stream, status, body, flag=flag, leading=leading)
            elif stream.upstream is not None:
                hcm.router.finish(stream, self)
        if hcm.logging:
            self.log(stream)
        if filters is not None:
            if filters.ender_at is not None:
                filters.on_stream_end()
            stream.filters = None   # the manager refers back to the stream: no cycle for the GC
        self.stream = None
        self.request_deadline = 0.0
        stats = hcm.stats
        stats.downstream_rq_active -= 1
        stats.downstream_rq_completed += 1
        hcm.rq_time.record((monotonic() - stream.start) * 1000)
        return stream.close

    # responses generated here

    def local_reply(self, stream, status, body, close=False, extra=(), flag=None, leading=()):
        """Answer ``stream`` from here (local_answer.py): the one local-reply path."""
        answer(self, stream, status, body, close, extra, flag, leading)

    @property
    def codec_stats(self):
        return self.hcm.http1_stats

    def reject_malformed(self, stream):
        """A request the connection manager refuses as malformed (underscores in its header
        names, with REJECT_REQUEST): HTTP/1.1 answers 400 and closes."""
        self.local_reply(stream, 400, local_reply.PROTOCOL_ERROR_BODIES[400], close=True)

    def defer_reply(self, stream, status, body, flag=None, leading=()):
        """Answer once the request body has been read (an upstream failure, as Envoy does)."""
        stream.pending_reply = (status, body, flag, leading)

    def log(self, stream):
        log_stream(self, stream)

    def flush_response(self, stream):
        """The router relayed one upstream read through the filters: a response head they
        passed whose body has not come yet goes now (it waits for a first piece otherwise)."""
        head_bytes = getattr(stream, "head_bytes", None)
        if head_bytes is not None:
            stream.head_bytes = None
            send_all(self.sock, head_bytes)

    # timeouts

    def _read_deadline(self, at_boundary=False):
        """When the next read times out; ``at_boundary``: no request is under way (run knows;
        the router's spliced request body reads mid-request)."""
        hcm = self.hcm
        now = monotonic()
        if at_boundary:
            idle = now + hcm.idle_timeout if hcm.idle_timeout else NEVER
            return idle if idle < self.close_at or self.lingering else self.close_at
        idle = now + hcm.stream_idle_timeout if hcm.stream_idle_timeout else NEVER
        request_deadline = self.request_deadline
        return request_deadline if 0 < request_deadline < idle else idle


# What a batch of decoded events left the connection with (see DownstreamConnection._dispatch).
_MORE, _NEXT, _CLOSE = "more", "next", "close"


def _keep_complete_requests(events):
    """Cut ``events`` after the last complete request (the rest belongs to the bad one)."""
    for index in range(len(events) - 1, -1, -1):
        if events[index] is END:
            del events[index + 1:]
            return
    events.clear()
