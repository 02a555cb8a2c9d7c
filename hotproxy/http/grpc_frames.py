"""gRPC's length-prefixed framing as the gRPC filters read it: the ``/service/method`` a request
names, and a streaming count of the messages a body carries (Envoy's Grpc::FrameInspector)."""
from __future__ import annotations

#: a frame's header: one flags byte, then the message length in 4 bytes, big-endian
HEADER_SIZE = 5


def service_and_method(target):
    """(service, method) of a gRPC request target ``/service/method[?query]`` (bytes → str),
    or None when it names no method."""
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    parts = path[1:].split(b"/") if path.startswith(b"/") else ()
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0].decode("latin-1"), parts[1].decode("latin-1")


class FrameCounter:
    """Counts the frames whose first byte went by, across data pieces split anywhere."""

    __slots__ = ("count", "_header_left", "_length", "_body_left")

    def __init__(self):
        self.count = 0
        self._header_left = 0      # header bytes still to come of the frame being read
        self._length = 0           # its length so far
        self._body_left = 0        # message bytes still to come

    def feed(self, data):
        """Read ``data``; returns how many frames began in it."""
        before = self.count
        index, size = 0, len(data)
        while index < size:
            if self._body_left:
                step = min(self._body_left, size - index)
                self._body_left -= step
                index += step
            elif self._header_left:
                self._length = (self._length << 8) | data[index]
                self._header_left -= 1
                index += 1
                if not self._header_left:
                    self._body_left = self._length
            else:
                self.count += 1          # a flags byte: a new frame
                self._header_left, self._length = HEADER_SIZE - 1, 0
                index += 1
        return self.count - before
