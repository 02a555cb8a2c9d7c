"""jh2's connection object as the codecs use it (``LibraryConnection``), and its settings
(``CompactSettings``)."""
from jh2 import connection, settings
from jh2.stream import H2Stream


class LibraryConnection(connection.H2Connection):
    """jh2's connection without its walk over every stream on each new one: jh2 counts the open
    streams that way to enforce the stream limits, and drops its closed streams as it goes. The
    codecs enforce the limits on their own streams (the library's local limit is 2^32-1, and the
    client side checks ``available_streams`` first), so the walk is only needed to drop closed
    streams: ``drop_closed_streams`` does it when the table has doubled since the last walk
    (``_is_closed`` treats a closed stream still in the table as dropped, so when it goes does
    not matter)."""
    _walk_at = 64

    def _open_streams(self, remainder):
        if len(self.streams) < self._walk_at:
            return 0
        count = super()._open_streams(remainder)
        self._walk_at = max(64, 2 * len(self.streams))
        return count

    def drop_closed_streams(self):
        self._open_streams(0)

    def open_stream(self, stream_id, inbound):
        """``_begin_new_stream`` for an id the codec has checked (above the highest of its kind, of
        the right parity), without the checks again and the library's two log calls."""
        local, remote = self.local_settings, self.remote_settings
        stream = H2Stream(stream_id, self.config, local.initial_window_size,
                          remote.initial_window_size)
        stream.max_inbound_frame_size = self.max_inbound_frame_size
        stream.max_outbound_frame_size = self.max_outbound_frame_size
        self.streams[stream_id] = stream
        if inbound:
            self.highest_inbound_stream_id = stream_id
        else:
            self.highest_outbound_stream_id = stream_id
        return stream


class _Values(list):
    """One setting's values, the one in force first, then those sent and not yet acknowledged."""
    __slots__ = ()

    def popleft(self):
        return self.pop(0)


class CompactSettings(settings.Settings):
    """jh2's settings, each setting's values in a list instead of a deque. A deque's first block
    alone takes about 600 bytes, and a connection has two settings objects of up to ten settings
    each: 13 KB of an idle HTTP/2 connection's 34 went there."""

    def __init__(self, client=True, initial_values=None):
        super().__init__(client, initial_values)
        self._settings = {key: _Values(values) for key, values in self._settings.items()}

    def __setitem__(self, key, value):
        if key not in self._settings:   # else the library makes a deque for it
            self._settings[key] = _Values([None])
        super().__setitem__(key, value)
