"""BioTlsSocket (hotproxy/tls/bio_socket.py), OpenSSL on memory buffers under a gevent SSLSocket,
over a real socketpair: what it must keep of the socket it replaces (bytes in order, EOF and
close_notify, alerts, post-handshake messages, the accessors the rest of hotproxy reads) and what
it is for (a response's records in one write)."""
import ctypes
import gc
import ssl

import gevent
import pytest
from certs import CA
from gevent import socket
from gevent import ssl as gevent_ssl

from hotproxy.tls import data_socket, openssl
from hotproxy.tls.bio_socket import BioTlsSocket

_SSL_CTRL_GET_READ_AHEAD = 40


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    return CA().issue("server", dns=["server.example.com"]).write(tmp_path_factory.mktemp("tls"), "server")


@pytest.fixture(autouse=True)
def bio_mode(monkeypatch):
    monkeypatch.setenv(data_socket.DATA_PATH_ENV, "bio")


def server_context(issued, alpn=None):
    context = gevent_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*issued)
    if alpn:
        context.set_alpn_protocols(alpn)
    data_socket.configure(context, server=True)
    return context


class Client:
    """The peer: an SSLObject over memory BIOs on the other end of the socketpair, so that the
    test decides how its records are cut and sent."""

    def __init__(self, raw, maximum=None, alpn=None, sni=None):
        self.raw = raw
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if maximum is not None:
            context.maximum_version = maximum
        if alpn:
            context.set_alpn_protocols(alpn)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.end = context.wrap_bio(self.incoming, self.outgoing, server_hostname=sni)

    def flush(self):
        if self.outgoing.pending:
            self.raw.sendall(self.outgoing.read())

    def send(self, *messages):
        """Each message in a record of its own, all in one segment."""
        for message in messages:
            self.end.write(message)
        self.flush()

    def receive(self, size):
        got = bytearray()
        while len(got) < size:
            try:
                got += self.end.read(65536)
            except ssl.SSLWantReadError:
                data = self.raw.recv(262144)
                assert data, "the server closed before the whole answer"
                self.incoming.write(data)
        return bytes(got)

    def read_until_closed(self):
        """The plain text the server sent until its close_notify or EOF; the exception that ended it."""
        while True:
            try:
                if not self.end.read(65536):
                    return "close_notify"
            except ssl.SSLWantReadError:
                data = self.raw.recv(262144)
                if not data:
                    return "eof"
                self.incoming.write(data)
            except ssl.SSLError as error:
                return error


def connected(issued, **client_options):
    """(the server-side BioTlsSocket, the Client) after a completed handshake."""
    left, right = socket.socketpair()
    context = server_context(issued, alpn=client_options.pop("server_alpn", None))
    server = gevent.spawn(lambda: _handshaken(context.wrap_socket(right, server_side=True,
                                                                  do_handshake_on_connect=False)))
    client = Client(left, **client_options)
    while True:
        try:
            client.end.do_handshake()
            break
        except ssl.SSLWantReadError:
            client.flush()
            client.incoming.write(left.recv(65536))
    client.flush()
    return server.get(timeout=10), client


def _handshaken(tls):
    tls.do_handshake()
    return tls


def test_the_bio_mode_makes_bio_sockets_without_read_ahead(issued):
    context = server_context(issued)
    assert context.sslsocket_class is BioTlsSocket
    assert openssl._libssl.SSL_CTX_ctrl(openssl._ssl_ctx(context), _SSL_CTRL_GET_READ_AHEAD, 0, None) == 0


def test_upstream_contexts_keep_the_data_socket_in_bio_mode(issued):
    context = gevent_ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    data_socket.configure(context, server=False)
    assert context.sslsocket_class is data_socket.TlsDataSocket


def test_a_64k_response_goes_out_in_one_socket_write(issued, monkeypatch):
    tls, client = connected(issued)
    writes = []
    real_send, real_sendmsg = gevent_ssl._contextawaresock.send, gevent_ssl._contextawaresock.sendmsg
    monkeypatch.setattr(gevent_ssl._contextawaresock, "send",
                        lambda sock, data, *rest: writes.append(len(data)) or real_send(sock, data, *rest))
    monkeypatch.setattr(gevent_ssl._contextawaresock, "sendmsg",
                        lambda sock, buffers, *rest: writes.append(sum(map(len, buffers)))
                        or real_sendmsg(sock, buffers, *rest))
    body = bytes(range(256)) * 256   # 64 KiB: five TLS records
    reader = gevent.spawn(client.receive, len(body))
    assert tls.send(body) == len(body)
    assert reader.get(timeout=5) == body
    assert len(writes) == 1 and writes[0] > len(body)


def rss_kib():
    """The process's resident memory, after the C heap gave back what is free."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4


def test_large_bodies_leave_no_large_buffers_behind(issued):
    """OpenSSL's memory buffers keep what they grew to for the connection's life: 64 KiB each way
    must leave about a record's worth in each buffer of an idle connection (~40 KiB in all; fed
    and drained whole, they kept ~130 KiB)."""
    pairs = [connected(issued) for _ in range(150)]
    body = bytes(range(256)) * 256
    before = rss_kib()
    servers = []
    while pairs:
        tls, client = pairs.pop()
        reader = gevent.spawn(client.receive, len(body))
        tls.sendall(body)
        assert reader.get(timeout=5) == body
        client.send(*[body[i:i + 16384] for i in range(0, len(body), 16384)])
        got = b""
        while len(got) < len(body):
            got += tls.recv(65536)
        assert got == body
        client.raw.close()    # the peer and its own buffers go; the server side stays, idle
        servers.append(tls)
    del tls, client, reader
    grown = (rss_kib() - before) / len(servers)
    assert grown < 64, f"{grown:.0f} KiB more per connection"


def test_pipelined_records_come_from_the_buffer_without_waiting_for_the_socket(issued):
    tls, client = connected(issued)
    client.send(b"first request", b"second request")
    assert tls.recv(65536) == b"first request"
    tls.send(b"first answer")
    with gevent.Timeout(5):
        assert tls.recv(65536) == b"second request"
    assert client.receive(len(b"first answer")) == b"first answer"


def test_a_record_split_over_segments_is_read_whole(issued):
    tls, client = connected(issued)
    client.end.write(b"x" * 3000)
    record = client.outgoing.read()
    reader = gevent.spawn(tls.recv, 65536)
    for start in range(0, len(record), 700):
        client.raw.sendall(record[start:start + 700])
        gevent.sleep(0.01)
    assert reader.get(timeout=5) == b"x" * 3000


def test_a_read_with_nothing_to_read_waits_for_the_peer(issued):
    tls, client = connected(issued)
    reader = gevent.spawn(tls.recv, 65536)
    gevent.sleep(0.05)
    assert not reader.ready()
    client.send(b"next request")
    assert reader.get(timeout=5) == b"next request"


def test_a_megabyte_arrives_whole_both_ways(issued):
    tls, client = connected(issued)
    payload = bytes(range(256)) * 4096
    sender = gevent.spawn(client.send, payload)
    received = bytearray()
    buffer = bytearray(65536)
    while len(received) < len(payload):
        count = tls.recv_into(buffer)
        assert count > 0
        received += buffer[:count]
    sender.get(timeout=5)
    assert bytes(received) == payload

    reply = payload[::-1]
    writer = gevent.spawn(tls.sendall, reply)
    assert client.receive(len(reply)) == reply
    writer.get(timeout=5)


def test_a_key_update_from_the_peer_is_answered_and_data_flows_on(issued):
    """TLS 1.3's post-handshake KeyUpdate (update_requested): the server reads it inside a read,
    updates its keys and its next records must use the new ones, or the client fails them."""
    tls, client = connected(issued)
    pointer = openssl.ssl_pointer(client.end)
    assert pointer is not None
    key_update = openssl._libssl.SSL_key_update
    key_update.argtypes, key_update.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.c_int
    assert key_update(pointer, 1) == 1   # SSL_KEY_UPDATE_REQUESTED
    client.send(b"after the update")
    assert tls.recv(65536) == b"after the update"
    tls.send(b"answer")
    assert client.receive(6) == b"answer"
    client.send(b"again")
    assert tls.recv(65536) == b"again"


def test_tls_1_2_works_too(issued):
    tls, client = connected(issued, maximum=ssl.TLSVersion.TLSv1_2)
    assert tls.version() == "TLSv1.2"
    client.send(b"request")
    assert tls.recv(100) == b"request"
    tls.send(b"answer")
    assert client.receive(6) == b"answer"


def test_the_accessors_hotproxy_reads_answer_as_on_gevents_socket(issued):
    tls, client = connected(issued, alpn=["h2", "http/1.1"], server_alpn=["http/1.1"], sni="server.example.com")
    assert isinstance(tls, gevent_ssl.SSLSocket)
    assert tls.version() == "TLSv1.3"
    assert tls.cipher()[1] == "TLSv1.3"
    assert tls.selected_alpn_protocol() == "http/1.1"
    assert tls.getpeercert(binary_form=True) is None
    assert tls.session_reused is False
    group, _signature = openssl.negotiated(tls)
    assert group in ("X25519", "P-256")


def test_the_sni_callback_receives_the_socket_and_may_switch_contexts(issued):
    seen = []
    context = server_context(issued)
    other = server_context(issued)

    def select(sock, name, _context):
        seen.append((sock, name))
        sock.context = other

    context.sni_callback = select
    left, right = socket.socketpair()
    server = gevent.spawn(lambda: _handshaken(context.wrap_socket(right, server_side=True,
                                                                  do_handshake_on_connect=False)))
    client = Client(left, sni="server.example.com")
    while True:
        try:
            client.end.do_handshake()
            break
        except ssl.SSLWantReadError:
            client.flush()
            client.incoming.write(left.recv(65536))
    client.flush()
    tls = server.get(timeout=10)
    assert seen == [(tls, "server.example.com")]
    assert tls.context is other


def test_the_peers_close_notify_reads_as_end_of_stream_every_time(issued):
    tls, client = connected(issued)
    try:
        client.end.unwrap()
    except ssl.SSLWantReadError:
        pass
    client.flush()
    with gevent.Timeout(5):
        assert tls.recv(1024) == b""
        assert tls.recv(1024) == b""   # not a wait for the peer's FIN


def test_a_bare_eof_reads_as_end_of_stream(issued):
    tls, client = connected(issued)
    tls.send(b"answer")
    client.raw.close()
    with gevent.Timeout(5):
        assert tls.recv(1024) == b""


def test_a_bare_eof_raises_when_ragged_eofs_are_not_suppressed(issued):
    tls, client = connected(issued)
    tls.suppress_ragged_eofs = False
    client.raw.shutdown(socket.SHUT_WR)
    with gevent.Timeout(5), pytest.raises(ssl.SSLEOFError):
        tls.recv(1024)


def test_a_corrupt_record_raises_and_the_peer_gets_an_alert(issued):
    tls, client = connected(issued)
    client.end.write(b"request")
    record = bytearray(client.outgoing.read())
    record[-1] ^= 0xFF   # breaks the AEAD tag
    client.raw.sendall(bytes(record))
    with gevent.Timeout(5), pytest.raises(ssl.SSLError):
        tls.recv(1024)
    outcome = client.read_until_closed()
    assert isinstance(outcome, ssl.SSLError) and "BAD_RECORD_MAC" in str(outcome).upper()


def test_a_handshake_with_garbage_fails_and_sends_an_alert(issued):
    left, right = socket.socketpair()
    tls = server_context(issued).wrap_socket(right, server_side=True, do_handshake_on_connect=False)
    left.sendall(b"\x16\x03\x01\x00\x05hello")   # a handshake record holding no ClientHello
    with gevent.Timeout(5), pytest.raises(ssl.SSLError):
        tls.do_handshake()
    assert left.recv(100)[:1] == b"\x15"   # an alert record


def test_unwrap_sends_close_notify_and_returns_the_plain_socket(issued):
    tls, client = connected(issued)
    tls.send(b"last")
    closer = gevent.spawn(tls.unwrap)
    assert client.receive(4) == b"last"
    assert client.read_until_closed() == "close_notify"
    try:
        client.end.unwrap()
    except ssl.SSLWantReadError:
        pass
    client.flush()
    assert closer.get(timeout=5) is tls
    assert tls._sslobj is None


def test_shutdown_drops_tls_and_reads_the_plain_socket_after(issued):
    """What http/downstream.py's close does: SHUT_WR, then read until the client's FIN."""
    tls, client = connected(issued)
    tls.shutdown(socket.SHUT_WR)
    assert client.read_until_closed() == "eof"
    client.raw.close()
    with gevent.Timeout(5):
        assert tls.recv(1024) == b""


def test_two_writers_at_once_never_interleave_records(issued):
    """A writer blocked on a full socket holds part of its records; another greenlet's records
    must go after them, not into the middle (the client would fail to decrypt)."""
    tls, client = connected(issued)
    big = bytes(range(256)) * 8192   # 2 MiB: the socketpair fills, the first writer waits
    first = gevent.spawn(tls.sendall, big)
    gevent.sleep(0.05)
    second = gevent.spawn(tls.sendall, b"second writer")
    gevent.sleep(0.05)
    received = client.receive(len(big) + len(b"second writer"))
    first.get(timeout=5)
    second.get(timeout=5)
    assert sorted(received) == sorted(big + b"second writer")
    assert received.replace(b"second writer", b"", 1) == big
