"""TlsDataSocket, the TLS socket of hotproxy's connections, over a real socketpair in gevent: what
its short paths must keep of gevent's SSLSocket (bytes in order, EOF, waiting when there is
nothing to read) and what read-ahead must not lose (a peer's records OpenSSL read ahead)."""
import ssl

import gevent
import pytest
from certs import CA
from gevent import socket
from gevent import ssl as gevent_ssl

from hotproxy.tls import data_socket, openssl
from hotproxy.tls.data_socket import TlsDataSocket

pytestmark = pytest.mark.skipif(not openssl.available, reason="no ctypes access to this Python's OpenSSL")

_SSL_CTRL_GET_READ_AHEAD = 40


@pytest.fixture(autouse=True)
def lean_mode(monkeypatch):
    """TlsDataSocket is the ``lean`` data path's socket (test_tls_bio_socket.py tests ``bio``)."""
    monkeypatch.setenv(data_socket.DATA_PATH_ENV, "lean")


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    return CA().issue("server", dns=["server.example.com"]).write(tmp_path_factory.mktemp("tls"), "server")


def server_context(issued):
    context = gevent_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*issued)
    data_socket.configure(context, server=True)
    return context


def read_ahead(context):
    return openssl._libssl.SSL_CTX_ctrl(openssl._ssl_ctx(context), _SSL_CTRL_GET_READ_AHEAD, 0, None)


class Client:
    """The peer: an SSLObject over memory BIOs on the other end of the socketpair, so that the
    test decides how its records are cut and sent."""

    def __init__(self, raw):
        self.raw = raw
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.end = context.wrap_bio(self.incoming, self.outgoing)

    def flush(self):
        """Every record written so far, in one write to the socket."""
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
                self.incoming.write(self.raw.recv(262144))
        return bytes(got)


def connected(issued):
    """(hotproxy's server-side TLS socket, the Client) after a completed handshake."""
    left, right = socket.socketpair()
    server = gevent.spawn(server_context(issued).wrap_socket, right, server_side=True)
    client = Client(left)
    while True:
        try:
            client.end.do_handshake()
            break
        except ssl.SSLWantReadError:
            client.flush()
            client.incoming.write(left.recv(65536))
    client.flush()
    return server.get(timeout=10), client


def test_a_server_context_reads_ahead_and_makes_data_sockets(issued):
    context = server_context(issued)
    assert context.sslsocket_class is TlsDataSocket
    assert read_ahead(context) == 1


def test_gevent_in_the_environment_keeps_gevents_socket_and_openssls_reads(issued, monkeypatch):
    monkeypatch.setenv(data_socket.DATA_PATH_ENV, "gevent")
    context = server_context(issued)
    assert context.sslsocket_class is gevent_ssl.SSLSocket
    assert read_ahead(context) == 0


def test_records_read_ahead_are_returned_after_a_send_without_waiting_for_the_socket(issued):
    """Two requests, each a record of its own, in one segment: OpenSSL reads both on the first read.
    After the answer to the first is sent, the second must come from OpenSSL's buffer: a read that
    waited for the descriptor first (it has nothing more to read) would hang."""
    tls, client = connected(issued)
    client.send(b"first request", b"second request")
    assert tls.recv(65536) == b"first request"
    tls.send(b"first answer")
    with gevent.Timeout(5):
        assert tls.recv(65536) == b"second request"
    assert client.receive(len(b"first answer")) == b"first answer"


def test_a_read_with_nothing_to_read_waits_for_the_peer_then_reads(issued):
    tls, client = connected(issued)
    tls.send(b"answer")
    reader = gevent.spawn(tls.recv, 65536)
    gevent.sleep(0.05)
    assert not reader.ready()   # waiting, not failed
    client.send(b"next request")
    assert reader.get(timeout=5) == b"next request"


def test_a_megabyte_arrives_whole_both_ways(issued):
    tls, client = connected(issued)
    payload = bytes(range(256)) * 4096   # 1 MiB: 64 records
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

    def send_all():
        view = memoryview(reply)
        while view:
            view = view[tls.send(view):]

    writer = gevent.spawn(send_all)
    assert client.receive(len(reply)) == reply
    writer.get(timeout=5)


def test_the_peers_close_notify_reads_as_end_of_stream(issued):
    tls, client = connected(issued)
    try:
        client.end.unwrap()
    except ssl.SSLWantReadError:
        pass
    client.flush()
    with gevent.Timeout(5):
        assert tls.recv(1024) == b""


def test_a_bare_eof_reads_as_end_of_stream(issued):
    tls, client = connected(issued)
    tls.send(b"answer")
    client.raw.close()           # no close_notify: a ragged EOF, suppressed as gevent suppresses it
    with gevent.Timeout(5):
        assert tls.recv(1024) == b""
