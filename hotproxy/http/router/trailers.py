"""Which trailers an HTTP/1.1 upstream is sent: Envoy's enable_trailers on both codecs."""
from __future__ import annotations

from ..http1.heads import trailers_of
from ..http1.serialize import LAST_CHUNK, last_chunk


def request_end(stream, conn):
    """The last chunk of a chunked request: with its trailers where the cluster enables them
    and the client's codec decoded them (HTTP/2 always; HTTP/1.1 with the connection manager's
    enable_trailers), as Envoy forwards them; else without."""
    trailers = trailers_of(stream.head)
    if trailers is None or not stream.cluster.config.http1_enable_trailers:
        return LAST_CHUNK
    if stream.head.version != "2" and not conn.hcm.config.enable_trailers:
        return LAST_CHUNK
    return last_chunk(trailers)
