"""The receiving hot path of ``connection.Http2Codec`` (``HotFrames``): the frames of an ordinary
request or response (a HEADERS opening a request stream, a response head, DATA on an open stream)
read straight from
the bytes with ``struct``, without the library's frame buffer, frame objects and event objects,
which were most of the codec's Python calls per request.

Every other frame, and any of these that is not plainly well formed (padding, priority, a header
block over several frames, a window overrun, a frame on a stream not open), goes to the library's
path (``Http2Codec._receive_library``) in its turn, which answers it as before: the conformance
suite holds both paths to the same answers. Whatever the hot path takes, it does as that path
would: the flood limits, the HPACK walk, the library's stream states (stream_states.py) and windows kept.
"""
import struct

from jh2 import exceptions
from jh2.connection import (ALTERNATIVE_HPACK, ConnectionInputs, HPACKError,
                            OversizedHeaderListError, _decode_headers)
from jh2.hpack import NeverIndexedHeaderTuple

from .frame_buffer import Abuse
from .hpack_check import hpack_block_error
from .limits import DATA, HEADERS
from .stream_states import connection_input, received_data, received_request, received_response

FRAME_HEAD = struct.Struct(">BHBBL")    # length (high byte, low 16 bits), type, flags, stream
END_STREAM, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x4, 0x8, 0x20
# A header block opening with one of these is a final response: HPACK's static table entries 8-14
# are :status 200, 204, 206, 304, 400, 404 and 500 (RFC 7541 Appendix A), indexed.
FINAL_STATUS_INDEXED = range(0x88, 0x8F)
_RECV_HEADERS, _RECV_DATA = ConnectionInputs.RECV_HEADERS, ConnectionInputs.RECV_DATA


class HotFrames:
    """Mixed into ``Http2Codec``: ``_take_hot(view, pos, events)`` handles the whole frame at
    ``pos`` when it is one of the hot path's, returning True, else False (the library takes it).
    The side says what it accepts: ``_hot_headers`` (the server's new request streams),
    ``_hot_responses`` (the client's response heads, then ``_response(stream_id, headers,
    end_stream, events)``) and ``_data(stream_id, data, end_stream, flow_length, events)``."""

    _hot_headers = _hot_responses = False

    def _take_hot(self, view, pos, events):
        high, low, kind, flags, stream_id = FRAME_HEAD.unpack_from(view, pos)
        length = high << 16 | low
        stream_id &= 0x7FFFFFFF
        if flags & PADDED or length > self._conn.max_inbound_frame_size:
            return False
        if kind == DATA:
            return self._hot_data(view, pos + 9, length, flags, stream_id, events)
        if kind == HEADERS:
            if self._hot_headers:
                return self._hot_request(view, pos + 9, length, flags, stream_id, events)
            if self._hot_responses:
                return self._hot_response(view, pos + 9, length, flags, stream_id, events)
        return False

    def _hot_data(self, view, start, length, flags, stream_id, events):
        stream = self._streams.get(stream_id)
        if stream is None or not stream.remote_open:
            return False
        conn = self._conn
        library_stream = conn.streams.get(stream_id)
        connection_window = conn._inbound_flow_control_window_manager
        if (library_stream is None or length > connection_window.current_window_size
                or length > library_stream._inbound_window_manager.current_window_size):
            return False
        end_stream = flags & END_STREAM
        reason = self._inbound.track_payload(length, end_stream)
        if reason:
            raise Abuse(reason)
        connection_input(conn, _RECV_DATA)
        connection_window.window_consumed(length)
        received_data(library_stream.state_machine, end_stream)
        library_stream._inbound_window_manager.window_consumed(length)
        self._data(stream_id, view[start:start + length].tobytes(), bool(end_stream), length,
                   events)
        return True

    def _hot_request(self, view, start, length, flags, stream_id, events):
        conn = self._conn
        if (flags & (END_HEADERS | PRIORITY_FLAG) != END_HEADERS or not stream_id & 1
                or stream_id <= conn.highest_inbound_stream_id
                or length > self._header_block_limit):
            return False
        end_stream = flags & END_STREAM
        reason = self._inbound.track_payload(length, end_stream)
        if reason:
            raise Abuse(reason)
        headers = self._decode(view, start, length)
        connection_input(conn, _RECV_HEADERS)
        conn.drop_closed_streams()
        received_request(conn.open_stream(stream_id, True).state_machine, end_stream)
        self._request(stream_id, headers, bool(end_stream), events)
        return True

    def _hot_response(self, view, start, length, flags, stream_id, events):
        """The final response head on a stream this side opened, in one HEADERS whose block
        starts with an indexed ``:status`` (informational heads and trailers take the library's
        path)."""
        if (flags & (END_HEADERS | PRIORITY_FLAG) != END_HEADERS or not length
                or length > self._header_block_limit or view[start] not in FINAL_STATUS_INDEXED):
            return False
        stream = self._streams.get(stream_id)
        library_stream = self._conn.streams.get(stream_id)
        if (stream is None or not stream.remote_open or library_stream is None
                or library_stream.state_machine.headers_received):
            return False
        end_stream = flags & END_STREAM
        reason = self._inbound.track_payload(length, end_stream)
        if reason:
            raise Abuse(reason)
        headers = self._decode(view, start, length)
        connection_input(self._conn, _RECV_HEADERS)
        received_response(library_stream.state_machine, end_stream)
        self._response(stream_id, headers, bool(end_stream), events)
        return True

    def _decode(self, view, start, length):
        """The header list of the block at ``start``, walked before the decoder sees it."""
        self._header_block_size = length
        block = view[start:start + length].tobytes()
        reason = hpack_block_error(block)
        if reason is not None:
            raise exceptions.ProtocolError(f"Error decoding header block: {reason}")
        return _decode_block(self._conn.decoder, block)


def _decode_block(decoder, block):
    """The header list of an HPACK block: plain pairs, where the library makes an object of each
    (a never-indexed field stays marked, so that it is never indexed on its way on); errors
    raised as the library raises them (jh2.connection._decode_headers)."""
    if not ALTERNATIVE_HPACK:
        return _decode_headers(decoder, block)
    try:
        fields = decoder.decode(block, raw=True)
    except OversizedHeaderListError as error:
        raise exceptions.DenialOfServiceError(f"Oversized header block: {error}") from None
    except (HPACKError, IndexError, TypeError, UnicodeDecodeError) as error:
        raise exceptions.ProtocolError(f"Error decoding header block: {error}") from None
    except BaseException as error:      # the native decoder's panics
        if "index out of bounds" in str(error):
            raise exceptions.ProtocolError(f"Error decoding header block: {error}") from None
        raise
    return [(field[0], field[1]) if not field[2] else NeverIndexedHeaderTuple(field[0], field[1])
            for field in fields]
