"""The encode sinks of a downstream HTTP/2 stream (filter_chain.py): where a response leaves the
filters as HEADERS, DATA and trailers on its StreamPort (stream_port.py)."""
from __future__ import annotations

from ..filter_chain import FilterManager
from ..filtered_stream import DECODED
from .codec import CONNECTION_SPECIFIC


def give_empty_chain(stream):
    """A stream the filters do not see (a local reply before routing, a tunnel) still answers
    through the encode sinks: an empty chain."""
    if stream.filters is None:
        stream.filters = FilterManager(stream, [], DECODED, ENCODED)


def _encode_head(stream, end_stream):
    """The response head left the filters: HEADERS, without what HTTP/2 forbids."""
    port = stream.connection
    response = stream.response
    headers = [item for item in response.headers if item[0] not in CONNECTION_SPECIFIC]
    stream.info.response_code = response.status
    stream.info.response_headers = headers
    head_only = stream.head.method == b"HEAD"
    port.send_headers(response.status, headers, end_stream or head_only)


def _encode_body(stream, data, end_stream):
    port = stream.connection
    if port.ended:
        return              # a HEAD response, or a stream ended already
    if data:
        stream.info.bytes_sent += len(data)
    port.send_data(data, end_stream)


def _encode_trailers(stream, trailers):
    port = stream.connection
    if not port.ended:
        port.send_trailers(trailers)


ENCODED = (_encode_head, _encode_body, _encode_trailers)
