"""The router filter: one request's exchange with an upstream host.

``start`` picks the cluster and host, takes a pooled connection and queues the encoded request
head; ``send_body`` queues body bytes; ``flush`` sends what is queued (the connection manager
calls it once per batch of received bytes, so a head and a small body leave in one send);
``finish`` ends the request and relays the response downstream as it arrives, chunk by chunk.
Memory stays bounded in both directions: nothing is read from one side before the previous piece
went out on the other.

A pooled connection the upstream closed while it sat idle shows up as a reset or an EOF before any
response byte; a request that had not sent body bytes yet is then sent once more on a fresh
connection (it cannot have been processed). That is part of one attempt: a route with a retry
policy (or attempt counts) makes its attempts in ``retrying.Retries`` instead, which keeps the
request body for a replay and decides before any response byte goes downstream.
"""
from __future__ import annotations

import time
from socket import timeout as SocketTimeout

import gevent

from ...errors import ProtocolError
from ...deadlines import NEVER
from ...upstream.cluster import HASHING_POLICIES
from ...upstream.connect import ConnectFailure
from ...upstream.http2_request import Request as H2Request
from ...upstream.request import give_back, take_connection
from .. import local_reply
from ..http1.codec import END
from ..http1.heads import trailers_of
from ..http1.serialize import LAST_CHUNK, chunk, last_chunk, request_head
from .local_failure_stats import charge_local_reply
from .trailers import request_end
from ...sockio import send_all
from .downstream_head import CHUNKED as _CHUNKED, FILTERED as _FILTERED, RAW as _RAW, downstream_head
from .downstream_head import parser_takes_rest as _parser_takes_rest
from .downstream_head import response_decoder as _response_decoder, set_header as _set_header
from . import h2_exchange
from .outcomes import report, report_host
from .retry import UpstreamReset
from .mirroring import Mirrors
from .retrying import Retries

_RECV_SIZE = 256 * 1024  # a 64 KiB body and its head arrive in one read
#: A Content-Length body with at least this much left bypasses the parser (see _pass_through).
_PASS_THROUGH_MIN = 16384
#: Bytes relayed before a busy exchange yields to other greenlets (fairness).
_YIELD_EVERY = 1 << 20


class Router:
    """One per connection manager: ``stats`` are its (no_cluster), ``stream_idle_timeout`` the
    idle timeout of routes without their own; ``logging`` keeps attempt counts for the logs."""

    def __init__(self, cluster_manager, server_name, stats, stream_idle_timeout, logging):
        self.clusters = cluster_manager
        self.server_name = server_name
        self.stats = stats
        self.stream_idle_timeout = stream_idle_timeout
        self._buffers = []  # free response buffers (each in use by one exchange at a time)
        self.retries = Retries(self)
        self.retries.attempt_counts = {} if logging else None
        #: requests of retrying routes whose body still arrives (see retrying.Replay)
        self.replays = self.retries.replays
        self.mirrors = Mirrors(self)
        self.mirroring = self.mirrors.copies  # requests whose shadow copies are in the making
        self.h2 = {}    # stream -> h2_exchange.Exchange, for requests to HTTP/2 upstreams
        h2_exchange.attach_pools(cluster_manager)
        #: the connection manager's tracing.Tracer, or None
        self.tracer = None

    def start(self, stream, conn, target, headers):
        route = stream.route
        name = route.cluster_name
        if name is None:
            name, stream.weighted = route.pick_cluster(headers)
        cluster = self.clusters.get(name) if name is not None else None
        if cluster is None:
            self.stats.no_cluster += 1
            return conn.local_reply(stream, 503, b"", flag="NC")
        stream.cluster = cluster
        if self.tracer is not None:
            self.tracer.upstream(stream, name, headers)
        hash_key = self._extras(route, stream, conn, cluster, target, headers) if route.extras else None
        if cluster.http2 is not None and cluster.http2.takes(stream):
            return h2_exchange.start(self, stream, conn, cluster, target, headers, hash_key)
        if route.retry is not None:
            return self.retries.start(stream, conn, cluster, target, headers, hash_key)
        host = cluster.pick_host(hash_key, conn.sock, headers)
        if host is None:
            charge_local_reply(cluster, 503, "UH")
            return conn.local_reply(stream, 503, local_reply.NO_HEALTHY_UPSTREAM, flag="UH")
        stream.info.upstream_host = host.label
        pool = host.pool if not route.high_priority else cluster.high.pool(host)
        if cluster.options_per_request:     # before the Host is rewritten, as in Envoy
            pool = cluster.pool_for_request(host, stream.head.host, headers, conn, route.high_priority)
        if route.rewrites_path:
            target = route.rewrite_path(target)
        if route.host_rewrite_literal is not None:
            _set_header(headers, b"host", route.host_rewrite_literal)
        elif route.auto_host_rewrite and host.hostname:
            _set_header(headers, b"host", host.hostname.encode())
        if route.timeout:
            headers.append((b"x-envoy-expected-rq-timeout-ms", b"%d" % int(route.timeout * 1000)))
        if route.has_request_mutations:
            headers = route.mutate_request(headers, stream.weighted, conn)
        if stream.chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        stream.request_bytes = request_head(stream.head.method, target, headers)
        try:
            stream.upstream = take_connection(cluster, host, pool)
        except ConnectFailure as failure:
            # Never an upstream request (Envoy counts upstream_rq_total once a connection is
            # had), but a 503 of the cluster's all the same.
            charge_local_reply(cluster, 503)
            body = local_reply.CONNECT_ERROR + failure.reason.encode()
            if failure.reason == "overflow":
                return conn.defer_reply(stream, 503, body, "UO", local_reply.OVERFLOW_HEADERS)
            return conn.defer_reply(stream, 503, body, "UF")
        cluster.stats.upstream_rq_total += 1
        host.stats.rq_total += 1
        stream.out.append(stream.request_bytes)

    def _extras(self, route, stream, conn, cluster, target, headers):
        """Start the route's mirroring; its hash key when the cluster hashes, else None."""
        if route.mirrors is not None:
            self.mirrors.start(stream, headers, self.retries.connection_buffer_limit)
        if route.request_hash is not None and cluster.config.lb_policy in HASHING_POLICIES:
            return route.request_hash.key(stream, headers, target, conn)
        return None

    def send_body(self, stream, data):
        piece = chunk(data) if stream.chunked else data
        stream.out.append(piece)
        if self.replays:
            self.retries.keep(stream, piece, len(data))
        if self.mirroring:
            self.mirrors.keep(stream, piece, len(data))

    def flush(self, stream):
        """Send the queued request bytes. Raises ``UpstreamReset``."""
        if stream.upstream.__class__ is H2Request:
            return h2_exchange.flush(self, stream)
        out = stream.out
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        stream.buffered = len(data)  # held until the upstream takes it (reset_high_memory_stream)
        try:
            send_all(stream.upstream.sock, data)
        except OSError:
            if stream.body_sent or not self._reconnect(stream):
                raise UpstreamReset("connection termination") from None
            if stream.head_sent:
                data = stream.request_bytes + data
            send_all(stream.upstream.sock, data)
        finally:
            stream.buffered = 0
        stream.body_sent = stream.head_sent or len(data) > len(stream.request_bytes)
        stream.head_sent = True

    def send_pending(self, stream, conn):
        """``flush`` for a request still arriving: an upstream failure is answered downstream."""
        try:
            self.flush(stream)
        except (UpstreamReset, OSError):
            if self.replays:
                self.retries.forget(stream)
            report(stream, "reset")
            self._fail(stream, conn, 503, local_reply.CONNECT_ERROR + b"connection termination", "UC")

    def finish(self, stream, conn):
        """The downstream request is complete: send the rest and relay the response."""
        if self.mirroring:
            self.mirrors.send(stream)
        if stream.upstream.__class__ is H2Request:
            return h2_exchange.finish(self, stream, conn)
        if self.replays:
            replay = self.replays.get(stream)
            if replay is not None:
                return self.retries.finish(stream, conn, replay)
        if stream.chunked:
            stream.out.append(request_end(stream, conn))
        try:
            if stream.out:
                self.flush(stream)
            self._relay_response(stream, conn)
        except UpstreamReset as reset:
            report(stream, "reset")
            self._fail(stream, conn, 503, local_reply.CONNECT_ERROR + reset.reason.encode(), "UC")
        except (ProtocolError, OSError) as error:
            self.answer_failure(stream, conn, error)

    def answer_failure(self, stream, conn, error):
        """The reply, and the counts, for an exchange that ``error`` ended: a timeout, an
        upstream that broke the protocol, or (any other OSError) a downstream that went away
        while the response was relayed."""
        if isinstance(error, SocketTimeout):
            report(stream, "timeout")
            stream.cluster.stats.upstream_rq_timeout += 1
            if stream.upstream is not None:
                stream.upstream.pool.host.stats.rq_timeout += 1
            self._fail(stream, conn, 504, local_reply.UPSTREAM_TIMEOUT, "UT")
        elif isinstance(error, ProtocolError):
            report(stream, "reset")
            stream.cluster.stats.upstream_cx_protocol_error += 1
            self._fail(stream, conn, 502, local_reply.CONNECT_ERROR + b"protocol error", "UPE")
        else:
            self._release(stream, False)
            stream.flag("DC")
            stream.close = True

    def abort(self, stream):
        """The downstream went away mid-exchange: the upstream connection cannot be reused."""
        if self.replays:
            self.retries.forget(stream)
        if self.mirroring:
            self.mirrors.forget(stream)
        if self.h2:
            h2_exchange.forget(self, stream)
        self._release(stream, False)

    def _relay_response(self, stream, conn, attempt=None):
        buffer = self._buffers.pop() if self._buffers else bytearray(_RECV_SIZE)
        try:
            return self._relay_with(buffer, stream, conn, attempt)
        finally:
            stream.buffered = 0
            self._buffers.append(buffer)

    def _relay_with(self, buffer, stream, conn, attempt=None):
        """Relay the response, reading into ``buffer``: the parser and the downstream send see
        memoryviews of it, so a body is never copied into a new bytes object. ``attempt``: a
        retrying route's retrying.Attempt (its deadlines, and its say on the response head)."""
        view = memoryview(buffer)
        upstream = stream.upstream
        usock = upstream.sock
        decoder = upstream.decoder
        if decoder is None:
            decoder = upstream.decoder = _response_decoder(stream.cluster.config)
        events = decoder.events
        send_response = conn.send_response
        route = stream.route
        head_only = stream.head.method == b"HEAD"
        if head_only:
            decoder.expect_no_body()
        if attempt is None:
            sent_at = time.monotonic()
            route_deadline = sent_at + route.timeout if route.timeout else NEVER
            idle = route.idle_timeout if route.idle_timeout is not None else self.stream_idle_timeout
        else:
            sent_at, route_deadline, idle = attempt.sent_at, attempt.deadline, attempt.idle
        framing = None       # None until the response head went out
        response = None      # the upstream's response head
        expected = 0         # the response's Content-Length, with raw framing
        since_yield = 0      # bytes received since this exchange last yielded
        excess = False       # the upstream sent bytes past the end of its response
        received_any = False
        # Our request was just sent: the response cannot be here yet, so wait before reading
        # (TLS: a record may already wait inside OpenSSL, and its recv waits by itself).
        conn.set_deadline(_deadline(route_deadline, sent_at, idle))
        if not upstream.tls:
            usock._wait(usock._read_event)
        while True:
            try:
                received = usock.recv_into(buffer)
            except OSError as exc:
                if isinstance(exc, SocketTimeout):
                    raise
                received = None
            data = view[:received] if received else None
            if not received:
                if not received_any and not stream.body_sent and self._reconnect(stream):
                    send_all(stream.upstream.sock, stream.request_bytes)
                    return self._relay_with(buffer, stream, conn, attempt)
                if framing is None:
                    if received_any:  # a response head cut short
                        raise ProtocolError(502, "upstream.incomplete_head")
                    raise UpstreamReset("connection termination")
                if received is None:
                    raise UpstreamReset("connection termination")
                decoder.feed_eof()
            else:
                received_any = True
                since_yield += received
            # Until the head is parsed, split the read after it: with a Content-Length the body
            # bytes that came with the head are forwarded as they are, not copied by the parser.
            pieces = (data,)  # None: only the events feed_eof queued
            if received and framing is None and not head_only and received > _PASS_THROUGH_MIN:
                end = buffer.find(b"\r\n\r\n", 0, received) + 4
                if 4 <= end <= received - _PASS_THROUGH_MIN:  # a small body: the parser's copy is
                    pieces = (data[:end], data[end:])       # cheaper than a fresh parser after it
            out = []
            done = bypassed = merged = False
            for index, piece in enumerate(pieces):
                if merged:
                    break
                if index == 1 and framing is _RAW and not done:
                    taken = piece[:expected - stream.info.bytes_sent]
                    out.append(taken)
                    stream.info.bytes_sent += len(taken)
                    done = stream.info.bytes_sent == expected
                    excess = len(taken) < len(piece)
                    bypassed = True
                    break
                if done:
                    excess = True  # a complete response, and more bytes behind it
                    break
                if piece is not None:
                    decoder.feed(piece)
                    if index == 0 and len(pieces) == 2 and _parser_takes_rest(events):
                        # Not a Content-Length body after all: the parser takes the rest now, so
                        # that an error in it is a 502 before any of the response went out.
                        decoder.feed(pieces[1])
                        merged = True
                held = None     # a filtered body piece: the end may follow, to go with it
                for event in events:
                    if event.__class__ is bytes:
                        if framing is _FILTERED:
                            if held is not None:
                                stream.filters.encode_data(held, False)
                            held = bytes(event)
                            continue
                        stream.info.bytes_sent += len(event)
                        if framing is _CHUNKED:
                            out.append(chunk(event))
                        elif framing is _RAW:
                            out.append(event)
                    elif event is END:
                        if framing is _CHUNKED:
                            out.append(self._last_chunk(stream, conn, response))
                        elif framing is _FILTERED and not stream.filters.encoding_ended:
                            self._end_filtered(stream, held, response)
                            held = None
                        done = True
                    else:
                        if attempt is not None:
                            attempt.on_head(stream, event)  # raises retrying.RetryAttempt
                        response = event
                        framing = downstream_head(self, stream, event, out, sent_at, head_only,
                                                  conn, attempt)
                        if framing is _RAW:
                            expected = int(event.content_length)
                if held is not None:
                    stream.filters.encode_data(held, False)
                events.clear()
            if out:
                stream.buffered = received or 0  # held until the client takes it
                send_response(out)
                stream.buffered = 0
            elif framing is _FILTERED:
                conn.flush_response(stream)     # a head whose body is still to come
            if since_yield >= _YIELD_EVERY:  # an upstream that always has bytes ready (fairness)
                since_yield = 0
                gevent.sleep(0)
            conn.set_deadline(_deadline(route_deadline, time.monotonic(), idle))
            if not done and (bypassed or (framing is _RAW and expected - stream.info.bytes_sent >= _PASS_THROUGH_MIN)):
                # The rest of a Content-Length body goes straight from one socket to the other
                # through a reusable buffer: no parser copy, no new bytes object per read.
                self._pass_through(view, stream, conn, expected - stream.info.bytes_sent, route_deadline, idle)
                bypassed = done = True
            if done:
                if bypassed:
                    decoder.reset()  # llhttp never saw the body
                stream.cluster.rq_time.record((time.monotonic() - sent_at) * 1000)
                if excess or decoder.excess:
                    # never parsed as a response, never left on a pooled connection (Envoy)
                    stream.cluster.stats.upstream_cx_protocol_error += 1
                    return self._release(stream, False)
                self._release(stream, upstream.keep_alive)
                return

    @staticmethod
    def _last_chunk(stream, conn, response):
        """The end of a chunk-framed response: with its trailers where both the cluster and the
        connection manager enable them (Envoy's enable_trailers), else without."""
        trailers = trailers_of(response)
        if trailers is None or not conn.hcm.config.enable_trailers \
                or not stream.cluster.config.http1_enable_trailers:
            return LAST_CHUNK
        return last_chunk(trailers)

    @staticmethod
    def _end_filtered(stream, held, response):
        """The end of a response the filters take: its trailers go through their
        encode_trailers hooks where the cluster decodes them (an HTTP/2 client gets them; the
        HTTP/1.1 sink ends the body without)."""
        filters = stream.filters
        trailers = trailers_of(response) if stream.cluster.config.http1_enable_trailers else None
        if trailers is None:
            return filters.encode_data(held or b"", True)
        if held:
            filters.encode_data(held, False)
        filters.encode_trailers(trailers)

    def _pass_through(self, view, stream, conn, remaining, route_deadline, idle):
        usock = stream.upstream.sock
        send_body = conn.send_body
        relayed = 0
        while remaining:
            received = usock.recv_into(view, min(remaining, len(view)))
            if not received:
                raise UpstreamReset("connection termination")
            stream.buffered = received
            send_body(view[:received])
            stream.buffered = 0
            remaining -= received
            stream.info.bytes_sent += received
            relayed += received
            if relayed >= _YIELD_EVERY:
                relayed = 0
                gevent.sleep(0)
            conn.set_deadline(_deadline(route_deadline, time.monotonic(), idle))

    def _fail(self, stream, conn, status, body, flag):
        self._release(stream, False)
        if stream.responded:
            # The response already started: all that can be said now is an abrupt close.
            stream.flag(flag)
            stream.close = True
            return
        charge_local_reply(stream.cluster, status)
        conn.local_reply(stream, status, body, close=stream.close, flag=flag)

    def _reconnect(self, stream):
        """Replace a stale pooled connection with a fresh one. False when the connection was
        not a reused one (then the failure is real) or when connecting fails."""
        stale = stream.upstream
        if not stale.reused:
            return False
        if self.replays:
            replay = self.replays.get(stream)
            if replay is not None and replay.finishing:
                return False    # the attempt loop of retrying.Retries decides
        stale.pool.release(stale, False)
        stream.upstream = None
        try:
            stream.upstream = stale.pool.acquire_fresh()
        except ConnectFailure as failure:
            if failure.reason != "overflow":
                report_host(stream.cluster, stale.pool.host, "connect_failure")
            return False
        stream.cluster.stats.upstream_rq_retry += 1
        return True

    def _release(self, stream, reusable):
        upstream = stream.upstream
        if upstream is not None:
            stream.upstream = None
            give_back(stream.cluster, upstream, reusable)

def _deadline(route_deadline, now, idle):
    """The sooner of the route's deadline and the stream idle timeout from ``now``."""
    if idle:
        idle_deadline = now + idle
        if idle_deadline < route_deadline:
            return idle_deadline
    return route_deadline

