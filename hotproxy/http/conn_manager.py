"""HTTP connection manager: Envoy's HCM network filter for HTTP/1.1 downstream connections.

``HttpConnectionManager`` is built once per listener from its typed config; ``serve`` runs one
downstream connection in its own greenlet: decode requests, decorate their headers the way Envoy
does, route them, answer locally (404, direct responses, redirects, errors) or hand them to the
router, and enforce the connection's timeouts. Pipelined requests are answered in order because
one greenlet handles them one after another. docs/envoy-reference.md records the Envoy behaviour
matched here, rule by rule.
"""
from __future__ import annotations

import random
import time
from socket import SHUT_WR

import gevent
from socket import timeout as SocketTimeout

from ..errors import ProtocolError
from ..deadlines import NEVER
from ..accesslog.loggers import AccessLoggers
from ..sockio import address_label, send_all
from ..server_state import ServerState
from ..stream_info import StreamInfo
from ..stats.histogram import Recorder
from ..stats.schema import Http1Stats, HttpStats, count_status_class
from . import local_reply
from .headers import NOT_FORWARDED, strip_hop_by_hop
from .http1.codec import END, RequestDecoder
from .filters.health_check import FAILED_HEADER, HealthCheckFilter
from . import xfcc
from .request_id import new_request_id
from .xfcc import XFCC
from .request_normalization import FORWARD, REJECT, REJECT_HEADERS, RequestNormalizer
from .router.route_table import DIRECT_RESPONSE, REDIRECT, RouteTable
from .router.router import Router
from .stream import ActiveStream

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_RECV_SIZE = 65536
#: Bytes a connection may read back to back before it yields to the others (fairness: a
#: greenlet that always finds data ready would otherwise never give up the hub).
_YIELD_EVERY = 1 << 20
#: How long a closing connection waits for the client's FIN after the last response byte, so
#: that unread client bytes do not turn the close into a reset that destroys the response
#: (Envoy's delayed_close_timeout).
_DELAYED_CLOSE_S = 1.0
_STATUS_CLASS = ("downstream_rq_1xx", "downstream_rq_2xx", "downstream_rq_3xx",
                 "downstream_rq_4xx", "downstream_rq_5xx")


class HttpConnectionManager:
    def __init__(self, config, cluster_manager, deadlines, access_log_sink=None, server_state=None):
        self.config = config
        self.server = server_state or ServerState()
        self.health_check = (HealthCheckFilter(config.health_check, self.server.service_cluster)
                             if config.health_check is not None else None)
        self.deadlines = deadlines
        self.access_logs = AccessLoggers(config.access_log, access_log_sink, tcp=False)
        self.logging = bool(self.access_logs)
        self.stats = HttpStats()
        self.http1_stats = Http1Stats()
        #: None unless the config asks for a normalization: the request path pays one test
        self.normalizer = RequestNormalizer.from_config(config)
        #: the worker's overload manager (listener/overload.py) when it has an HTTP action
        #: (stop_accepting_requests, disable_http_keepalive); else None, one test per request
        self.overload = None
        self.rq_time = Recorder()  # downstream_rq_time, ms
        self.route_table = RouteTable(config.route_config)
        self.cluster_manager = cluster_manager
        self.server_name = config.server_name.encode()
        self.use_remote_address = config.use_remote_address
        self.xff_num_trusted_hops = config.xff_num_trusted_hops
        self.generate_request_id = config.generate_request_id
        self.max_headers_bytes = config.max_request_headers_kb * 1024
        self.idle_timeout = config.idle_timeout or None
        self.stream_idle_timeout = config.stream_idle_timeout or None
        self.request_headers_timeout = config.request_headers_timeout
        self.request_timeout = config.request_timeout
        self.client_cert_details = xfcc.CertDetails(**(config.client_cert_details or {}))
        #: read size per recv; the listener lowers it to its per_connection_buffer_limit_bytes
        self.recv_size = _RECV_SIZE
        self.connections = set()
        #: set by the worker: ``hand_off(sock)`` passes an idle connection to the next generation
        self.hand_off = None
        self.draining = False
        #: while draining without a next generation to move to (the listener was removed, or the
        #: proxy shuts down), connections close over the drain time instead: see ``drain``
        self.closing = False
        self.router = Router(self)

    def serve(self, sock, address, tls=None):
        """Serve the connection ``sock`` from ``address``; ``tls`` is what its handshake
        established (listener/tls_transport.py's DownstreamTls), None for plain text."""
        stats = self.stats
        stats.downstream_cx_total += 1
        stats.downstream_cx_active += 1
        if tls is not None:
            stats.downstream_cx_ssl_total += 1
            stats.downstream_cx_ssl_active += 1
        connection = _Connection(self, sock, address, tls)
        self.deadlines.watch(connection)
        self.connections.add(connection)
        try:
            connection.run()
        except _OverloadReset:
            pass  # it landed past the stream it was meant for: the connection ends all the same
        finally:
            self.connections.discard(connection)
            self.deadlines.unwatch(connection)
            stats.downstream_cx_active -= 1
            stats.downstream_cx_destroy += 1
            if tls is not None:
                stats.downstream_cx_ssl_active -= 1

    def drain(self, move=True, drain_time=0.0, immediate=False):
        """Stop serving. With ``move``, idle connections move to the next generation now and busy
        ones at the end of their current exchange (see ``_Connection.run``). Without it, each
        connection gets a close time within ``drain_time`` (all at once when ``immediate``, spread
        evenly otherwise, like Envoy's gradual drain): from then on its responses carry
        ``Connection: close``, and if it sits idle it is closed, never while a request is on it."""
        self.draining = True
        if not move:
            self.hand_off = None
            self.closing = True
            now = time.monotonic()
            for connection in list(self.connections):
                connection.close_at = now if immediate else now + random.uniform(0, drain_time)
                if connection.idle:
                    connection.deadline = min(connection.deadline, connection.close_at)
            return
        for connection in list(self.connections):
            if connection.tls is None:
                connection.release_if_idle()
            else:
                connection.linger()

    def count_response(self, status):
        count_status_class(self.stats, _STATUS_CLASS, status)


class _Connection:
    """One downstream connection. Reads happen only in ``run``; responses go straight out."""

    def __init__(self, hcm, sock, address, tls=None):
        self.hcm = hcm
        self.sock = sock
        #: the TLS handshake's facts (DownstreamTls), None for plain text
        self.tls = tls
        self.scheme = b"http" if tls is None else b"https"
        self._client_cert = None
        self.remote_ip = address[0]
        self.remote_port = address[1]
        self.decoder = RequestDecoder(hcm.max_headers_bytes, hcm.config.max_headers_count)
        self.stream = None
        self.request_deadline = 0.0
        #: when this connection times out in its current state (see hotproxy/deadlines.py)
        self.deadline = NEVER
        self.greenlet = gevent.getcurrent()
        #: waiting at a message boundary: nothing read and unparsed, so the connection may move
        self.idle = False
        self._local_address = None
        # when a draining listener without a successor closes this connection: one accepted
        # while the listener already closes its connections serves one exchange
        self.close_at = time.monotonic() if hcm.closing else NEVER
        #: a TLS connection that cannot move to the next generation: its next response closes
        #: it, and while idle it is closed only by its idle timeout (the client may be sending)
        self.lingering = False

    def linger(self):
        """Stay on this generation (Python cannot hand TLS state over), saying ``Connection:
        close`` in the next response."""
        self.close_at = time.monotonic()
        self.lingering = True

    def release_if_idle(self):
        """Interrupt the wait of a connection idle at a message boundary so that it moves (or
        closes). gevent's cancel_wait throws only if the wait is still on: race-free."""
        if self.idle:
            self.sock.hub.cancel_wait(self.sock._read_event, _Release(), False)

    def reset_for_overload(self):
        """reset_high_memory_stream chose this stream, which waits for a peer to take its buffered
        bytes: end it there (Envoy resets it, which on HTTP/1.1 closes the connection). Like
        ``release_if_idle``, nothing is thrown unless the wait is still on."""
        stream = self.stream
        for sock in (self.sock, stream.upstream.sock if stream.upstream is not None else None):
            if sock is not None:
                sock.hub.cancel_wait(sock._write_event, _OverloadReset(), False)

    def expire(self):
        """Called by the worker's Deadlines: interrupt whatever this connection waits for."""
        self.deadline = NEVER
        self.greenlet.kill(SocketTimeout("timed out"), block=False)

    # The mutation context that header formatters read (%DOWNSTREAM_REMOTE_ADDRESS% …).
    protocol = "HTTP/1.1"

    @property
    def remote_address(self):
        return address_label((self.remote_ip, self.remote_port))

    @property
    def local_address(self):
        if self._local_address is None:
            self._local_address = address_label(self.sock.getsockname())
        return self._local_address

    @property
    def local_ip(self):
        return self.sock.getsockname()[0]

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
        try:
            while True:
                at_boundary = self.stream is None and not decoder.mid_message
                if at_boundary and hcm.draining and not hcm.closing and self.tls is None:
                    return self._release()
                self.deadline = self._read_deadline()
                self.idle = at_boundary
                if wait_first and self.tls is None:
                    # The client cannot have sent its next request before reading our response:
                    # wait for readability rather than paying a failing recv first.
                    sock._wait(sock._read_event)
                data = sock.recv(recv_size)
                self.idle = False
                if not data:
                    return
                since_yield += len(data)
                if since_yield >= _YIELD_EVERY:
                    since_yield = 0
                    gevent.sleep(0)
                if self.request_deadline == 0.0:
                    self._start_request_clock()
                try:
                    decoder.feed(data)
                except ProtocolError:
                    # Serve the complete requests that came before the bad bytes, then answer
                    # the error (unless one of them closes the connection first).
                    _keep_complete_requests(events)
                    if self._dispatch(events) is _CLOSE:
                        return self._close()
                    raise
                outcome = self._dispatch(events)
                if outcome is _CLOSE:
                    return self._close()
                wait_first = outcome is _NEXT
                stream = self.stream
                if stream is not None and stream.out:
                    hcm.router.send_pending(stream, self)
        except _Release:
            self._release()
        except _OverloadReset:
            if self.stream is not None:
                self.stream.flag("OM")
        except _CloseConnection:
            if self.stream is not None and hcm.logging:
                self.log(self.stream)  # before the delayed close, which is not the request's time
            self._close()
        except ProtocolError as error:
            hcm.stats.downstream_cx_protocol_error += 1
            self._protocol_error(error)
        except SocketTimeout:
            self._on_timeout()
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
        stream = self.stream = ActiveStream(head, time.monotonic())
        if stream.start >= self.close_at:
            stream.close = True  # draining: this exchange is the connection's last
        if head.version != "1.1":
            # HTTP/1.0 needs accept_http_10, which hotproxy does not support: Envoy's default.
            return self.local_reply(stream, 426, local_reply.PROTOCOL_ERROR_BODIES[426], close=True)
        if hcm.overload is not None and self._overloaded(stream, hcm.overload):
            return None
        if head.host is None:
            return self.local_reply(stream, 400, b"", close=True)
        if head.method == b"CONNECT":
            stats.no_route += 1
            return self.local_reply(stream, 404, b"", close=True, flag="NR")
        target = head.target
        if b"#" in target:
            return self.local_reply(stream, 400, b"", close=True)  # a fragment is not sent (Envoy)
        if hcm.normalizer is not None:
            target = self._normalize(stream, head, target)
            if target is None:
                return None
        if head.upgrade is not None:
            # upgrade_configs are not supported yet: refused as Envoy refuses an unconfigured upgrade
            return self.local_reply(stream, 403, b"", close=True)
        health_check = hcm.health_check
        if hcm.server.health_check_failed:
            stream.close = True  # Envoy's drain-close: load balancers move their clients away
            stream.health_check_failed = health_check is not None
        if health_check is not None and health_check.matches(head, target):
            status, extra = health_check.reply(hcm.server.health_check_failed)
            return self.local_reply(stream, status, b"", extra=extra)
        route = hcm.route_table.match(head.host, target, head.headers, head.method)
        if route is None:
            stats.no_route += 1
            return self.local_reply(stream, 404, b"", flag="NR")
        stream.route = route
        kind = route.kind
        if kind is DIRECT_RESPONSE:
            stats.rq_direct_response += 1
            location = route.direct_location(_scheme(head, self.scheme), head.host, target)
            extra = [(b"location", location)] if location is not None else []
            return self.local_reply(stream, route.direct_status, route.direct_body or b"",
                                    extra=extra)
        if kind is REDIRECT:
            stats.rq_redirect += 1
            location = route.redirect_location(_scheme(head, self.scheme), head.host, target)
            return self.local_reply(stream, route.redirect_status, b"",
                                    extra=[(b"location", location)])
        if head.expect_continue:
            send_all(self.sock, _CONTINUE)
        hcm.router.start(stream, self, target, self._upstream_headers(stream))

    def _overloaded(self, stream, overload):
        """Envoy's overload actions on a new request, where Envoy applies them (after the codec,
        before Host and every other check): disable_http_keepalive makes this response the
        connection's last, stop_accepting_requests answers 503. True when answered."""
        hcm = self.hcm
        if not hcm.draining and overload.disables_keepalive():
            stream.close = True
            hcm.stats.downstream_cx_overload_disable_keepalive += 1
        if not overload.stops_request():
            return False
        hcm.stats.downstream_rq_overload_close += 1
        head = stream.head
        # a CONNECT or an upgrade has no end to wait for: the connection cannot continue
        self.local_reply(stream, 503, local_reply.OVERLOADED,
                         close=head.method == b"CONNECT" or head.upgrade is not None)
        return True

    def _normalize(self, stream, head, target):
        """The target to route after the config's normalizations, or None when the request was
        answered (400 for what is refused, 307 to an unescaped path)."""
        hcm = self.hcm
        outcome, target = hcm.normalizer.apply(head, target, self.sock.getsockname()[1], hcm.http1_stats)
        if outcome is FORWARD:
            return target
        if outcome is REJECT_HEADERS:
            self.local_reply(stream, 400, local_reply.PROTOCOL_ERROR_BODIES[400], close=True)
        elif outcome is REJECT:
            hcm.stats.downstream_rq_failed_path_normalization += 1
            self.local_reply(stream, 400, b"", close=True)
        else:
            hcm.stats.downstream_rq_redirected_with_normalized_path += 1
            self.local_reply(stream, 307, b"", extra=[(b"location", target)])
        return None

    def _on_body(self, data):
        stream = self.stream
        stream.bytes_received += len(data)
        if stream.upstream is not None:  # else it was answered here: the body goes nowhere
            self.hcm.router.send_body(stream, data)

    def _on_end(self):
        """The request is complete. Returns True when the connection must now close."""
        stream = self.stream
        hcm = self.hcm
        stream.body_done = True
        if time.monotonic() >= self.close_at:
            stream.close = True  # its close time passed mid-exchange: say so in this response
        if hcm.logging:
            stream.request_done = time.monotonic()
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
        self.stream = None
        self.request_deadline = 0.0
        hcm.stats.downstream_rq_active -= 1
        hcm.stats.downstream_rq_completed += 1
        hcm.rq_time.record((time.monotonic() - stream.start) * 1000)
        return stream.close

    def _upstream_headers(self, stream):
        """The request headers as the upstream gets them (docs/envoy-reference.md rules 3-9).

        Edited in place: what Envoy changes keeps its position, what it adds goes last.
        """
        hcm = self.hcm
        head = stream.head
        headers = head.headers
        if head.hop_by_hop:
            headers = head.headers = strip_hop_by_hop(headers, head.nominated, NOT_FORWARDED)
        if headers and headers[0][0] != b"host":
            headers.sort(key=_host_first)
        xfp_at = request_id_at = xff_at = xfcc_at = -1
        for index, (name, value) in enumerate(headers):
            if name == b"x-forwarded-proto":
                xfp_at = index
            elif name == XFCC:
                xfcc_at = index
            elif name == b"x-request-id":
                request_id_at = index if value else -1
            elif name == b"x-forwarded-for":
                xff_at = index
            elif name == b"expect" and head.expect_continue:
                del headers[index]  # answered here already: the upstream must not be asked again
                break
        if hcm.use_remote_address:
            # Every peer is external: hotproxy has no internal_address_config (nor has Envoy 1.40
            # an internal range by default, loopback included).
            remote = self.remote_ip.encode()
            if xff_at >= 0:
                prior = headers[xff_at][1]
                headers[xff_at] = (b"x-forwarded-for", prior + b"," + remote)
                trusted = _trusted_client(prior, hcm.xff_num_trusted_hops, remote)
            else:
                headers.append((b"x-forwarded-for", remote))
                trusted = remote
            if xfp_at >= 0:
                headers[xfp_at] = (b"x-forwarded-proto", self.scheme)
            else:
                headers.append((b"x-forwarded-proto", self.scheme))
            headers.append((b"x-envoy-external-address", trusted))
            if hcm.generate_request_id:
                if request_id_at >= 0:
                    headers[request_id_at] = (b"x-request-id", new_request_id())
                else:
                    headers.append((b"x-request-id", new_request_id()))
        else:
            if xfp_at < 0:
                headers.append((b"x-forwarded-proto", self.scheme))
            if hcm.generate_request_id and request_id_at < 0:
                headers.append((b"x-request-id", new_request_id()))
        if xfcc_at >= 0 or (self.tls is not None and self.tls.peer is not None):
            headers = head.headers = xfcc.apply(hcm.config.forward_client_cert_details, headers,
                                                self.client_certificate(), hcm.client_cert_details)
        return headers

    def client_certificate(self):
        """The client's certificate as x-forwarded-client-cert describes it, None when the
        connection is not mutual TLS."""
        tls = self.tls
        if tls is None or tls.peer is None:
            return None
        if self._client_cert is None:
            peer = tls.peer
            self._client_cert = xfcc.ClientCertificate(
                sha256=peer.sha256, subject=peer.subject, uris=peer.uris, dns=peer.dns, pem=tls.peer_pem,
                chain_pem=tls.peer_pem, local_uris=tls.local_uris)
        return self._client_cert

    # responses generated here

    def local_reply(self, stream, status, body, close=False, extra=(), flag=None, leading=()):
        """Answer ``stream`` from here. A reply sent before the request body was read closes the
        connection afterwards (Envoy: the unread body cannot be trusted to end where it says).
        Once the request was routed, the route's response header mutations apply, as to an
        upstream's response (Envoy: direct responses, redirects and the router's own replies —
        no healthy upstream, connect failures, timeouts — alike)."""
        hcm = self.hcm
        route = stream.route
        if route is not None and route.has_response_mutations:
            extra = route.mutate_response(list(extra), stream.weighted, self)
        head = stream.head
        if head.has_body and stream.pending_reply is None and not stream.body_done:
            close = True
        close = close or stream.close
        stream.close = close
        stream.status = status
        stream.responded = True
        if flag is not None:
            stream.flag(flag)
        if head.method != b"HEAD":
            stream.bytes_sent = len(body)
        if stream.health_check_failed and FAILED_HEADER not in extra:
            extra = [*extra, FAILED_HEADER]
        hcm.count_response(status)
        send_all(self.sock, local_reply.encode(status, body, hcm.server_name, close,
                                               head.method == b"HEAD", extra, leading))
        if close:
            raise _CloseConnection()

    def defer_reply(self, stream, status, body, flag=None, leading=()):
        """Answer once the request body has been read (an upstream failure, as Envoy does)."""
        stream.pending_reply = (status, body, flag, leading)

    def _protocol_error(self, error):
        stream = self.stream
        if stream is not None and stream.responded:
            return
        hcm = self.hcm
        if stream is None:
            hcm.stats.downstream_rq_total += 1
        if error.status == 431:
            hcm.stats.downstream_rq_too_large += 1
        hcm.count_response(error.status)
        body = local_reply.PROTOCOL_ERROR_BODIES.get(error.status, b"")
        if stream is not None:
            stream.status = error.status
            stream.bytes_sent = len(body)
            stream.flag("DPE")
        elif hcm.logging:
            self._log_unparsed(error.status, len(body))
        try:
            send_all(self.sock, local_reply.encode(error.status, body, hcm.server_name, close=True))
            self._close()
        except OSError:
            pass

    def _release(self):
        """Leave this idle connection to the next generation, or close it if none can take it."""
        self.idle = False
        if self.hcm.hand_off is not None:
            try:
                self.hcm.hand_off(self.sock)
                return
            except OSError:
                pass
        self._close()

    def _close(self):
        """Half-close, then wait briefly for the client's FIN before the socket is closed."""
        sock = self.sock
        self.deadline = NEVER
        try:
            sock.shutdown(SHUT_WR)
            sock.timeout = _DELAYED_CLOSE_S
            while sock.recv(_RECV_SIZE):
                pass
        except OSError:
            pass

    # access logs

    def log(self, stream):
        """Hand ``stream``'s StreamInfo to the access logs, once."""
        if stream.logged:
            return
        stream.logged = True
        now = time.monotonic()
        started = stream.start
        info = self._info(started, now)
        head = stream.head
        info.method = head.method
        info.path = head.target
        info.request_headers = head.headers
        info.response_headers = stream.response_headers
        info.response_code = stream.status
        if stream.flags:
            info.response_flags = stream.flags
        info.bytes_received = stream.bytes_received
        info.bytes_sent = stream.bytes_sent
        if stream.request_done is not None:
            info.request_complete_ms = (stream.request_done - started) * 1000
            if stream.service_time_ms is not None:
                info.first_upstream_rx_ms = info.request_complete_ms + stream.service_time_ms
        info.upstream_service_time_ms = stream.service_time_ms
        info.upstream_host = stream.upstream_host
        info.upstream_cluster = stream.cluster.name if stream.cluster is not None else None
        # Envoy counts the first attempt once a cluster is chosen, a host or not (probed)
        info.upstream_request_attempt_count = (
            self.hcm.router.retries.attempt_counts.pop(stream, 0) or int(stream.cluster is not None))
        info.route_name = stream.route.name if stream.route is not None else None
        self.hcm.access_logs.log(info)

    def _log_unparsed(self, status, body_length):
        """A request that never got past its head still shows in the access log, as in Envoy."""
        info = self._info(time.monotonic(), time.monotonic())
        info.response_code = status
        info.bytes_sent = body_length
        info.response_flags = {"DPE"} if status != 408 else set()
        self.hcm.access_logs.log(info)

    def _info(self, started, now):
        info = StreamInfo(time.time() - (now - started), started)
        info.protocol = "HTTP/1.1"
        info.scheme = self.scheme
        info.downstream_tls = self.tls
        info.response_complete_ms = (now - started) * 1000
        info.downstream_remote_address = info.downstream_direct_remote_address = self.remote_address
        info.downstream_local_address = self.local_address
        return info

    # timeouts

    def _start_request_clock(self):
        hcm = self.hcm
        limit = hcm.request_headers_timeout or hcm.request_timeout
        self.request_deadline = time.monotonic() + limit if limit else -1.0

    def _read_deadline(self):
        hcm = self.hcm
        now = time.monotonic()
        if not self.decoder.mid_message and self.stream is None:
            idle = now + hcm.idle_timeout if hcm.idle_timeout else NEVER
            return idle if idle < self.close_at or self.lingering else self.close_at
        idle = now + hcm.stream_idle_timeout if hcm.stream_idle_timeout else NEVER
        request_deadline = self.request_deadline
        return request_deadline if 0 < request_deadline < idle else idle

    def _on_timeout(self):
        self.deadline = NEVER
        hcm = self.hcm
        stats = hcm.stats
        stream = self.stream
        if not self.decoder.mid_message and stream is None:
            stats.downstream_cx_idle_timeout += 1
            return  # an idle keep-alive connection: closed silently
        if stream is not None and stream.responded:
            return
        if stream is None:
            stats.downstream_rq_total += 1
            stats.downstream_rq_header_timeout += 1
            body = b"request header timeout" if hcm.request_headers_timeout else b"request timeout"
            if hcm.logging:
                self._log_unparsed(408, len(body))
        elif hcm.request_timeout and time.monotonic() >= self.request_deadline > 0:
            stats.downstream_rq_timeout += 1
            body = b"request timeout"
            stream.flag("DT")
        else:
            stats.downstream_rq_idle_timeout += 1
            body = b"stream timeout"
            stream.flag("SI")
        if stream is not None:
            stream.status = 408
            stream.bytes_sent = len(body)
        hcm.count_response(408)
        try:
            send_all(self.sock, local_reply.encode(408, body, hcm.server_name, close=True))
            self._close()
        except OSError:
            pass


# What a batch of decoded events left the connection with (see _Connection._dispatch).
_MORE, _NEXT, _CLOSE = "more", "next", "close"


def _keep_complete_requests(events):
    """Cut ``events`` after the last complete request (the rest belongs to the bad one)."""
    for index in range(len(events) - 1, -1, -1):
        if events[index] is END:
            del events[index + 1:]
            return
    events.clear()


class _CloseConnection(Exception):
    """A response that ends the connection was sent."""


class _Release(Exception):
    """Thrown into an idle connection's wait when its generation drains."""


class _OverloadReset(Exception):
    """Thrown into a stream's blocked send when reset_high_memory_stream resets it."""


def _scheme(head, connection_scheme):
    """The scheme redirects keep: the client's x-forwarded-proto, else the connection's."""
    for name, value in head.headers:
        if name == b"x-forwarded-proto":
            return value
    return connection_scheme


def _host_first(item):
    return item[0] != b"host"


def _trusted_client(prior_xff, trusted_hops, remote):
    """The client address Envoy trusts: the peer, or the Nth XFF entry from the right."""
    if not trusted_hops:
        return remote
    entries = [entry.strip() for entry in prior_xff.split(b",")]
    return entries[-trusted_hops] if len(entries) >= trusted_hops else remote
