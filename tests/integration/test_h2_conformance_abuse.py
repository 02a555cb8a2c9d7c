"""Envoy's HTTP/2 abuse limits, against hotproxy and the real Envoy 1.40 (h2c, prior knowledge,
``max_outbound_control_frames: 100``, the other limits at their defaults): each flood ends the
connection as the binary does (a close without GOAWAY for the frame floods and rapid reset, a
reset or a GOAWAY COMPRESSION_ERROR for oversized header blocks) and is counted in the admin
stats."""
import socket
import time


from h2_frames import (COMPRESSION_ERROR, CONTINUATION, GOAWAY, HEADERS, INTERNAL_ERROR,
                       END_STREAM, END_HEADERS, data, frame, peers_fixture, ping, priority,
                       request_headers, RST_STREAM, rst_stream, settings, window_update)

target = peers_fixture(http2_options={"max_outbound_control_frames": 100})


def flooded(target, client, stat, *chunks):
    """Send ``chunks`` (the peer may close under them); the connection must close without a
    GOAWAY and ``stat`` grow by one."""
    before = target.stat(stat)
    try:
        client.send(*chunks)
    except OSError:
        pass
    client.expect_close_without_goaway(timeout=3.0)
    assert target.stat_grew(stat, before) == before + 1


def test_rapid_reset(target):
    # CVE-2023-44487: 250 of the first 500 streams reset before any response
    client = target.connect()
    before = target.stat("http2.rx_reset")
    flooded(target, client, "http.ingress_http.downstream_rq_too_many_premature_resets",
            *[client.request(s, "/echo", "POST", end_stream=False) + rst_stream(s)
              for s in range(1, 1200, 2)])
    assert target.stat("http2.rx_reset") >= before + 250


def test_ping_flood(target):
    client = target.connect()
    flooded(target, client, "http2.outbound_control_flood", ping() * 3000)


def test_settings_flood(target):
    client = target.connect()
    flooded(target, client, "http2.outbound_control_flood", settings() * 3000)


def test_empty_data_frame_flood(target):
    client = target.connect()
    flooded(target, client, "http2.inbound_empty_frames_flood",
            client.request(1, "/echo", "POST", end_stream=False), data(1, b""), data(1, b""))


def test_empty_continuation_flood(target):
    client = target.connect()
    flooded(target, client, "http2.inbound_empty_frames_flood",
            frame(HEADERS, END_STREAM, 1, client.encode(request_headers())),
            frame(CONTINUATION, 0, 1, b""), frame(CONTINUATION, 0, 1, b""))


def test_priority_flood(target):
    # more than max_inbound_priority_frames_per_stream (100) x (1 + streams opened)
    client = target.connect()
    flooded(target, client, "http2.inbound_priority_frames_flood", priority(3) * 150)


def test_window_update_flood(target):
    # more than 5 + 2 x (streams opened + 10 x DATA frames sent)
    client = target.connect()
    flooded(target, client, "http2.inbound_window_update_frames_flood", window_update(0, 1) * 30)


def test_continuation_flood(target):
    # a header block far over max_request_headers_kb in CONTINUATIONs, counted as
    # header_list_size_too_large. Envoy resets the stream (INTERNAL_ERROR) and stops inflating
    # HPACK, so the next header block is a GOAWAY COMPRESSION_ERROR; hotproxy, which buffers
    # the block to decode it whole, stops at 8 x max_request_headers_kb with that GOAWAY.
    client = target.connect()
    before = target.stat("http2.header_list_size_too_large")
    blocks = [client.encode([("x-f%d" % i, "v" * 15000)], huffman=False) for i in range(35)]
    try:
        client.send(frame(HEADERS, END_STREAM, 1, client.encode(request_headers())),
                    *[frame(CONTINUATION, 0, 1, block) for block in blocks],
                    frame(CONTINUATION, END_HEADERS, 1, b""))
    except OSError:
        pass
    frames, closed = client.outcome(1.0)
    if not closed:
        try:
            client.send(client.request(3))
        except OSError:
            pass
        more, closed = client.outcome(3.0)
        frames += more
    assert closed
    assert not [f for f in frames if f.type == HEADERS]
    assert all(f.error_code == COMPRESSION_ERROR for f in frames if f.type == GOAWAY), frames
    assert all(f.error_code == INTERNAL_ERROR for f in frames if f.type == RST_STREAM), frames
    assert target.stat_grew("http2.header_list_size_too_large", before) == before + 1


def test_hpack_bomb(target):
    # a 4000-byte field in the dynamic table, then a block of 100 references to it: 400 KB
    # decoded from ~100 bytes: the stream is reset, the connection lives
    client = target.connect()
    client.send(client.request(1, extra=[("x-big", "a" * 4000)]))
    assert client.response(1)[0] == 200
    before = target.stat("http2.header_list_size_too_large")
    # static :method GET, :scheme http, :path /, a literal :authority, then 100 x index 62
    bomb = b"\x82\x86\x84\x01\x04test" + b"\xbe" * 100
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, bomb))
    client.expect_rst(3, INTERNAL_ERROR)
    assert target.stat_grew("http2.header_list_size_too_large", before) == before + 1
    assert client.alive(stream_id=5)


def test_the_proxy_still_serves_after_the_floods(target):
    client = target.connect()
    assert client.alive(stream_id=1)
    assert isinstance(client.sock, socket.socket)


# what the connection's end leaves in the gauges and counters

def wait_for_stat(target, name, expected, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        value = target.stat(name)
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_streams_open_when_the_proxy_closes_leave_streams_active(target):
    client = target.connect()
    before = target.stat("http2.streams_active")
    client.send(*[client.request(s, "/echo", "POST", end_stream=False) for s in (1, 3, 5)])
    time.sleep(0.2)
    client.send(client.headers(7, [(":method", "GET")]))     # malformed: the proxy closes
    client.expect_close_without_goaway()
    assert wait_for_stat(target, "http2.streams_active", before) == before


def test_streams_open_when_the_client_closes_leave_streams_active(target):
    client = target.connect()
    before = target.stat("http2.streams_active")
    client.send(*[client.request(s, "/echo", "POST", end_stream=False) for s in (1, 3)])
    time.sleep(0.3)
    assert target.stat("http2.streams_active") == before + 2
    client.close()
    assert wait_for_stat(target, "http2.streams_active", before) == before


def test_requests_on_a_connection_that_ends_at_once_are_counted(target):
    # Envoy counts a request when its headers are decoded (a malformed one too)
    client = target.connect()
    before = target.stat("http.ingress_http.downstream_rq_total")
    client.send(*[client.request(s, "/echo", "POST", end_stream=False) for s in (1, 3, 5)],
                window_update(0, 0))
    client.expect_close_without_goaway()
    assert wait_for_stat(target, "http.ingress_http.downstream_rq_total", before + 3) == before + 3
