"""h2spec-style conformance, RFC 9113 §3.4-§4.3 and §6: the connection preface, frame format and
size, and each frame type's rules, against hotproxy and the real Envoy 1.40 (h2c, prior
knowledge). The expected answers are Envoy's (nghttp2's), probed on the binary. Envoy answers an
error found while framing (sizes, padding, CONTINUATION order, DATA where none may be) with a
GOAWAY; one nghttp2 reports to Envoy's on_invalid_frame_recv callback (a frame type on the wrong
stream, bad SETTINGS values, WINDOW_UPDATE rules) closes the connection without one, where the
RFC asks for a GOAWAY: those tests say ``closes_without_goaway``. PRIORITY is ignored altogether."""
import struct

import pytest
from h2_frames import (ACK, COMPRESSION_ERROR, STREAM_CLOSED, CONTINUATION, DATA, END_HEADERS, END_STREAM, FRAME_SIZE_ERROR,
                       GOAWAY, HEADERS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, PADDED, PING,
                       PRIORITY, PROTOCOL_ERROR, RST_STREAM, SETTINGS, WINDOW_UPDATE, H2Client,
                       ENABLE_PUSH, data, frame, goaway, peers_fixture, ping,
                       priority, rst_stream, settings, window_update)

target = peers_fixture()


# §3.4 / §3.5: the connection preface

def test_3_5_invalid_preface_closes_the_connection(target):
    client = H2Client(target.port, handshake=False)
    client.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings())
    frames, closed = client.outcome(2.0)
    assert closed
    assert all(f.type in (SETTINGS, WINDOW_UPDATE, GOAWAY) for f in frames)


def test_3_5_preface_must_be_followed_by_settings(target):
    client = H2Client(target.port, handshake=False)
    client.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + ping())
    client.expect_connection_error(PROTOCOL_ERROR)


def test_3_5_server_sends_settings_first(target):
    client = H2Client(target.port, handshake=False)
    client.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings())
    first = client.read_frame()
    assert first.type == SETTINGS and not first.flags & ACK


# §4.1 / §4.2: frame format and size

def test_4_1_unknown_frame_type_is_ignored(target):
    client = target.connect()
    client.send(frame(0x16, 0, 0, b"whatever"), frame(0x17, 0xff, 1, b""))
    assert client.alive(stream_id=1)


def test_4_1_undefined_flags_are_ignored(target):
    client = target.connect()
    client.send(frame(PING, 0x16, 0, b"flags!!!"))
    frames, _ = client.outcome(2.0, until=lambda f: f.type == PING)
    assert frames[-1].type == PING and frames[-1].flags == ACK
    assert client.alive(stream_id=1)


def test_4_1_reserved_bit_is_ignored(target):
    client = target.connect()
    block = client.encode([(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                           (":authority", "test")])
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 0x80000001, block))
    status, _, _ = client.response(1)
    assert status == 200


def test_4_2_data_over_max_frame_size(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", end_stream=False),
                data(1, b"x" * 16385))
    client.expect_connection_error(FRAME_SIZE_ERROR)


def test_4_2_headers_over_max_frame_size(target):
    client = target.connect()
    block = client.encode([(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                           (":authority", "test")] + [("x-big-%d" % i, "a" * 8000) for i in range(3)],
                          huffman=False)
    assert len(block) > 16384
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    client.expect_connection_error(FRAME_SIZE_ERROR)


def test_4_2_settings_frame_of_bad_size(target):
    client = target.connect()
    client.send(frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00"))
    client.expect_connection_error(FRAME_SIZE_ERROR)


# §4.3: header compression

def test_4_3_invalid_header_block_is_a_compression_error(target):
    client = target.connect()
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, b"\xff\xff\xff\xff"))
    client.expect_connection_error(COMPRESSION_ERROR)


def test_4_3_headers_interleaved_with_another_frame(target):
    client = target.connect()
    block = client.encode([(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                           (":authority", "test")])
    client.send(frame(HEADERS, END_STREAM, 1, block[:2]), data(1, b"x"),
                frame(CONTINUATION, END_HEADERS, 1, block[2:]))
    client.expect_connection_error(PROTOCOL_ERROR)


# §6.1 DATA

def test_6_1_data_on_stream_0(target):
    client = target.connect()
    client.send(data(0, b"test"))
    client.expect_connection_error(PROTOCOL_ERROR)


def test_6_1_data_on_a_half_closed_remote_stream(target):
    # a connection error STREAM_CLOSED (the RFC allows a stream error)
    client = target.connect()
    client.send(client.request(1, "/sleep/300"), data(1, b"test"))
    client.expect_connection_error(STREAM_CLOSED)


def test_6_1_data_on_a_closed_stream_is_ignored(target):
    client = target.connect()
    client.send(client.request(1))
    assert client.response(1)[0] == 200
    client.send(data(1, b"late"))
    assert client.alive(stream_id=3)


def test_6_1_data_with_invalid_padding(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", end_stream=False),
                frame(DATA, PADDED | END_STREAM, 1, b"\x06test"))
    client.expect_connection_error(PROTOCOL_ERROR)


# §6.2 HEADERS

def test_6_2_headers_with_padding(target):
    client = target.connect()
    block = client.encode([(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                           (":authority", "test")])
    client.send(frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1,
                      b"\x05" + block + b"\0" * 5))
    status, _, _ = client.response(1)
    assert status == 200


def test_6_2_headers_with_invalid_padding(target):
    client = target.connect()
    block = client.encode([(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                           (":authority", "test")])
    client.send(frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1,
                      bytes((len(block) + 1,)) + block))
    client.expect_connection_error(PROTOCOL_ERROR)


def test_6_2_headers_on_stream_0_closes_without_goaway(target):
    client = target.connect()
    client.send(client.request(0))
    client.expect_close_without_goaway()


def test_6_2_headers_followed_by_a_frame_other_than_continuation(target):
    client = target.connect()
    client.send(client.headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                                   (":authority", "test")], end_headers=False),
                ping())
    client.expect_connection_error(PROTOCOL_ERROR)


# §6.3 PRIORITY

def test_6_3_priority_on_stream_0_is_ignored(target):
    client = target.connect()
    client.send(priority(0))
    assert client.alive(stream_id=1)


def test_6_3_priority_of_bad_length(target):
    client = target.connect()
    client.send(frame(PRIORITY, 0, 1, b"\0\0\0\0\x0f\0"))
    frames, _ = client.outcome(2.0, until=lambda f: f.type in (RST_STREAM, GOAWAY))
    assert frames and frames[-1].error_code == FRAME_SIZE_ERROR


def test_6_3_priority_on_idle_stream_is_fine(target):
    client = target.connect()
    client.send(priority(3, depends_on=0))
    assert client.alive(stream_id=1)


# §6.4 RST_STREAM

def test_6_4_rst_stream_on_stream_0_closes_without_goaway(target):
    client = target.connect()
    client.send(rst_stream(0))
    client.expect_close_without_goaway()


def test_6_4_rst_stream_on_an_idle_stream_closes_without_goaway(target):
    client = target.connect()
    client.send(rst_stream(1))
    client.expect_close_without_goaway()


def test_6_4_rst_stream_on_a_closed_stream_is_ignored(target):
    client = target.connect()
    client.send(client.request(1))
    assert client.response(1)[0] == 200
    client.send(rst_stream(1))
    assert client.alive(stream_id=3)


def test_6_4_rst_stream_of_bad_length(target):
    client = target.connect()
    client.send(client.request(1, end_stream=False), frame(RST_STREAM, 0, 1, b"\0\0\0\x08\0"))
    client.expect_connection_error(FRAME_SIZE_ERROR)


# §6.5 SETTINGS

def test_6_5_settings_ack_with_payload(target):
    client = target.connect()
    client.send(frame(SETTINGS, ACK, 0, b"\0\x01\0\0\x10\0"))
    client.expect_connection_error(FRAME_SIZE_ERROR)


def test_6_5_settings_on_a_stream_closes_without_goaway(target):
    client = target.connect()
    client.send(frame(SETTINGS, 0, 1, b""))
    client.expect_close_without_goaway()


def test_6_5_settings_is_acknowledged(target):
    client = target.connect()
    client.send(settings((0x4242, 7)))      # an unknown setting is ignored
    frames, _ = client.outcome(2.0, until=lambda f: f.type == SETTINGS)
    assert frames[-1].type == SETTINGS and frames[-1].flags == ACK and not frames[-1].payload


@pytest.mark.parametrize("pair", [
    (ENABLE_PUSH, 2), (INITIAL_WINDOW_SIZE, 2 ** 31), (MAX_FRAME_SIZE, 16383),
    (MAX_FRAME_SIZE, 2 ** 24),
], ids=["enable_push_2", "initial_window_2_31", "max_frame_size_16383", "max_frame_size_2_24"])
def test_6_5_2_invalid_setting_values_close_without_goaway(target, pair):
    # the RFC: PROTOCOL_ERROR (FLOW_CONTROL_ERROR for the window); Envoy sends no GOAWAY
    client = target.connect()
    client.send(settings(pair))
    client.expect_close_without_goaway()


# §6.7 PING

def test_6_7_ping_is_answered_with_the_same_payload(target):
    client = target.connect()
    client.send(ping(b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    frames, _ = client.outcome(2.0, until=lambda f: f.type == PING)
    assert frames[-1].flags == ACK and frames[-1].payload == b"\x01\x02\x03\x04\x05\x06\x07\x08"


def test_6_7_ping_ack_is_not_answered(target):
    client = target.connect()
    client.send(ping(b"unasked!", ack=True), ping(b"second!!"))
    frames, _ = client.outcome(2.0, until=lambda f: f.type == PING)
    assert frames[-1].payload == b"second!!"


def test_6_7_ping_on_a_stream_closes_without_goaway(target):
    client = target.connect()
    client.send(frame(PING, 0, 1, b"12345678"))
    client.expect_close_without_goaway()


def test_6_7_ping_of_bad_length(target):
    client = target.connect()
    client.send(frame(PING, 0, 0, b"123456"))
    client.expect_connection_error(FRAME_SIZE_ERROR)


# §6.8 GOAWAY

def test_6_8_goaway_on_a_stream_closes_without_goaway(target):
    client = target.connect()
    client.send(frame(GOAWAY, 0, 1, struct.pack(">LL", 0, 0)))
    client.expect_close_without_goaway()


def test_6_8_goaway_from_the_client_lets_the_connection_close(target):
    client = target.connect()
    client.send(goaway(0))
    frames, closed = client.outcome(0.5)
    assert not [f for f in frames if f.type == GOAWAY and f.error_code != 0]


# §6.9 WINDOW_UPDATE

def test_6_9_window_update_of_0_on_the_connection_closes_without_goaway(target):
    client = target.connect()
    client.send(window_update(0, 0))
    client.expect_close_without_goaway()


def test_6_9_window_update_of_0_on_a_stream_closes_without_goaway(target):
    # the RFC: a stream error; Envoy closes the connection
    client = target.connect()
    client.send(client.request(1, "/sleep/300", end_stream=False), window_update(1, 0))
    client.expect_close_without_goaway()


def test_6_9_window_update_of_bad_length(target):
    client = target.connect()
    client.send(frame(WINDOW_UPDATE, 0, 0, b"\0\0\x01"))
    client.expect_connection_error(FRAME_SIZE_ERROR)


def test_6_9_1_connection_window_over_2_31_minus_1_closes_without_goaway(target):
    client = target.connect()
    client.send(window_update(0, 2 ** 31 - 1), window_update(0, 2 ** 31 - 1))
    client.expect_close_without_goaway()


def test_6_9_1_stream_window_over_2_31_minus_1_closes_without_goaway(target):
    client = target.connect()
    client.send(client.request(1, "/sleep/300", end_stream=False),
                window_update(1, 2 ** 31 - 1), window_update(1, 2 ** 31 - 1))
    client.expect_close_without_goaway()


def test_6_9_window_update_on_a_closed_stream_is_ignored(target):
    client = target.connect()
    client.send(client.request(1))
    assert client.response(1)[0] == 200
    client.send(window_update(1, 100))
    assert client.alive(stream_id=3)


# §6.10 CONTINUATION

def test_6_10_continuation_frames_make_one_block(target):
    client = target.connect()
    block = client.encode([(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                           (":authority", "test"), ("x-one", "1")])
    client.send(frame(HEADERS, END_STREAM, 1, block[:3]), frame(CONTINUATION, 0, 1, block[3:6]),
                frame(CONTINUATION, END_HEADERS, 1, block[6:]))
    status, _, _ = client.response(1)
    assert status == 200


def test_6_10_continuation_after_end_headers(target):
    client = target.connect()
    client.send(client.request(1, "/sleep/300"), frame(CONTINUATION, END_HEADERS, 1, b""))
    client.expect_connection_error(PROTOCOL_ERROR)


def test_6_10_continuation_on_another_stream(target):
    client = target.connect()
    block = client.encode([(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                           (":authority", "test")])
    client.send(frame(HEADERS, END_STREAM, 1, block[:2]),
                frame(CONTINUATION, END_HEADERS, 3, block[2:]))
    client.expect_connection_error(PROTOCOL_ERROR)


def test_6_10_continuation_on_stream_0(target):
    client = target.connect()
    block = client.encode([(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                           (":authority", "test")])
    client.send(frame(HEADERS, END_STREAM, 1, block[:2]),
                frame(CONTINUATION, END_HEADERS, 0, block[2:]))
    client.expect_connection_error(PROTOCOL_ERROR)
