"""The HTTP filter API: what a filter implements and what it may ask of its stream.

A listener's ``http_filters`` become one ``FilterFactory`` each, made once per connection manager
by the ``factory(config, context)`` function of the filter's module (see registry.py). For every
request the factory's ``create(stream)`` returns the filter object that sees that stream (a fresh
one, or a shared one when the filter keeps no per-stream state), or None to stay out of it; a
factory whose filter is always the same one object sets ``shared`` to it instead.

A filter implements any of the hooks of ``HttpFilter``; those it leaves alone continue. Requests
pass the filters in config order, then the router (the terminal filter); responses pass them in
reverse order. Each hook runs in the connection's greenlet, so a filter may block on gevent I/O
(a callout, a sleep) and the stream simply waits. What a hook returns:

- ``CONTINUE``: pass the headers or the data on, as they are now (headers are edited in place);
- ``STOP``: hold them here. From ``decode_headers``/``encode_headers``, the head and every data
  piece after it stay held until this filter's ``*_data`` hook returns CONTINUE (at the latest
  with ``end_stream``); from ``*_data``, the piece is buffered and the hook is called again with
  the next one, and when it continues, everything buffered goes on in one piece;
- a bytes-like object (data hooks only): pass this on instead of ``data``, and instead of what
  this filter buffered before it (``b""`` drops it all);
- ``stream.send_local_reply(...)``'s result: the request is answered here and goes no further.

``encode_trailers(stream, trailers)`` sees a response's trailers (HTTP/2, gRPC; HTTP/1.1 where
the cluster's enable_trailers decodes them): edit the list in place and CONTINUE, or return bytes
to end the body with them instead of trailers (the filters after it see them as the last data).
``decode_trailers(stream, trailers)`` sees a request's (HTTP/2; HTTP/1.1 with the connection
manager's enable_trailers), after its last data piece: edit the list in place; they end the
request, so nothing is held there.

An exception out of a hook is logged and answered as a 500 local reply that closes the
connection (a reset once the response has started); it never ends the worker. The Python filter
catches its own first, to count them and flag ``UPE`` (filters/python.py).
"""
from __future__ import annotations

CONTINUE = "continue"
STOP = "stop"


class HttpFilter:
    """A filter that passes everything on: subclass it and override the hooks you need.

    ``stream`` is the filter's view of the exchange (http/stream.py ``ActiveStream``):

    - ``stream.request``: the request head. ``method``, ``target`` (path and query, bytes), ``host``
      (bytes) and ``headers``: a list of (lower-case name, value) byte pairs, edited in place.
      A filter that changes the body's length removes ``content-length`` (the body then goes
      upstream chunked) or sets it to the new length;
    - ``stream.route`` (None when no route matched) and ``stream.clear_route_cache()`` after an
      edit that should change the route;
    - ``stream.route_config(name)``: this filter's ``typed_per_filter_config`` for the stream's
      route (route, then virtual host; a weighted cluster's own entry once the router picked the
      cluster, so in the encode hooks), parsed; None when there is none;
    - ``stream.send_local_reply(status, body=b"", headers=(), details=None, flag=None)``;
    - ``stream.info``: the StreamInfo access logs print (``dynamic_metadata``: namespace → dict,
      ``filter_state``: name → value, ``downstream_tls``, the addresses, the response flags);
    - ``stream.connection``: ``remote_ip``, ``local_address``, ``tls``.

    ``response`` in the encode hooks has ``status`` (int) and ``headers`` (a list as above, with
    ``content-length`` when the body's length is known; remove it when the body changes length).
    """

    #: a maker (``FilterFactory.for_route``) gives this very filter to many streams: it keeps
    #: nothing of one, so the chain keeps the stream's filter list for it (route_filters.py)
    shared_by_streams = False

    def decode_headers(self, stream, end_stream):
        return CONTINUE

    def decode_data(self, stream, data, end_stream):
        return CONTINUE

    def decode_trailers(self, stream, trailers):
        return CONTINUE

    def encode_headers(self, stream, response, end_stream):
        return CONTINUE

    def encode_data(self, stream, data, end_stream):
        return CONTINUE

    def encode_trailers(self, stream, trailers):
        return CONTINUE

    def on_stream_end(self, stream):
        """The exchange is over (answered, reset or abandoned): release what the stream held."""


class FilterFactory:
    """Made once per connection manager from one ``http_filters`` entry."""

    #: the ``http_filters[].name``: the key of its ``typed_per_filter_config`` entries
    name = ""
    #: a filter that keeps no per-stream state may be this one object for every stream, which
    #: spares each stream a ``create`` call
    shared = None

    def create(self, stream):
        if self.shared is None:
            raise NotImplementedError
        return self.shared

    def for_route(self, config):
        """What the streams of a route get, ``config`` being the route's typed_per_filter_config
        entry for this filter (None: none): (a filter they all share, None), (None, a function
        of the stream that makes its filter or returns None), or (None, None) to stay out.
        Asked once per route table (http/route_filters.py). By default: ``shared``, else
        ``create``, which reads the entry itself (``stream.route_config``)."""
        if self.shared is not None:
            return self.shared, None
        return None, self.create

    def stat_sets(self):
        """(prefix, stats object) pairs to ship (see stats/schema.py ``stat_set``)."""
        return ()


class FilterContext:
    """What a filter factory may use: the worker's cluster manager (for callouts), the
    connection manager's stat prefix (``http.<stat_prefix>.``), its deadlines, server state and
    route configuration (to prepare for the per-route configs it holds)."""

    def __init__(self, cluster_manager, stat_prefix, server, deadlines=None, route_config=None):
        self.cluster_manager = cluster_manager
        self.stat_prefix = stat_prefix
        self.server = server
        self.deadlines = deadlines
        self.route_config = route_config


class Response:
    """The response head as the encode hooks see it."""

    __slots__ = ("status", "headers")

    def __init__(self, status, headers):
        self.status = status
        self.headers = headers


def header_value(headers, name):
    """The first value of header ``name`` (lower-case bytes), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def set_header(headers, name, value):
    """Replace every ``name`` header with one ``name: value``, in the first one's place."""
    first = -1
    for index, item in enumerate(headers):
        if item[0] == name:
            if first >= 0:     # a second one: the rare case pays for the rebuild
                headers[first + 1:] = [pair for pair in headers[first + 1:] if pair[0] != name]
                break
            first = index
            headers[index] = (name, value)
    if first < 0:
        headers.append((name, value))


def remove_header(headers, name):
    headers[:] = [pair for pair in headers if pair[0] != name]
