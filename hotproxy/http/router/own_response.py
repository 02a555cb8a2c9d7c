"""Reading the response to a request of the proxy's own (a mirror's copy, an ext_authz check)
from a pooled upstream connection, counted in the cluster's status classes as Envoy's async
client counts it."""
from __future__ import annotations

from ...stats.schema import count_status_class
from ..http1.codec import END
from .downstream_head import CLASS_STATS, response_decoder

_RECV_SIZE = 65536


class ResponseCut(Exception):
    """The upstream closed the connection before the response ended."""


def read_response(cluster, upstream, head_only, on_body=None):
    """Read one response: its final head (None if none came before its end), and whether the
    connection may be reused. ``on_body(piece)`` gets the body as it arrives (dropped when
    None). Raises ResponseCut, OSError and ProtocolError."""
    decoder = upstream.decoder
    if decoder is None:
        decoder = upstream.decoder = response_decoder(cluster.config)
    if head_only:
        decoder.expect_no_body()
    events = decoder.events
    head = None
    while True:
        data = upstream.sock.recv(_RECV_SIZE)
        if data:
            decoder.feed(data)
        else:
            decoder.feed_eof()
        for event in events:
            if event is END:
                events.clear()
                return head, head is not None and head.keep_alive and not decoder.excess
            if event.__class__ is bytes:
                if on_body is not None:
                    on_body(event)
            elif event.status >= 200:
                head = event
                count_status_class(cluster.stats, CLASS_STATS, event.status)
        events.clear()
        if not data:
            raise ResponseCut()
