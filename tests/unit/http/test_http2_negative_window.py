"""A send window gone negative (RFC 9113 §6.9.2: a smaller SETTINGS_INITIAL_WINDOW_SIZE applies to
open streams) frames nothing until WINDOW_UPDATEs take it above zero, on both codecs' sending
path (sending.py). The window once framed the data short of its deficit instead: a slice of
``view[:-500]``."""
from hyperframe.frame import DataFrame, SettingsFrame, WindowUpdateFrame

from test_http2_codec import Peer

INITIAL_WINDOW_SIZE = SettingsFrame.INITIAL_WINDOW_SIZE


def data_sizes(peer):
    return [len(f.data) for f in peer.output() if isinstance(f, DataFrame)]


def test_a_negative_stream_window_frames_nothing_until_it_reopens():
    peer = Peer()
    peer.send(SettingsFrame(0, settings={INITIAL_WINDOW_SIZE: 1000}))
    peer.request(1)
    peer.server.send_headers(1, 200, [], False)
    body = memoryview(b"x" * 5000)
    assert peer.server.send_data(1, body, True) == 1000
    assert data_sizes(peer) == [1000]
    peer.send(SettingsFrame(0, settings={INITIAL_WINDOW_SIZE: 500}))     # the window: -500
    assert peer.server.send_window(1) == -500
    assert peer.server.send_data(1, body[1000:], True) == 0
    assert data_sizes(peer) == []
    assert peer.stats.pending_send_bytes == 4000
    peer.send(WindowUpdateFrame(1, window_increment=600))               # the window: 100
    assert peer.server.send_data(1, body[1000:], True) == 100
    assert data_sizes(peer) == [100]
    peer.send(WindowUpdateFrame(1, window_increment=3900))
    assert peer.server.send_data(1, body[1100:], True) == 3900
    assert data_sizes(peer) == [3900] and peer.stats.pending_send_bytes == 0


def test_a_negative_window_does_not_end_the_stream_with_an_empty_body():
    peer = Peer()
    peer.send(SettingsFrame(0, settings={INITIAL_WINDOW_SIZE: 10}))
    peer.request(1)
    peer.server.send_headers(1, 200, [], False)
    assert peer.server.send_data(1, b"y" * 10, False) == 10
    assert data_sizes(peer) == [10]
    peer.send(SettingsFrame(0, settings={INITIAL_WINDOW_SIZE: 0}))
    assert peer.server.send_data(1, b"y" * 5, True) == 0
    assert data_sizes(peer) == []
    assert peer.server.send_data(1, b"", True) == 0     # END_STREAM needs no window
    frames = [f for f in peer.output() if isinstance(f, DataFrame)]
    assert [(len(f.data), "END_STREAM" in f.flags) for f in frames] == [(0, True)]
    assert peer.server._conn.streams[1].closed and peer.server.open_streams == 0
