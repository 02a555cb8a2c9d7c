"""A stream that has HTTP filters besides the router: its request passes the decode hooks
(filter_chain.py) on its way to the router, and its response the encode hooks before it is
framed for HTTP/1.1 and sent here. Streams without filters never come here: the router frames
their responses itself, and local replies are encoded whole.
"""
from __future__ import annotations

import logging

from ..sockio import _GATHER_MIN, send_all, send_parts
from .control import CONTROL
from .date import http_date
from .filter_chain import FilterManager, set_up
from .filters.api import Response, header_value
from .http1.serialize import LAST_CHUNK, chunk, last_chunk, response_head
from .request_headers import forwarded_headers
from .router.terminal import CONTINUE, route_request

log = logging.getLogger("hotproxy.http.filters")

_NONE, _RAW, _CHUNKED = "none", "raw", "chunked"
_new = object.__new__
_FILTER_ERROR = b"filter error"


def run_filters(conn, stream, target, encoded=None):
    """Run the request through the HTTP filters (filter_chain.py), the router last. ``encoded``:
    the sinks of the response (HTTP/1.1's by default; HTTP/2 streams frame it their way)."""
    head = stream.head
    stream.target = target
    stream.connection = conn
    stream.replied = stream.decoded = stream.route_cleared = False
    forwarded_headers(conn, stream)
    if head.expect_continue:
        send_all(conn.sock, CONTINUE)  # before the filters, as Envoy's codec answers it
    route = stream.route
    table = route.per_filter if route is not None else None
    chain = conn.hcm.chains.get(id(table))     # conn.hcm.chain_for(route), when learnt
    if chain is None or chain.table is not table:
        chain = conn.hcm.chain_for(route)
    plan = chain.plan
    if plan is not None:
        filters = chain.filters     # all shared: the chain's own list, which nothing changes
    elif chain.single is not None:
        made = chain.single[1](stream)
        filters, plan = chain.lists.get(id(made)) or chain.list_for(made)
    else:
        filters = chain.filters.copy()
        made_key = None     # the classes of what the makers made (NoneType: left out)
        for index, make in chain.makers:    # in config order: a factory may count on it
            made = filters[index] = make(stream)
            made_key = made_key, made.__class__
        plan, left_out = chain.plans.get(made_key) or chain.plan_for(made_key, filters)
        if left_out:
            filters = [made for made in filters if made is not None]
    # FilterManager(...) without its __init__ call (which would work the plan out again); with
    # HTTP/1.1's sinks and no filter with a body hook, the router frames the response
    manager = stream.filters = _new(FilterManager)
    if encoded is None:
        set_up(manager, stream, filters, DECODED, _ENCODED, plan, plan.body_passes)
    else:
        set_up(manager, stream, filters, DECODED, encoded, plan, False)
    end_stream = not (head.chunked or head.content_length)     # not head.has_body
    try:    # guarded(), written out: this runs for every filtered stream
        manager.decode_headers(end_stream)
    except OSError:
        raise
    except Exception as error:
        _failed(conn, stream, error)


def _decoded_headers(stream, end_stream):
    """The request head came out of the filters: the router's turn."""
    conn = stream.connection
    head = stream.head
    if head.chunked or head.content_length:     # head.has_body
        # a filter that changed the body's length took its Content-Length away, or set one
        stream.chunked = header_value(head.headers, b"content-length") is None
    if stream.route_cleared:
        stream.route = conn.hcm.route_table.match(head.host, stream.target, head.headers,
                                                  head.method)
    route = stream.route
    if route is None or not route.starts_router:
        route_request(conn, stream, stream.target, None)
    else:   # route_request's common case, as DownstreamConnection._on_head takes it
        conn.hcm.router.start(stream, conn, stream.target, head.headers)
    if end_stream:
        stream.decoded = True


def _decoded_data(stream, data, end_stream):
    if data and stream.upstream is not None:
        stream.connection.hcm.router.send_body(stream, data)
    if end_stream:
        stream.decoded = True


def guarded(conn, stream, hook, *args):
    """Call a filter-chain step; an exception out of a filter is a 500 local reply (or, once the
    response started, the end of the connection), never the end of the worker."""
    try:
        hook(*args)
    except OSError:
        raise               # the connection's own failures and timeouts
    except Exception as error:
        _failed(conn, stream, error)


def _failed(conn, stream, error):
    """A filter raised ``error`` (re-raised when it is the connection's control flow)."""
    if isinstance(error, CONTROL):
        raise error
    log.exception("HTTP filter failed on %s %s", stream.head.method, stream.head.target,
                  exc_info=error)
    if stream.responded:
        stream.close = True
        raise OSError("an HTTP filter failed mid-response") from error
    stream.replied = True
    conn.local_reply(stream, 500, _FILTER_ERROR, close=True)


def encode_local_reply(conn, stream, status, body, close, extra, leading):
    """A local reply of a filtered stream: the headers local_reply.encode would write, through
    the filters."""
    headers = list(leading)
    if body:
        headers += [(b"content-length", b"%d" % len(body)), (b"content-type", b"text/plain")]
    headers += extra
    headers += [(b"date", http_date()), (b"server", conn.hcm.server_name)]
    if close:
        headers.append((b"connection", b"close"))
    if not body and stream.head.version != "2":    # as local_reply.encode frames an empty reply
        headers.append((b"transfer-encoding", b"chunked") if stream.head.method == b"HEAD"
                       else (b"content-length", b"0"))
    stream.response = Response(status, headers)
    manager = stream.filters
    manager.encode_headers(not body)
    if body:
        manager.encode_data(body, True)


def encode_head(stream, end_stream):
    """The response head left the filters: choose its framing and send it (with the first body
    piece when one follows soon)."""
    response = stream.response
    status = response.status
    headers = response.headers
    stream.info.response_code = status
    head_only = stream.head.method == b"HEAD"
    if status < 200 or status in (204, 304):
        framing = _NONE
    else:
        for name, _ in headers:
            if name == b"content-length":
                framing = _NONE if head_only else _RAW
                break
        else:
            # no length known: chunked, as Envoy says even to a HEAD (whose body is never sent);
            # a body-less local reply to a HEAD says it already
            framing = _NONE if head_only else _CHUNKED
            if not head_only or (b"transfer-encoding", b"chunked") not in headers:
                headers.append((b"transfer-encoding", b"chunked"))
    stream.info.response_headers = headers
    stream.framing = framing
    stream.head_bytes = response_head(status, headers)
    if end_stream:
        encode_body(stream, b"", True)


def encode_body(stream, data, end_stream):
    parts = []
    if stream.head_bytes is not None:
        parts.append(stream.head_bytes)
        stream.head_bytes = None
    framing = stream.framing
    if data and framing is not _NONE:
        parts.append(chunk(data) if framing is _CHUNKED else data)
        stream.info.bytes_sent += len(data)
    if end_stream and framing is _CHUNKED:
        parts.append(LAST_CHUNK)
    if len(parts) == 1:
        send_all(stream.connection.sock, parts[0])
    elif parts:
        # a small body: one joined send, as send_parts would make it (decided from the body
        # alone, so that no generator sums the pieces' lengths)
        if len(data) < _GATHER_MIN:
            send_all(stream.connection.sock, b"".join(parts))
        else:
            send_parts(stream.connection.sock, parts)


def encode_trailers(stream, trailers):
    """The response's trailers left the filters: a chunked body ends with them where the
    connection manager enables them (Envoy's HTTP/1.1 codec encodes them only then), else
    without."""
    if stream.framing is not _CHUNKED or not stream.connection.hcm.config.enable_trailers:
        return encode_body(stream, b"", True)
    end = last_chunk(trailers)
    if stream.head_bytes is not None:
        end = stream.head_bytes + end
        stream.head_bytes = None
    send_all(stream.connection.sock, end)


DECODED = (_decoded_headers, _decoded_data)
_ENCODED = (encode_head, encode_body, encode_trailers)
