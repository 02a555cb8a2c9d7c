"""RFC 9113 §8.1.1 with ``override_stream_error_on_invalid_http_message: true``, against hotproxy
and the real Envoy 1.40: a malformed request is a stream error (RST_STREAM PROTOCOL_ERROR, the
connection lives) still counted in ``http2.rx_messaging_error``; framing and HPACK errors stay
connection errors."""
import pytest
from h2_frames import COMPRESSION_ERROR, END_HEADERS, END_STREAM, HEADERS, PROTOCOL_ERROR, frame
from h2_frames import data, peers_fixture

target = peers_fixture(http2_options={"override_stream_error_on_invalid_http_message": True})

BASE = [(":method", "GET"), (":scheme", "http"), (":path", "/echo"), (":authority", "test")]


@pytest.mark.parametrize("headers", [
    BASE + [("X-Upper", "1")], BASE + [("connection", "close")], BASE[1:],
    BASE[:2] + [("x-a", "1")] + BASE[2:], BASE + [("te", "gzip")],
], ids=["uppercase_name", "connection_header", "missing_method", "pseudo_after_regular",
        "te_gzip"])
def test_malformed_request_resets_the_stream(target, headers):
    client = target.connect()
    before = target.stat("http2.rx_messaging_error")
    client.send(client.headers(1, headers))
    client.expect_rst(1, PROTOCOL_ERROR)
    assert target.stat_grew("http2.rx_messaging_error", before) > before
    assert client.alive(stream_id=3)


def test_trailers_with_a_pseudo_header_reset_the_stream(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", end_stream=False), data(1, b"abc"),
                client.headers(1, [(":method", "x")]))
    client.expect_rst(1, PROTOCOL_ERROR)
    assert client.alive(stream_id=3)


def test_hpack_errors_stay_connection_errors(target):
    client = target.connect()
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, client.encode(BASE) + b"\x80"))
    client.expect_connection_error(COMPRESSION_ERROR)
