"""h2spec-style conformance, RFC 9113 §5: stream states and identifiers, concurrency, priority,
error handling and extensions, against hotproxy and the real Envoy 1.40 (h2c, prior knowledge,
``max_concurrent_streams: 3``). The expected answers are what the binary does (see
test_h2_conformance_frames.py for its two kinds of connection error)."""
import time

from h2_frames import (CONTINUATION, END_HEADERS, END_STREAM, HEADERS, INTERNAL_ERROR,
                       PRIORITY_FLAG, PROTOCOL_ERROR, REFUSED_STREAM, RST_STREAM, data, frame,
                       peers_fixture, priority, request_headers)

target = peers_fixture(http2_options={"max_concurrent_streams": 3})


# §5.1 stream states

def test_5_1_data_on_an_idle_stream(target):
    client = target.connect()
    client.send(data(1, b"x"))
    client.expect_connection_error(PROTOCOL_ERROR)


def test_5_1_headers_on_a_half_closed_remote_stream_closes_without_goaway(target):
    # the RFC: a stream error STREAM_CLOSED
    client = target.connect()
    client.send(client.request(1, "/sleep/300"), client.request(1, "/sleep/300"))
    client.expect_close_without_goaway()


def test_5_1_trailers_on_a_half_closed_remote_stream_close_without_goaway(target):
    client = target.connect()
    client.send(client.request(1, "/sleep/300"), client.headers(1, [("x-t", "1")]))
    client.expect_close_without_goaway()


def test_5_1_headers_on_a_closed_stream_are_ignored(target):
    client = target.connect()
    client.send(client.request(1))
    assert client.response(1)[0] == 200
    client.send(client.request(1))
    # the block was still decoded: the HPACK state holds for the next request
    assert client.alive(stream_id=3)


def test_5_1_reset_stream_then_data_is_ignored(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", end_stream=False), frame(RST_STREAM, 0, 1,
                                                                              b"\0\0\0\x08"))
    time.sleep(0.1)
    client.send(data(1, b"late", end_stream=True))
    assert client.alive(stream_id=3)


# §5.1.1 stream identifiers

def test_5_1_1_even_stream_id_closes_without_goaway(target):
    client = target.connect()
    client.send(client.request(2))
    client.expect_close_without_goaway()


def test_5_1_1_a_lower_stream_id_than_one_seen_is_ignored(target):
    # the RFC: a connection error PROTOCOL_ERROR; nghttp2 takes it as a closed stream
    client = target.connect()
    client.send(client.request(5))
    assert client.response(5)[0] == 200
    client.send(client.request(3))
    assert client.alive(stream_id=7)


# §5.1.2 stream concurrency

def test_5_1_2_a_stream_over_the_acknowledged_limit_closes_without_goaway(target):
    # the RFC: PROTOCOL_ERROR or REFUSED_STREAM; once the client acknowledged SETTINGS
    # nghttp2 makes it a connection error, and Envoy closes without a GOAWAY
    client = target.connect()
    assert client.server_settings[3] == 3
    client.send(*[client.request(s, "/echo", "POST", end_stream=False) for s in (1, 3, 5)])
    time.sleep(0.2)
    client.send(client.request(7))
    client.expect_close_without_goaway()


def test_5_1_2_a_stream_over_the_limit_before_the_settings_ack_is_refused(target):
    from h2_frames import PREFACE, H2Client, settings
    client = H2Client(target.port, handshake=False)
    client.send(PREFACE + settings())       # no ack of the server's SETTINGS
    client.send(*[client.request(s, "/echo", "POST", end_stream=False) for s in (1, 3, 5, 7)])
    client.expect_rst(7, REFUSED_STREAM)
    assert client.alive()


def test_5_1_2_closed_streams_free_their_slots(target):
    client = target.connect()
    for stream_id in range(1, 15, 2):
        client.send(client.request(stream_id))
        assert client.response(stream_id)[0] == 200


# §5.3.1 stream dependencies

def test_5_3_1_headers_depending_on_itself_closes_without_goaway(target):
    client = target.connect()
    block = client.encode(request_headers())
    client.send(frame(HEADERS, END_STREAM | END_HEADERS | PRIORITY_FLAG, 1,
                      b"\0\0\0\x01\x0f" + block))
    client.expect_close_without_goaway()


def test_5_3_1_priority_depending_on_itself_is_ignored(target):
    # Envoy ignores RFC 7540 priorities altogether
    client = target.connect()
    client.send(priority(1, depends_on=1))
    assert client.alive(stream_id=3)


# §5.4 error handling

def test_5_4_1_connection_error_ends_with_goaway_and_close(target):
    client = target.connect()
    client.send(client.request(1))
    assert client.response(1)[0] == 200
    client.send(frame(0x0, 0, 0, b"x"))     # DATA on stream 0
    goaway = client.expect_goaway(PROTOCOL_ERROR)
    assert goaway.last_stream_id in (0, 1)
    assert client.outcome(2.0)[1]


def test_5_4_2_stream_error_leaves_the_connection_open(target):
    # DATA beyond the content-length: the stream is reset, the connection lives
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", extra=[("content-length", "2")],
                               end_stream=False), data(1, b"abc", end_stream=True))
    client.expect_rst(1, PROTOCOL_ERROR)
    assert client.alive(stream_id=3)


def test_5_4_2_headers_over_max_request_headers_kb_reset_the_stream(target):
    client = target.connect()
    before = target.stat("http2.header_list_size_too_large")
    extra = [("x-big-%d" % i, "v" * 8000) for i in range(9)]
    block = client.encode(request_headers(extra=extra), huffman=False)
    chunks = [block[at:at + 16000] for at in range(0, len(block), 16000)]
    client.send(frame(HEADERS, END_STREAM, 1, chunks[0]),
                *[frame(CONTINUATION, END_HEADERS if at == len(chunks) - 1 else 0, 1, chunk)
                  for at, chunk in enumerate(chunks[1:], 1)])
    client.expect_rst(1, INTERNAL_ERROR)
    assert target.stat_grew("http2.header_list_size_too_large", before) == before + 1
    assert client.alive(stream_id=3)


# §5.5 extending HTTP/2

def test_5_5_unknown_frame_in_a_header_block(target):
    client = target.connect()
    block = client.encode(request_headers())
    client.send(frame(HEADERS, END_STREAM, 1, block[:2]), frame(0x16, 0, 1, b"x"),
                frame(CONTINUATION, END_HEADERS, 1, block[2:]))
    client.expect_connection_error(PROTOCOL_ERROR)


def test_5_5_unknown_frame_types_and_settings_are_ignored(target):
    from h2_frames import settings
    client = target.connect()
    client.send(frame(0xfa, 0x3, 0, b"ext"), settings((0x99, 1)))
    assert client.alive(stream_id=1)
