"""h2spec-style conformance, RFC 9113 §8 (HTTP semantics) and RFC 7541 (HPACK), against hotproxy
and the real Envoy 1.40 (h2c, prior knowledge). A malformed request is a messaging error: with
``override_stream_error_on_invalid_http_message`` false (the default) Envoy closes the connection
without a GOAWAY and counts ``http2.rx_messaging_error``; a body against its content-length resets
the stream; an HPACK error is a GOAWAY COMPRESSION_ERROR."""
import pytest
from h2_frames import (COMPRESSION_ERROR, END_HEADERS, END_STREAM, HEADERS, PROTOCOL_ERROR, data,
                       frame, peers_fixture)

target = peers_fixture()

BASE = [(":method", "GET"), (":scheme", "http"), (":path", "/echo"), (":authority", "test")]

MALFORMED = {
    "uppercase_name": BASE + [("X-Upper", "1")],
    "connection_header": BASE + [("connection", "close")],
    "keep_alive_header": BASE + [("keep-alive", "5")],
    "transfer_encoding": BASE + [("transfer-encoding", "chunked")],
    "te_gzip": BASE + [("te", "gzip")],
    "pseudo_after_regular": BASE[:2] + [("x-a", "1")] + BASE[2:],
    "missing_method": BASE[1:],
    "missing_scheme": [BASE[0]] + BASE[2:],
    "missing_path": BASE[:2] + BASE[3:],
    "empty_path": BASE[:2] + [(":path", "")] + BASE[3:],
    "repeated_path": BASE + [(":path", "/x")],
    "unknown_pseudo": BASE + [(":foo", "x")],
    "response_pseudo": [(":status", "200")] + BASE,
    "value_with_newline": BASE + [("x-a", "a\nb")],
}


# §8.1 / §8.2 malformed requests

@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_8_malformed_request_closes_without_goaway(target, name):
    client = target.connect()
    before = target.stat("http2.rx_messaging_error")
    client.send(client.headers(1, MALFORMED[name]))
    client.expect_close_without_goaway()
    assert target.stat_grew("http2.rx_messaging_error", before) > before


def test_8_2_2_te_trailers_is_allowed(target):
    client = target.connect()
    client.send(client.request(1, extra=[("te", "trailers")]))
    assert client.response(1)[0] == 200


def test_8_1_content_length_with_end_stream_on_headers(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", extra=[("content-length", "5")]))
    client.expect_close_without_goaway()


def test_8_1_1_body_shorter_than_content_length_resets_the_stream(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", extra=[("content-length", "5")],
                               end_stream=False), data(1, b"abc", end_stream=True))
    client.expect_rst(1, PROTOCOL_ERROR)
    assert client.alive(stream_id=3)


def test_8_1_1_body_longer_than_content_length_resets_the_stream(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", extra=[("content-length", "2")],
                               end_stream=False), data(1, b"abc", end_stream=True))
    client.expect_rst(1, PROTOCOL_ERROR)
    assert client.alive(stream_id=3)


def test_8_1_trailers_with_a_pseudo_header(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", end_stream=False), data(1, b"abc"),
                client.headers(1, [(":method", "x")]))
    client.expect_close_without_goaway()


def test_8_1_trailers_without_end_stream(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", end_stream=False), data(1, b"abc"),
                client.headers(1, [("x-t", "x")], end_stream=False))
    client.expect_close_without_goaway()


def test_8_1_request_with_body_and_trailers(target):
    client = target.connect()
    client.send(client.request(1, "/echo", "POST", end_stream=False), data(1, b"abc"),
                client.headers(1, [("x-t", "x")]))
    status, _, body = client.response(1)
    assert status == 200 and b'"body": "abc"' in body


def test_8_3_1_cookies_split_across_fields_reach_the_upstream(target):
    client = target.connect()
    client.send(client.request(1, extra=[("cookie", "a=1"), ("cookie", "b=2")]))
    status, _, body = client.response(1)
    assert status == 200 and b"a=1; b=2" in body


# RFC 7541 HPACK

def test_hpack_4_2_table_size_update_over_the_limit(target):
    client = target.connect()
    block = b"\x3f\xe1\x7f" + client.encode(BASE)   # a size update to 16384 > 4096
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    client.expect_connection_error(COMPRESSION_ERROR)


def test_hpack_4_2_table_size_update_after_a_field(target):
    client = target.connect()
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, client.encode(BASE) + b"\x20"))
    client.expect_connection_error(COMPRESSION_ERROR)


def test_hpack_2_3_3_index_past_the_tables(target):
    client = target.connect()
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, client.encode(BASE) + b"\xff\x7f"))
    client.expect_connection_error(COMPRESSION_ERROR)


def test_hpack_6_1_index_0(target):
    client = target.connect()
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, client.encode(BASE) + b"\x80"))
    client.expect_connection_error(COMPRESSION_ERROR)


@pytest.mark.parametrize("tail", [b"\xff\xff\xff\xff", b"\x40\x85abc", b"\x00\x01a\x7f"],
                         ids=["truncated_integer", "truncated_name", "truncated_value"])
def test_hpack_5_truncated_representations(target, tail):
    client = target.connect()
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, client.encode(BASE) + tail))
    client.expect_connection_error(COMPRESSION_ERROR)


def test_hpack_dynamic_table_carries_across_requests(target):
    client = target.connect()
    for stream_id in (1, 3, 5):
        client.send(client.request(stream_id, extra=[("x-repeated", "same value")]))
        status, _, body = client.response(stream_id)
        assert status == 200 and b"same value" in body


def test_hpack_table_size_update_within_the_limit(target):
    client = target.connect()
    client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, b"\x20" + client.encode(BASE)))
    assert client.response(1)[0] == 200
