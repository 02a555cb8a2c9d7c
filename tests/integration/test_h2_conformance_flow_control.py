"""h2spec-style conformance, RFC 9113 §6.9 / §6.9.2 (flow control), against hotproxy and the real
Envoy 1.40 (h2c, prior knowledge): a response larger than the client's windows waits for its
WINDOW_UPDATEs and resumes, and a new SETTINGS_INITIAL_WINDOW_SIZE applies to open streams (a
window may go negative)."""
from h2_frames import (DATA, END_STREAM, HEADERS, INITIAL_WINDOW_SIZE, peers_fixture, settings,
                       window_update)

target = peers_fixture()


def body_bytes(client, stream_id, timeout=0.5):
    """(DATA bytes received on the stream until it goes quiet for ``timeout``, ended?)."""
    total, ended = 0, False
    while True:
        got = client.read_frame(timeout)
        if got is None:
            return total, ended
        if got.stream_id == stream_id and got.type == DATA:
            total += len(got.payload)
            ended = ended or bool(got.flags & END_STREAM)
        elif got.stream_id == stream_id and got.type == HEADERS:
            ended = ended or bool(got.flags & END_STREAM)
        if ended:
            return total, ended


def test_6_9_1_initial_window_of_1_gets_one_byte(target):
    client = target.connect(settings_pairs=[(INITIAL_WINDOW_SIZE, 1)])
    client.send(client.request(1, "/bytes/100"))
    assert body_bytes(client, 1) == (1, False)
    client.send(window_update(1, 99))
    assert body_bytes(client, 1) == (99, True)


def test_6_9_response_larger_than_the_stream_window_waits_and_resumes(target):
    client = target.connect(settings_pairs=[(INITIAL_WINDOW_SIZE, 1000)])
    client.send(client.request(1, "/bytes/5000"))
    assert body_bytes(client, 1) == (1000, False)
    client.send(window_update(1, 1500))
    assert body_bytes(client, 1) == (1500, False)
    client.send(window_update(1, 2500))
    assert body_bytes(client, 1) == (2500, True)


def test_6_9_response_larger_than_the_connection_window_waits_and_resumes(target):
    client = target.connect(settings_pairs=[(INITIAL_WINDOW_SIZE, 1 << 20)])
    client.send(client.request(1, "/bytes/100000"))
    assert body_bytes(client, 1) == (65535, False)
    client.send(window_update(0, 100000 - 65535))
    assert body_bytes(client, 1) == (100000 - 65535, True)


def test_6_9_2_new_initial_window_size_applies_to_open_streams(target):
    client = target.connect(settings_pairs=[(INITIAL_WINDOW_SIZE, 1000)])
    client.send(client.request(1, "/bytes/5000"))
    assert body_bytes(client, 1) == (1000, False)
    client.send(settings((INITIAL_WINDOW_SIZE, 5000)))
    assert body_bytes(client, 1) == (4000, True)


def test_6_9_2_a_window_may_go_negative(target):
    client = target.connect(settings_pairs=[(INITIAL_WINDOW_SIZE, 1000)])
    client.send(client.request(1, "/bytes/5000"))
    assert body_bytes(client, 1) == (1000, False)
    client.send(settings((INITIAL_WINDOW_SIZE, 500)))     # the window is now -500
    client.send(window_update(1, 600))
    assert body_bytes(client, 1) == (100, False)
    client.send(window_update(1, 3900))
    assert body_bytes(client, 1) == (3900, True)


def test_6_9_2_a_negative_window_sends_nothing_until_it_reopens(target):
    """The SETTINGS alone, read before the WINDOW_UPDATE: the stream's window is -500 while the
    response waits (test_6_9_2_a_window_may_go_negative reads both at once, mostly)."""
    client = target.connect(settings_pairs=[(INITIAL_WINDOW_SIZE, 1000)])
    client.send(client.request(1, "/bytes/5000"))
    assert body_bytes(client, 1) == (1000, False)
    client.send(settings((INITIAL_WINDOW_SIZE, 500)))
    assert body_bytes(client, 1) == (0, False)
    client.send(window_update(1, 600))
    assert body_bytes(client, 1) == (100, False)
    client.send(window_update(1, 3900))
    assert body_bytes(client, 1) == (3900, True)


def test_6_9_2_initial_window_size_applies_to_new_streams(target):
    client = target.connect(settings_pairs=[(INITIAL_WINDOW_SIZE, 100)])
    client.send(settings((INITIAL_WINDOW_SIZE, 300)))
    client.send(client.request(1, "/bytes/1000"))
    assert body_bytes(client, 1) == (300, False)


def test_6_9_request_body_larger_than_64_kib_flows(target):
    client = target.connect()
    from h2_frames import data
    body = b"b" * 200000
    client.send(client.request(1, "/drain", "POST", extra=[("content-length", str(len(body)))],
                               end_stream=False),
                *[data(1, body[at:at + 16384], end_stream=at + 16384 >= len(body))
                  for at in range(0, len(body), 16384)])
    status, _, answer = client.response(1)
    assert status == 200 and b'"length": 200000' in answer
