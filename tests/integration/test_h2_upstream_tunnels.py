"""WebSocket and CONNECT tunnels to an HTTP/2 upstream, against hotproxy and Envoy 1.40 on the same
config: a real HTTP/2 upstream (h2_websocket_upstream.py) that takes extended CONNECT (RFC 8441)
and echoes WebSocket messages, driven by an HTTP/1.1 WebSocket handshake and by an HTTP/2 client's
extended CONNECT; WebSocket frames are the ``websockets`` package's (sans-IO)."""
import socket
import time

import pytest

from h2_frames import DATA, END_STREAM, HEADERS, RST_STREAM, H2Client, data, rst_stream, window_update
from h2_websocket_upstream import FLOOD, H2WebSocketUpstream
from harness import http_listener, reload, rewrite, simple_routes, static_cluster, to_yaml
from http1_raw import exchange

websockets = pytest.importorskip("websockets")
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.protocol import Protocol, Side  # noqa: E402

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
HTTP2 = {"typed_extension_protocol_options": {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {
            # the RFC's smallest windows: the upstream waits for each piece to go downstream
            "initial_stream_window_size": 65535, "initial_connection_window_size": 65535}}}}}
HANDSHAKE = (b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
EXTENDED = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/chat"),
            (":authority", "example.com"), ("sec-websocket-version", "13")]
BIG = bytes(range(256)) * 4096     # 1 MiB: many times both sides' initial windows


def config(upstream_port):
    routes = [{"match": {"connect_matcher": {}},
               "route": {"cluster": "ws", "upgrade_configs": [{"upgrade_type": "CONNECT"}]}},
              {"match": {"prefix": "/"}, "route": {"cluster": "ws"}}]
    hcm = {"codec_type": "AUTO", "upgrade_configs": [{"upgrade_type": "websocket"}],
           "http2_protocol_options": {"allow_connect": True}}
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", simple_routes(*routes), hcm)],
        "clusters": [static_cluster("ws", upstream_port, extra=HTTP2)]}})


@pytest.fixture
def h2_ws_upstream():
    servers = []

    def start(**kwargs):
        servers.append(H2WebSocketUpstream(**kwargs))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# ---- an HTTP/1.1 WebSocket client

class Http1WebSocket:
    """A raw HTTP/1.1 handshake, then WebSocket frames (client side, masked)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(HANDSHAKE)
        head = b""
        while b"\r\n\r\n" not in head:
            got = self.sock.recv(65536)
            if not got:
                break
            head += got
        self.head, _, rest = head.partition(b"\r\n\r\n")
        self.ws = Protocol(Side.CLIENT, max_size=None)
        self.queue = []
        if rest:
            self.ws.receive_data(rest)

    @property
    def status_line(self):
        return self.head.split(b"\r\n")[0]

    def header_names(self):
        return [line.split(b":")[0].lower() for line in self.head.split(b"\r\n")[1:]]

    def send(self, frame):
        self.ws.send_frame(frame)
        self.sock.sendall(b"".join(self.ws.data_to_send()))

    def close(self):
        self.sock.close()


def next_frame(client):
    """The next WebSocket frame from ``client`` (Http1WebSocket), None at EOF."""
    while True:
        for event in client.ws.events_received():
            client.queue.append(event)
        if client.queue:
            return client.queue.pop(0)
        try:
            got = client.sock.recv(65536)
        except ConnectionResetError:
            got = b""
        if not got:
            return None
        client.ws.receive_data(got)


def open_http1(port):
    return Http1WebSocket(port)


def test_an_http1_websocket_becomes_an_extended_connect_upstream(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream(response_headers=[("x-up", "1")])
    peer = peer_factory(config(upstream.port))
    client = open_http1(peer.port("listen"))
    try:
        assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
        # Envoy synthesises the 101 from the upstream's 200 and computes no Sec-WebSocket-Accept
        assert client.header_names() == [b"x-up", b"upgrade", b"connection", b"date", b"server"]
        client.send(Frame(Opcode.TEXT, b"hello"))
        assert next_frame(client).data == b"hello"
        client.send(Frame(Opcode.BINARY, BIG))
        echoed = next_frame(client)
        assert echoed.opcode is Opcode.BINARY and echoed.data == BIG
    finally:
        client.close()
    seen = dict(upstream.seen[0])
    assert (seen[":method"], seen[":protocol"], seen[":scheme"], seen[":path"], seen[":authority"]) == (
        "CONNECT", "websocket", "http", "/chat", "example.com")
    assert seen["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ=="
    assert not {"upgrade", "connection", "host"} & set(seen)
    assert peer.counter("http.ingress_http.downstream_cx_upgrades_total") == 1


def test_the_clients_close_frame_is_answered_and_the_connection_ends(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    client = open_http1(peer.port("listen"))
    try:
        client.send(Frame(Opcode.CLOSE, b"\x03\xe8done"))
        answer = next_frame(client)
        assert answer.opcode is Opcode.CLOSE and answer.data == b"\x03\xe8done"
        assert next_frame(client) is None      # the upstream's END_STREAM closes the connection
    finally:
        client.close()
    assert wait_for(lambda: upstream.ends or upstream.resets)


def test_the_upstreams_close_reaches_the_client(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    client = open_http1(peer.port("listen"))
    try:
        client.send(Frame(Opcode.TEXT, b"bye"))
        closing = next_frame(client)
        assert closing.opcode is Opcode.CLOSE and closing.data == b"\x03\xe8bye"
        assert next_frame(client) is None
    finally:
        client.close()


def test_the_clients_eof_resets_the_upstream_stream(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    client = open_http1(peer.port("listen"))
    client.send(Frame(Opcode.TEXT, b"ping"))
    assert next_frame(client).data == b"ping"
    client.sock.shutdown(socket.SHUT_WR)
    assert next_frame(client) is None
    client.close()
    assert wait_for(lambda: upstream.resets == [1])
    assert upstream.reset_codes == [2]      # INTERNAL_ERROR
    assert wait_for(lambda: peer.counter("http.ingress_http.downstream_cx_upgrades_active") == 0)


def test_an_upstream_reset_closes_the_clients_connection(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    client = open_http1(peer.port("listen"))
    try:
        client.send(Frame(Opcode.TEXT, b"reset"))
        assert next_frame(client) is None
    finally:
        client.close()


def test_an_upstream_refusal_is_relayed_and_the_connection_closes(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream(status=403)
    peer = peer_factory(config(upstream.port))
    got = exchange(peer.port("listen"), HANDSHAKE, timeout=5)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"\r\nconnection: close" in head.lower() and b"\r\ncontent-length: 7" in head.lower()
    assert body == b"refused"


def test_an_upstream_without_enable_connect_protocol_still_gets_the_extended_connect(
        peer_factory, h2_ws_upstream):
    """Envoy does not wait for SETTINGS_ENABLE_CONNECT_PROTOCOL: the request goes, and an
    upstream that takes it anyway opens the tunnel."""
    upstream = h2_ws_upstream(enable_connect=False, lenient=True)
    peer = peer_factory(config(upstream.port))
    client = open_http1(peer.port("listen"))
    try:
        assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
        client.send(Frame(Opcode.TEXT, b"anyway"))
        assert next_frame(client).data == b"anyway"
    finally:
        client.close()


def test_an_upstream_refusing_extended_connect_with_protocol_error_is_a_502(
        peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream(enable_connect=False)
    peer = peer_factory(config(upstream.port))
    got = exchange(peer.port("listen"), HANDSHAKE, timeout=5)
    assert got.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert got.endswith(b"upstream connect error or disconnect/reset before headers. "
                        b"reset reason: protocol error")
    assert upstream.resets == [] and len(upstream.seen) == 1


# ---- an HTTP/2 client

def open_h2(port, headers):
    client = H2Client(port)
    client.send(client.headers(1, headers, end_stream=False))
    frames, _ = client.outcome(timeout=3.0, until=lambda f: f.type in (HEADERS, RST_STREAM))
    heads = [client.decoder.decode(f.payload) for f in frames if f.type == HEADERS]
    return client, (heads[0] if heads else None)


def read_stream(client, want, timeout=5.0):
    """DATA of stream 1 until ``want(bytes so far)`` or its END_STREAM, giving each piece back
    to both windows: (bytes, ended)."""
    got, ended = b"", False
    deadline = time.monotonic() + timeout
    while not want(got) and not ended and time.monotonic() < deadline:
        frame = client.read_frame(max(0.01, deadline - time.monotonic()))
        if frame is None:
            break
        if frame.type == DATA and frame.stream_id == 1:
            got += frame.payload
            ended = bool(frame.flags & END_STREAM)
            if frame.payload:
                client.send(window_update(0, len(frame.payload)), window_update(1, len(frame.payload)))
        elif frame.type == RST_STREAM:
            raise AssertionError(f"stream reset with {frame.payload!r}")
    return got, ended


def send_ws(client, ws, frame):
    """``frame`` in DATA frames of the default maximum size (the peers' windows are larger)."""
    ws.send_frame(frame)
    payload = b"".join(ws.data_to_send())
    client.send(*(data(1, payload[at:at + 16384]) for at in range(0, len(payload), 16384)))


def receive_ws(client, ws):
    frames = []

    def complete(got):
        if got:
            ws.receive_data(got[complete.fed:])
            complete.fed = len(got)
            frames.extend(ws.events_received())
        return bool(frames)
    complete.fed = 0
    read_stream(client, complete)
    return frames[0] if frames else None


def test_an_h2_extended_connect_reaches_the_h2_upstream(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    client, head = open_h2(peer.port("listen"), EXTENDED)
    ws = Protocol(Side.CLIENT, max_size=None)
    try:
        assert head[0] == (":status", "200")
        assert [name for name, _ in head[1:]] == ["date", "server"]
        send_ws(client, ws, Frame(Opcode.TEXT, b"over h2"))
        assert receive_ws(client, ws).data == b"over h2"
        send_ws(client, ws, Frame(Opcode.BINARY, BIG))
        echoed = receive_ws(client, ws)
        assert echoed.data == BIG
        # the client's END_STREAM half-closes; the upstream's comes back
        client.send(data(1, b"", end_stream=True))
        _, ended = read_stream(client, lambda got: False)
        assert ended
    finally:
        client.close()
    seen = dict(upstream.seen[0])
    assert (seen[":method"], seen[":protocol"], seen[":path"]) == ("CONNECT", "websocket", "/chat")
    assert upstream.ends == [1] and upstream.resets == []


def test_an_h2_clients_extended_connect_refused_upstream_is_relayed(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream(status=403)
    peer = peer_factory(config(upstream.port))
    client, head = open_h2(peer.port("listen"), EXTENDED)
    try:
        assert head[0] == (":status", "403")
        body, ended = read_stream(client, lambda got: False)
        assert (body, ended) == (b"refused", True)
    finally:
        client.close()


@pytest.mark.parametrize("downstream", ["http1", "h2"])
def test_a_connect_goes_to_the_h2_upstream_as_an_h2_connect(peer_factory, h2_ws_upstream, downstream):
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    if downstream == "h2":
        client, head = open_h2(peer.port("listen"), [(":method", "CONNECT"), (":authority", "example.com:443")])
        try:
            assert head[0] == (":status", "200")
            client.send(data(1, b"raw bytes"))
            got, _ = read_stream(client, lambda got: got.endswith(b"raw bytes"))
            assert got == b"echo:raw bytes"
        finally:
            client.close()
    else:
        with socket.create_connection(("127.0.0.1", peer.port("listen")), timeout=5) as sock:
            sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            sock.sendall(b"raw bytes")
            got = head.partition(b"\r\n\r\n")[2]
            while not got.endswith(b"raw bytes"):
                got += sock.recv(65536)
            assert got == b"echo:raw bytes"
    pseudo = [(name, value) for name, value in upstream.seen[0] if name.startswith(":")]
    assert sorted(pseudo) == [(":authority", "example.com:443"), (":method", "CONNECT")]


def test_an_h2_clients_reset_resets_the_upstream_stream(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    client, head = open_h2(peer.port("listen"), EXTENDED)
    try:
        assert head[0] == (":status", "200")
        client.send(rst_stream(1))
        assert wait_for(lambda: upstream.resets == [1])
        assert upstream.reset_codes == [2]      # INTERNAL_ERROR, whatever the client's code
    finally:
        client.close()


def test_an_upstream_reset_resets_the_h2_clients_stream(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    client, head = open_h2(peer.port("listen"), EXTENDED)
    ws = Protocol(Side.CLIENT)
    try:
        send_ws(client, ws, Frame(Opcode.TEXT, b"reset"))
        frames, _ = client.outcome(timeout=3.0, until=lambda f: f.type == RST_STREAM)
        assert [(f.stream_id, f.payload) for f in frames if f.type == RST_STREAM] == [
            (1, b"\0\0\0\2")]     # INTERNAL_ERROR
        client.alive()      # the connection itself goes on
    finally:
        client.close()


def test_an_idle_tunnel_ends_at_the_stream_idle_timeout(peer_factory, h2_ws_upstream):
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port).replace(
        '"codec_type": "AUTO"', '"codec_type": "AUTO", "stream_idle_timeout": "0.5s"'))
    client = open_http1(peer.port("listen"))
    try:
        client.send(Frame(Opcode.TEXT, b"once"))
        assert next_frame(client).data == b"once"
        assert next_frame(client) is None       # then nothing: the proxy ends it
    finally:
        client.close()
    assert wait_for(lambda: upstream.resets == [1])
    assert upstream.reset_codes == [2]


def test_a_real_websocket_client_needs_the_upstream_to_answer_its_key(peer_factory, h2_ws_upstream):
    """Neither Envoy nor hotproxy makes up Sec-WebSocket-Accept for the 101: a client that checks
    it (the ``websockets`` package) gets through when the HTTP/2 upstream answers the forwarded
    Sec-WebSocket-Key itself, and refuses the handshake when it does not."""
    from websockets.exceptions import InvalidHandshake
    from websockets.sync.client import connect

    answering = h2_ws_upstream(accept_from_key=True)
    peer = peer_factory(config(answering.port))
    with connect(f"ws://127.0.0.1:{peer.port('listen')}/chat", open_timeout=5) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(BIG)
        assert ws.recv(timeout=5) == BIG
    silent = h2_ws_upstream()
    other = peer_factory(config(silent.port))
    with pytest.raises(InvalidHandshake):
        connect(f"ws://127.0.0.1:{other.port('listen')}/chat", open_timeout=5)


def test_a_protocol_error_reset_of_a_plain_request_is_a_502(peer_factory, h2_ws_upstream):
    """What the tunnels' 502 comes from: Envoy answers any request whose HTTP/2 upstream stream
    is reset with PROTOCOL_ERROR before its response head with a 502 "protocol error"."""
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    with socket.create_connection(("127.0.0.1", peer.port("listen")), timeout=5) as sock:
        sock.sendall(b"GET /protocol-error HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"protocol error"):
            piece = sock.recv(65536)
            if not piece:
                break
            got += piece
    assert got.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert got.endswith(b"reset before headers. reset reason: protocol error")
    assert peer.counter("cluster.ws.upstream_rq_502") == 1


@pytest.mark.parametrize("downstream", ["http1", "h2"])
def test_an_upstream_that_never_answers_is_the_stream_idle_timeouts_408(peer_factory, h2_ws_upstream,
                                                                        downstream):
    """Envoy holds no route timeout against a tunnel's response head (0.5 s here): the stream idle
    timeout ends the wait."""
    upstream = h2_ws_upstream(status=None)
    text = config(upstream.port).replace(
        '"route": {"cluster": "ws"}', '"route": {"cluster": "ws", "timeout": "0.5s"}').replace(
        '"codec_type": "AUTO"', '"codec_type": "AUTO", "stream_idle_timeout": "1s"')
    peer = peer_factory(text)
    if downstream == "h2":
        client, head = open_h2(peer.port("listen"), EXTENDED)
        try:
            if head is None:
                frames, _ = client.outcome(timeout=10.0, until=lambda f: f.type in (HEADERS, RST_STREAM))
                heads = [client.decoder.decode(f.payload) for f in frames if f.type == HEADERS]
                head = heads[0] if heads else None
            assert head is not None and head[0] == (":status", "408")
            assert read_stream(client, lambda got: False) == (b"stream timeout", True)
        finally:
            client.close()
    else:
        with socket.create_connection(("127.0.0.1", peer.port("listen")), timeout=10) as sock:
            sock.sendall(HANDSHAKE)
            got = b""
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                got += piece
        assert got.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert got.endswith(b"\r\n\r\nstream timeout")
    assert peer.counter("http.ingress_http.downstream_rq_idle_timeout") == 1


def test_a_client_that_does_not_read_holds_the_upstream_back(peer_factory, h2_ws_upstream):
    """Flow control end to end: while the HTTP/1.1 client reads nothing, the upstream can send no
    more than the stream's window and the sockets' buffers take (far less than the 32 MiB it
    has); once the client reads, the whole message arrives."""
    upstream = h2_ws_upstream()
    peer = peer_factory(config(upstream.port))
    client = open_http1(peer.port("listen"))
    try:
        client.send(Frame(Opcode.TEXT, b"flood"))
        assert wait_for(lambda: upstream.waiting > 0)
        last, settled = None, False
        deadline = time.monotonic() + 30
        while not settled and time.monotonic() < deadline:
            time.sleep(0.5)
            settled, last = upstream.waiting == last, upstream.waiting
        assert settled and last > FLOOD // 2
        message = next_frame(client)
        assert message.opcode is Opcode.BINARY and len(message.data) == FLOOD
        assert upstream.waiting == 0
    finally:
        client.close()


def test_an_open_tunnel_stays_on_its_generation_across_a_reload(proxy_factory, h2_ws_upstream):
    upstream = h2_ws_upstream()
    proxy = proxy_factory(config(upstream.port), extra_args=["--concurrency", "1"])
    client = open_http1(proxy.port("listen"))
    try:
        client.send(Frame(Opcode.TEXT, b"before"))
        assert next_frame(client).data == b"before"
        rewrite(proxy, config(upstream.port).replace('"ingress_http"', '"ingress_http_b"'))
        reload(proxy, 1)
        for n in range(5):
            client.send(Frame(Opcode.TEXT, b"after %d" % n))
            assert next_frame(client).data == b"after %d" % n
    finally:
        client.close()
    fresh = open_http1(proxy.port("listen"))
    try:
        fresh.send(Frame(Opcode.TEXT, b"new"))
        assert next_frame(fresh).data == b"new"
    finally:
        fresh.close()
