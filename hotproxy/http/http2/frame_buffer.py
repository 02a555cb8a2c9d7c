"""The frame buffer the codec reads frames from (``InspectedFrameBuffer``): jh2's, but showing the
codec every frame before CONTINUATIONs are joined, and answering frame-format errors as nghttp2
does for Envoy."""
from jh2 import exceptions, frame_buffer
from jh2.hyperframe.exceptions import InvalidDataError, InvalidFrameError
from jh2.hyperframe.frame import Frame

from .limits import CONTINUATION, DATA, PRIORITY, WINDOW_UPDATE

SETTINGS = 0x4  # frame type (RFC 9113 §6.5); limits.py has the others


class Abuse(Exception):
    """The peer did something Envoy answers by closing the connection without a GOAWAY;
    ``reason`` says what."""

    def __init__(self, reason):
        self.reason = reason


class InspectedFrameBuffer(frame_buffer.FrameBuffer):
    """Shows each frame, CONTINUATIONs included, to ``inspect`` before the library joins them,
    and answers frame-format errors as nghttp2 does for Envoy (``__next__``)."""

    def __init__(self, inspect, server):
        super().__init__(server=server)
        self._inspect = inspect

    def _update_header_buffer(self, frame):
        self._inspect(frame)
        return super()._update_header_buffer(frame)

    def __next__(self):
        """The library's, but a frame on the wrong stream is nghttp2's answer for its type: DATA
        and CONTINUATION a GOAWAY PROTOCOL_ERROR, PRIORITY ignored, the others a close without
        GOAWAY; a SETTINGS ack with a payload is a FRAME_SIZE_ERROR."""
        while True:
            offset = self._data_offset
            available = len(self._data) - offset
            if available < 9:
                self._compact()
                raise StopIteration()
            header = memoryview(self._data[offset:offset + 9])
            try:
                frame, length = Frame.parse_frame_header(header)
            except (InvalidDataError, InvalidFrameError) as error:
                kind = header[3]
                if kind == DATA or kind == CONTINUATION:
                    raise exceptions.ProtocolError(f"frame on the wrong stream: {error}")
                if kind != PRIORITY:
                    raise Abuse(f"frame on the wrong stream: {error}") from None
                frame = length = None
                length = int.from_bytes(header[:3], "big")
            if available < length + 9:
                self._compact()
                raise StopIteration()
            self._validate_frame_length(length)
            self._data_offset = offset + 9 + length
            if frame is None:
                continue        # a PRIORITY on stream 0: ignored like every PRIORITY
            body = memoryview(self._data[offset + 9:offset + 9 + length])
            try:
                frame.parse_body(body)
            except InvalidDataError:
                if frame.type == WINDOW_UPDATE:
                    raise Abuse("WINDOW_UPDATE of 0") from None
                if frame.type == SETTINGS:
                    raise exceptions.FrameDataMissingError("SETTINGS ack with a payload")
                raise exceptions.ProtocolError("Received frame with non-compliant data")
            except InvalidFrameError:
                raise exceptions.FrameDataMissingError("Frame data missing or invalid")
            if self._data_offset == len(self._data):
                self._data = bytearray()
                self._data_offset = 0
            frame = self._update_header_buffer(frame)
            if frame is not None:
                return frame
