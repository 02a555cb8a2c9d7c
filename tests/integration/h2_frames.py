"""A raw HTTP/2 client for the conformance tests (test_h2_conformance_*.py): it opens a socket,
sends the preface and SETTINGS, and writes frames crafted byte by byte (``frame``) or with
``hpack`` (``headers``), so that it can send what no real client would. Frames read back are plain
``Frame(type, flags, stream_id, payload)`` tuples, read with a timeout; ``outcome`` reads until the
peer closes or goes quiet, which is how each test sees the peer's answer (a GOAWAY, an RST_STREAM,
a close without either, or nothing).

Also the proxies the modules run against: ``start_h2_peer`` starts hotproxy or Envoy 1.40 on a
one-listener config (h2c with prior knowledge through codec_type AUTO) with an admin interface.
"""
from __future__ import annotations

import socket
import struct
import time
from typing import NamedTuple

import hpack
import pytest
from harness import Upstream, http_listener, simple_routes, static_cluster, to_yaml

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = range(10)

HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, \
    MAX_HEADER_LIST_SIZE = range(1, 7)

PEERS = ["hotproxy", "envoy"]
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}


class Frame(NamedTuple):
    type: int
    flags: int
    stream_id: int
    payload: bytes

    @property
    def error_code(self):
        """RST_STREAM's, or GOAWAY's."""
        return struct.unpack(">L", self.payload[-4:] if self.type == RST_STREAM else
                             self.payload[4:8])[0]

    @property
    def last_stream_id(self):
        return struct.unpack(">L", self.payload[:4])[0] & 0x7FFFFFFF


def frame(kind, flags, stream_id, payload=b""):
    """One frame's bytes, whatever its fields say (lengths are the payload's)."""
    return struct.pack(">L", len(payload))[1:] + bytes((kind, flags)) + struct.pack(
        ">L", stream_id) + payload


def settings(*pairs, ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0,
                 b"".join(struct.pack(">HL", key, value) for key, value in pairs))


def window_update(stream_id, increment):
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">L", increment))


def rst_stream(stream_id, code=CANCEL):
    return frame(RST_STREAM, 0, stream_id, struct.pack(">L", code))


def ping(data=b"12345678", ack=False):
    return frame(PING, ACK if ack else 0, 0, data)


def priority(stream_id, depends_on=0, weight=15, exclusive=False):
    return frame(PRIORITY, 0, stream_id,
                 struct.pack(">LB", depends_on | (0x80000000 if exclusive else 0), weight))


def data(stream_id, payload, end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, stream_id, payload)


def goaway(last_stream_id=0, code=NO_ERROR):
    return frame(GOAWAY, 0, 0, struct.pack(">LL", last_stream_id, code))


def request_headers(path="/echo", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path), (":authority", "test"),
            *extra]


class Closed(Exception):
    pass


class H2Client:
    """One connection. ``handshake`` sends the preface and ``settings_pairs``, and reads until the
    peer's SETTINGS came and ours was acknowledged (anything else read meanwhile is kept)."""

    def __init__(self, port, settings_pairs=(), handshake=True, timeout=3.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.pending = []
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_allowed_table_size = 65536
        self.server_settings = {}
        self.closed = False
        if handshake:
            self.send(PREFACE + settings(*settings_pairs))
            seen_settings = acked = False
            while not (seen_settings and acked):
                got = self.read_frame(timeout)
                if got is None:
                    raise TimeoutError("no SETTINGS from the peer")
                if got.type == SETTINGS and got.flags & ACK:
                    acked = True
                elif got.type == SETTINGS:
                    seen_settings = True
                    for at in range(0, len(got.payload), 6):
                        key, value = struct.unpack(">HL", got.payload[at:at + 6])
                        self.server_settings[key] = value
                    self.send(settings(ack=True))
                elif got.type != WINDOW_UPDATE:
                    self.pending.append(got)

    def send(self, *chunks):
        self.sock.sendall(b"".join(chunks))

    def encode(self, headers, huffman=True):
        return self.encoder.encode(headers, huffman=huffman)

    def headers(self, stream_id, headers, end_stream=True, end_headers=True, block=None):
        """A HEADERS frame of ``headers`` (list of pairs), or of the raw ``block``."""
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return frame(HEADERS, flags, stream_id, self.encode(headers) if block is None else block)

    def request(self, stream_id, path="/echo", method="GET", extra=(), end_stream=True):
        return self.headers(stream_id, request_headers(path, method, extra), end_stream)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        try:
            got = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            got = b""
        if not got:
            self.closed = True
            raise Closed()
        self.buffer += got

    def read_frame(self, timeout=2.0):
        """The next frame, None after ``timeout`` seconds without one; raises Closed at EOF."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + timeout
        try:
            while len(self.buffer) < 9:
                self._fill(deadline)
            length = struct.unpack(">L", b"\0" + self.buffer[:3])[0]
            while len(self.buffer) < 9 + length:
                self._fill(deadline)
        except socket.timeout:
            return None
        head, self.buffer = self.buffer[:9 + length], self.buffer[9 + length:]
        return Frame(head[3], head[4], struct.unpack(">L", head[5:9])[0] & 0x7FFFFFFF, head[9:])

    def outcome(self, timeout=1.0, until=None):
        """Frames read until the peer closes, ``until(frame)`` is true, or ``timeout`` seconds
        pass without a frame: returns (frames, closed)."""
        frames = []
        while True:
            try:
                got = self.read_frame(timeout)
            except Closed:
                return frames, True
            if got is None:
                return frames, False
            frames.append(got)
            if until is not None and until(got):
                return frames, self.closed

    # what a test asserts on

    def expect_goaway(self, code, timeout=2.0):
        frames, closed = self.outcome(timeout, until=lambda f: f.type == GOAWAY)
        goaways = [f for f in frames if f.type == GOAWAY]
        assert goaways, f"no GOAWAY: {frames} closed={closed}"
        assert goaways[-1].error_code == code, f"GOAWAY {goaways[-1].error_code} != {code}"
        return goaways[-1]

    def expect_rst(self, stream_id, code, timeout=2.0):
        frames, closed = self.outcome(
            timeout, until=lambda f: f.type in (RST_STREAM, GOAWAY) and f.stream_id == stream_id
            or f.type == GOAWAY)
        resets = [f for f in frames if f.type == RST_STREAM and f.stream_id == stream_id]
        assert resets, f"no RST_STREAM on {stream_id}: {frames} closed={closed}"
        assert resets[-1].error_code == code, f"RST_STREAM {resets[-1].error_code} != {code}"

    def expect_close_without_goaway(self, timeout=2.0):
        frames, closed = self.outcome(timeout)
        assert closed, f"still open: {frames}"
        assert not [f for f in frames if f.type == GOAWAY], frames

    def expect_connection_error(self, code, timeout=2.0):
        """RFC 9113 §5.4.1: a GOAWAY with ``code``, then the close."""
        self.expect_goaway(code, timeout)
        frames, closed = self.outcome(timeout)
        assert closed, "open after its GOAWAY"

    def alive(self, stream_id=None):
        """The connection still answers: a PING is acknowledged (and, with ``stream_id``, a
        request on it gets a 200)."""
        self.send(ping(b"alive!!!"))
        frames, closed = self.outcome(2.0, until=lambda f: f.type == PING and f.flags & ACK)
        assert not closed and frames and frames[-1].type == PING, f"{frames} closed={closed}"
        assert frames[-1].payload == b"alive!!!"
        if stream_id is not None:
            self.send(self.request(stream_id))
            status, _, _ = self.response(stream_id)
            assert status == 200
        return True

    def response(self, stream_id, timeout=3.0, window_updates=True):
        """(status, headers, body) of the stream's response; other streams' frames are dropped.
        With ``window_updates``, each DATA is given back to both windows at once."""
        block, body, status, headers = b"", b"", None, []
        deadline = time.monotonic() + timeout
        while True:
            got = self.read_frame(max(0.01, deadline - time.monotonic()))
            if got is None:
                raise TimeoutError(f"no complete response on stream {stream_id}")
            if got.stream_id != stream_id:
                if got.type == GOAWAY:
                    raise AssertionError(f"GOAWAY {got.error_code} while waiting for a response")
                continue
            if got.type == RST_STREAM:
                raise AssertionError(f"stream {stream_id} reset with {got.error_code}")
            if got.type in (HEADERS, CONTINUATION):
                block += strip_padding(got) if got.type == HEADERS else got.payload
                if got.flags & END_HEADERS:
                    decoded = [(k.decode() if isinstance(k, bytes) else k,
                                v.decode() if isinstance(v, bytes) else v)
                               for k, v in self.decoder.decode(block)]
                    block = b""
                    if status is None:
                        status = int(dict(decoded)[":status"])
                        headers = decoded
            elif got.type == DATA:
                payload = strip_padding(got)
                body += payload
                if window_updates and got.payload:
                    self.send(window_update(0, len(got.payload)),
                              window_update(stream_id, len(got.payload)))
            if got.flags & END_STREAM and got.type in (HEADERS, DATA):
                return status, headers, body

    def close(self):
        self.sock.close()


def strip_padding(got):
    payload = got.payload
    if got.flags & PADDED:
        pad = payload[0]
        payload = payload[1:len(payload) - pad]
    if got.type == HEADERS and got.flags & PRIORITY_FLAG:
        payload = payload[5:]
    return payload


def h2_config(upstream_port, http2_options=None, hcm_extra=None):
    hcm = dict(hcm_extra or {})
    if http2_options:
        hcm["http2_protocol_options"] = http2_options
    listener = http_listener("h2", "listen", simple_routes(
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}), hcm)
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [static_cluster("backend", upstream_port)]}})


class Target:
    """The proxy under test, its upstream, and helpers to connect and read stats."""

    def __init__(self, peer, upstream):
        self.peer, self.upstream, self.kind = peer, upstream, peer.kind
        self.port = peer.port("listen")
        self.admin = peer.port("admin")

    def connect(self, settings_pairs=(), handshake=True):
        return H2Client(self.port, settings_pairs, handshake)

    def stat(self, name):
        from harness import admin_counter
        return admin_counter(self.admin, name)

    def stat_grew(self, name, before, timeout=2.0):
        """Wait until stat ``name`` passes ``before`` (workers report with a delay)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.stat(name)
            if value > before or time.monotonic() > deadline:
                return value


def start_target(request, tmp_path_factory, http2_options=None, hcm_extra=None):
    """A module's proxy: hotproxy, or Envoy 1.40 for the ``envoy`` param (skipped where the binary
    is absent), one worker, on ``h2_config``. Stops at the end of the module."""
    from conftest import start_peer
    kind = request.param
    upstream = Upstream()
    directory = tmp_path_factory.mktemp(f"h2-{kind}")
    hcm = dict(hcm_extra or {})
    if kind == "envoy":
        # Envoy waits 1 s (delayed_close_timeout) for the client to close first after a GOAWAY
        # or a close; the answers are the same without the wait, which hotproxy does not make
        # (nor parse)
        hcm["delayed_close_timeout"] = "0s"
    try:
        peer = start_peer(kind, h2_config(upstream.port, http2_options, hcm), directory)
    except BaseException:
        upstream.stop()
        raise
    request.addfinalizer(upstream.stop)
    request.addfinalizer(peer.stop)
    return Target(peer, upstream)


def peers_fixture(http2_options=None, hcm_extra=None):
    """A module-scoped ``target`` fixture over PEERS."""
    @pytest.fixture(scope="module", params=PEERS)
    def target(request, tmp_path_factory):
        return start_target(request, tmp_path_factory, http2_options, hcm_extra)
    return target
