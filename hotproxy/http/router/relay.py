"""Relaying an HTTP/1.1 upstream's response downstream, as it arrives (the router's
``finish``, and each attempt of retrying.py and hedging.py).

One reusable buffer per exchange: the parser and the downstream send see memoryviews of it, so a
body is never copied into a new bytes object. Past its head, a Content-Length body skips the
parser: from one plain socket to the other it is spliced (spliced_body.py), else relayed through
the buffer.
"""
from __future__ import annotations

import time
from socket import timeout as SocketTimeout

import gevent

from ...deadlines import NEVER, sooner_of
from ...errors import ProtocolError
from ...sockio import send_all
from ..http1.codec import END
from ..http1.heads import trailers_of
from ..http1.serialize import LAST_CHUNK, chunk, last_chunk
from .downstream_head import CHUNKED as _CHUNKED, FILTERED as _FILTERED, RAW as _RAW, downstream_head
from .downstream_head import parser_takes_rest as _parser_takes_rest
from .downstream_head import response_decoder as _response_decoder
from . import upstream_duration
from .retry import UpstreamReset
from .spliced_body import response_rest, response_spliceable

#: A 64 KiB body and its head arrive in one read: such a body is relayed from this buffer, not
#: spliced (a first read of the head alone, to splice the rest, did not pay: docs/benchmarks.md).
_RECV_SIZE = 256 * 1024
#: A Content-Length body with at least this much left bypasses the parser (see _pass_through).
_PASS_THROUGH_MIN = 16384
#: Bytes relayed before a busy exchange yields to other greenlets (fairness).
_YIELD_EVERY = 1 << 20


def relay_response(router, stream, conn, attempt=None):
    buffer = router._buffers.pop() if router._buffers else bytearray(_RECV_SIZE)
    try:
        if attempt is None and stream.cluster.config.max_stream_duration:
            return _relay_bounded(router, buffer, stream, conn)
        return _relay_with(router, buffer, stream, conn, attempt)
    finally:
        stream.buffered = 0
        router._buffers.append(buffer)


def _relay_bounded(router, buffer, stream, conn):
    """The relay under the cluster's max_stream_duration (upstream_duration.py), on a route
    without a retry policy: its connection was taken with the request's head (Router.start), so
    the limit runs from the stream's start. It rides on the route's deadline, as an attempt's
    does (retrying.py): a timeout at the limit, with no sooner route deadline, is the limit's."""
    now = time.monotonic()
    limit_at = stream.start + stream.cluster.config.max_stream_duration
    timeout = stream.route.timeout
    route_deadline = now + timeout if timeout else NEVER
    try:
        if now < limit_at:
            return _relay_with(router, buffer, stream, conn, None, min(route_deadline, limit_at))
    except SocketTimeout:
        if not upstream_duration.passed(limit_at, route_deadline):
            raise
    upstream_duration.reached(router, stream)
    return upstream_duration.answer(stream, conn, limit_at, now)


def _relay_with(router, buffer, stream, conn, attempt=None, deadline=None):
    """Relay the response, reading into ``buffer``: the parser and the downstream send see
    memoryviews of it, so a body is never copied into a new bytes object. ``attempt``: a
    retrying route's retrying.Attempt (its deadlines, and its say on the response head);
    without one, ``deadline`` (None: the route's timeout from now)."""
    view = memoryview(buffer)
    upstream = stream.upstream
    usock = upstream.sock
    decoder = upstream.decoder
    if decoder is None:
        decoder = upstream.decoder = _response_decoder(stream.cluster.config)
    events = decoder.events
    info = stream.info
    route = stream.route
    head_only = stream.head.method == b"HEAD"
    if head_only:
        decoder.expect_no_body()
    if attempt is None:
        sent_at = time.monotonic()
        route_deadline = deadline if deadline is not None else (
            sent_at + route.timeout if route.timeout else NEVER)
        idle = route.idle_timeout if route.idle_timeout is not None else router.stream_idle_timeout
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
    conn.set_deadline(sooner_of(route_deadline, sent_at, idle))
    if not upstream.tls:
        usock._wait(usock._read_event)
    while True:
        try:
            received = usock.recv_into(buffer)
        except OSError as exc:
            if isinstance(exc, SocketTimeout):
                raise
            received = None
        if received:
            received_any = True
            since_yield += received
            piece = view[:received]
        else:
            if not received_any and not stream.body_sent and router._reconnect(stream):
                send_all(stream.upstream.sock, stream.request_bytes)
                return _relay_with(router, buffer, stream, conn, attempt, deadline)
            if framing is None:
                if received_any:  # a response head cut short
                    raise ProtocolError(502, "upstream.incomplete_head")
                raise UpstreamReset("connection termination")
            if received is None:
                raise UpstreamReset("connection termination")
            decoder.feed_eof()
            piece = None    # only the events feed_eof queued
        # Until the head is parsed, split the read after it: with a Content-Length the body
        # bytes that came with the head (``rest``) are forwarded as they are, not copied by
        # the parser.
        rest = None
        if received > _PASS_THROUGH_MIN and framing is None and not head_only:
            end = buffer.find(b"\r\n\r\n", 0, received) + 4
            if 4 <= end <= received - _PASS_THROUGH_MIN:  # a small body: the parser's copy is
                piece, rest = piece[:end], piece[end:]    # cheaper than a fresh parser after it
        out = []
        done = bypassed = False
        while True:     # the read's pieces: all of it, or its head and then the rest
            if piece is not None:
                decoder.feed(piece)
                if rest is not None and _parser_takes_rest(events):
                    # Not a Content-Length body after all: the parser takes the rest now, so
                    # that an error in it is a 502 before any of the response went out.
                    decoder.feed(rest)
                    rest = None
            held = None     # a filtered body piece: the end may follow, to go with it
            for event in events:
                if event.__class__ is bytes:
                    if framing is _RAW:
                        info.bytes_sent += len(event)
                        out.append(event)
                    elif framing is _FILTERED:
                        if held is not None:
                            stream.filters.encode_data(held, False)
                        held = bytes(event)
                    else:
                        info.bytes_sent += len(event)
                        if framing is _CHUNKED:
                            out.append(chunk(event))
                elif event is END:
                    if framing is _CHUNKED:
                        out.append(_last_chunk(stream, conn, response))
                    elif framing is _FILTERED and not stream.filters.encoding_ended:
                        _end_filtered(stream, held, response)
                        held = None
                    done = True
                else:
                    if attempt is not None:
                        attempt.on_head(stream, event)  # raises retrying.RetryAttempt
                    response = event
                    framing = downstream_head(router, stream, event, out, sent_at, head_only,
                                              conn, attempt)
                    if framing is _RAW:
                        expected = int(event.content_length)
            if held is not None:
                stream.filters.encode_data(held, False)
            events.clear()
            if rest is None:
                break
            if done:
                excess = True  # a complete response, and more bytes behind it
                break
            if framing is _RAW:
                taken = rest[:expected - info.bytes_sent]
                out.append(taken)
                info.bytes_sent += len(taken)
                done = info.bytes_sent == expected
                excess = len(taken) < len(rest)
                bypassed = True
                break
            piece, rest = rest, None    # the filters take the body: through the parser
        if out:
            stream.buffered = received  # held until the client takes it
            conn.send_response(out)
            stream.buffered = 0
        elif framing is _FILTERED:
            conn.flush_response(stream)     # a head whose body is still to come
        if since_yield >= _YIELD_EVERY:  # an upstream that always has bytes ready (fairness)
            since_yield = 0
            gevent.sleep(0)
        if not done:
            conn.set_deadline(sooner_of(route_deadline, time.monotonic(), idle))
            if bypassed or (framing is _RAW and expected - info.bytes_sent >= _PASS_THROUGH_MIN):
                # The rest of a Content-Length body goes straight from one socket to the other
                # through a reusable buffer: no parser copy, no new bytes object per read.
                _pass_through(view, stream, conn, expected - info.bytes_sent, route_deadline, idle)
                bypassed = done = True
        if done:
            if bypassed:
                decoder.reset()  # llhttp never saw the body
            stream.cluster.rq_time.record((time.monotonic() - sent_at) * 1000)
            if excess or decoder.excess:
                # never parsed as a response, never left on a pooled connection (Envoy)
                stream.cluster.stats.upstream_cx_protocol_error += 1
                return router._release(stream, False)
            router._release(stream, upstream.keep_alive)
            return


def _last_chunk(stream, conn, response):
    """The end of a chunk-framed response: with its trailers where both the cluster and the
    connection manager enable them (Envoy's enable_trailers), else without."""
    trailers = trailers_of(response)
    if trailers is None or not conn.hcm.config.enable_trailers \
            or not stream.cluster.config.http1_enable_trailers:
        return LAST_CHUNK
    return last_chunk(trailers)


def _end_filtered(stream, held, response):
    """The end of a response the filters take: its trailers go through their
    encode_trailers hooks where the cluster decodes them, and on to the client where its codec
    sends them (filtered_stream.encode_trailers, HTTP/2's sink)."""
    filters = stream.filters
    trailers = trailers_of(response) if stream.cluster.config.http1_enable_trailers else None
    if trailers is None:
        return filters.encode_data(held or b"", True)
    if held:
        filters.encode_data(held, False)
    filters.encode_trailers(trailers)


def _pass_through(view, stream, conn, remaining, route_deadline, idle):
    if response_spliceable(conn, stream.upstream, remaining):
        return response_rest(stream, conn, remaining, lambda: conn.set_deadline(
            sooner_of(route_deadline, time.monotonic(), idle)))
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
        conn.set_deadline(sooner_of(route_deadline, time.monotonic(), idle))
