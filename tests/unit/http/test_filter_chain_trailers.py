"""Trailers through the filter chain, sans-IO: a request's pass the decode_trailers hooks where
the client's codec decoded them (HTTP/2 always, HTTP/1.1 with enable_trailers) before the router
has the end of the request; a filtered HTTP/1.1 response's chunked body ends with its trailers
where the connection manager enables them (filtered_stream.encode_trailers)."""
from types import SimpleNamespace

import pytest

from hotproxy.http import filtered_stream
from hotproxy.http.filter_chain import FilterManager
from hotproxy.http.filters.api import CONTINUE, STOP, HttpFilter


class TrailerFilter(HttpFilter):
    def __init__(self, name, log, on_data=CONTINUE, reply=False):
        self.name, self.log, self.on_data, self.reply = name, log, on_data, reply

    def decode_data(self, stream, data, end_stream):
        self.log.append((self.name, "data", data, end_stream))
        return self.on_data if not end_stream else CONTINUE

    def decode_trailers(self, stream, trailers):
        self.log.append((self.name, "trailers", list(trailers)))
        trailers.append((b"x-" + self.name.encode(), b"1"))
        if self.reply:
            stream.replied = True
        return STOP     # nothing follows trailers: it continues all the same


class DataOnly(HttpFilter):
    def __init__(self, log):
        self.log = log

    def decode_data(self, stream, data, end_stream):
        self.log.append(("plain", "data", data, end_stream))
        return CONTINUE


def request_chain(filters, trailers, version="1.1", enable_trailers=True):
    head = SimpleNamespace(version=version)
    if trailers is not None:
        head.trailers = trailers
    conn = SimpleNamespace(hcm=SimpleNamespace(config=SimpleNamespace(enable_trailers=enable_trailers)))
    stream = SimpleNamespace(head=head, connection=conn, replied=False, response=None)
    got = []
    manager = FilterManager(stream, list(filters),
                            (lambda _, end: got.append(("headers", end)),
                             lambda _, data, end: got.append(("data", bytes(data), end))),
                            (None, None))
    manager.decode_headers(False)
    return stream, manager, got


def test_request_trailers_pass_the_decode_trailers_hooks_in_order_before_the_router_ends():
    log = []
    trailers = [(b"grpc-x", b"2")]
    stream, manager, got = request_chain(
        [TrailerFilter("a", log), DataOnly(log), TrailerFilter("b", log)], trailers)
    manager.decode_data(b"abc", False)
    manager.decode_data(b"", True)
    # the body's pieces went on without an end; the trailers then ended the request
    assert log == [("a", "data", b"abc", False), ("plain", "data", b"abc", False),
                   ("b", "data", b"abc", False),
                   ("a", "trailers", [(b"grpc-x", b"2")]),
                   ("b", "trailers", [(b"grpc-x", b"2"), (b"x-a", b"1")])]
    assert got == [("headers", False), ("data", b"abc", False), ("data", b"", True)]
    # edited in place: the router sends the head's trailers (router/trailers.request_end)
    assert stream.head.trailers == [(b"grpc-x", b"2"), (b"x-a", b"1"), (b"x-b", b"1")]


@pytest.mark.parametrize("version, enabled, hooked", [
    ("1.1", False, False), ("1.1", True, True), ("2", False, True)])
def test_only_trailers_the_clients_codec_decodes_reach_the_hooks(version, enabled, hooked):
    log = []
    _, manager, got = request_chain([TrailerFilter("a", log)], [(b"t", b"v")], version, enabled)
    manager.decode_data(b"", True)
    assert (("a", "trailers", [(b"t", b"v")]) in log) is hooked
    assert got[-1] == ("data", b"", True)
    # without hooks the end passes the data hooks, as a request without trailers
    assert (("a", "data", b"", True) in log) is not hooked


def test_a_request_without_trailers_ends_through_the_data_hooks():
    log = []
    _, manager, got = request_chain([TrailerFilter("a", log)], None)
    manager.decode_data(b"", True)
    assert log == [("a", "data", b"", True)] and got[-1] == ("data", b"", True)


def test_a_filter_holding_the_body_is_released_before_the_trailers_pass():
    log = []
    _, manager, got = request_chain([TrailerFilter("hold", log, on_data=STOP),
                                     TrailerFilter("after", log)], [(b"t", b"v")])
    manager.decode_data(b"abc", False)
    assert got == [("headers", False)]
    manager.decode_data(b"", True)
    assert got == [("headers", False), ("data", b"abc", True)]
    assert [entry[:2] for entry in log[-2:]] == [("hold", "trailers"), ("after", "trailers")]


def test_a_local_reply_from_decode_trailers_ends_the_request_there():
    log = []
    _, manager, got = request_chain([TrailerFilter("a", log, reply=True),
                                     TrailerFilter("b", log)], [(b"t", b"v")])
    manager.decode_data(b"", True)
    assert [entry[0] for entry in log] == ["a"] and got == [("headers", False)]


class Socket:
    def __init__(self):
        self.sent = b""

    def send(self, data):
        self.sent += bytes(data)
        return len(data)


def filtered_response(enable_trailers, framing=filtered_stream._CHUNKED, head_bytes=b"HEAD\r\n\r\n"):
    sock = Socket()
    conn = SimpleNamespace(sock=sock, hcm=SimpleNamespace(config=SimpleNamespace(
        enable_trailers=enable_trailers)))
    stream = SimpleNamespace(connection=conn, framing=framing, head_bytes=head_bytes,
                             info=SimpleNamespace(bytes_sent=0))
    return stream, sock


@pytest.fixture(autouse=True)
def plain_send(monkeypatch):
    def send_all(sock, data):
        sock.send(data)
    monkeypatch.setattr(filtered_stream, "send_all", send_all)
    monkeypatch.setattr(filtered_stream, "send_parts", lambda sock, parts: sock.send(b"".join(parts)))


def test_a_chunked_filtered_response_ends_with_its_trailers_where_enabled():
    stream, sock = filtered_response(True)
    filtered_stream.encode_trailers(stream, [(b"grpc-status", b"0")])
    assert sock.sent == b"HEAD\r\n\r\n0\r\ngrpc-status: 0\r\n\r\n"
    stream, sock = filtered_response(True, head_bytes=None)
    filtered_stream.encode_trailers(stream, [(b"x-t", b"v")])
    assert sock.sent == b"0\r\nx-t: v\r\n\r\n"


def test_without_enable_trailers_or_chunks_the_filtered_response_just_ends():
    stream, sock = filtered_response(False)
    filtered_stream.encode_trailers(stream, [(b"grpc-status", b"0")])
    assert sock.sent == b"HEAD\r\n\r\n0\r\n\r\n"
    stream, sock = filtered_response(True, framing=filtered_stream._RAW, head_bytes=None)
    filtered_stream.encode_trailers(stream, [(b"grpc-status", b"0")])
    assert sock.sent == b""
