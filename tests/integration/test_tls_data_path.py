"""The TLS data path of a worker (hotproxy/tls/data_socket.py: its own TLS socket, OpenSSL's
read-ahead on downstream connections; or hotproxy/tls/bio_socket.py; or gevent's, as
``HOTPROXY_TLS_DATA_PATH`` chooses) through real processes: requests in records read ahead, large bodies both ways on one
keep-alive connection, and a pooled TLS upstream."""
import socket
import ssl

import pytest
from certs import CA

from harness import RawClient, http_listener, simple_routes, static_cluster, to_yaml
from tls_harness import TlsUpstream, downstream_tls, upstream_tls

from hotproxy.tls.data_socket import DATA_PATH_ENV

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
ROUTES = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture(params=["lean", "bio", "gevent"])
def data_path(request, monkeypatch):
    """The proxy started by the test inherits the switch."""
    monkeypatch.setenv(DATA_PATH_ENV, request.param)
    return request.param


def tls_listener_config(ca, upstream_port, cluster_extra=None):
    listener = http_listener("edge", "listen", ROUTES)
    listener["filter_chains"][0]["transport_socket"] = downstream_tls(ca.issue("edge", dns=["edge.example.com"]))
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [static_cluster("backend", upstream_port, extra=cluster_extra)]}})


class RecordSocket:
    """A TLS client whose records the test cuts: ``sendall`` writes one record per call, ``send_records``
    several records in one segment (what a client pipelining small writes sends)."""

    def __init__(self, port):
        self.raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.end = context.wrap_bio(self.incoming, self.outgoing, server_hostname="edge.example.com")
        while True:
            try:
                self.end.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self.incoming.write(self.raw.recv(65536))
        self._flush()

    def _flush(self):
        if self.outgoing.pending:
            self.raw.sendall(self.outgoing.read())

    def send_records(self, *messages):
        for message in messages:
            self.end.write(message)
        self._flush()

    def sendall(self, data):
        self.send_records(data)

    def recv(self, size):
        while True:
            try:
                return self.end.read(size)
            except ssl.SSLWantReadError:
                data = self.raw.recv(262144)
                if not data:
                    return b""
                self.incoming.write(data)
            except ssl.SSLEOFError:
                return b""

    def close(self):
        self.raw.close()


def tls_raw_client(port):
    client = RawClient.__new__(RawClient)
    client.sock, client.buffer = RecordSocket(port), b""
    return client


def request(path, host="edge.example.com", body=None):
    head = f"{'POST' if body is not None else 'GET'} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if body is not None:
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + (body or b"")


def test_pipelined_requests_in_records_of_their_own_are_all_answered(proxy_factory, upstream, ca, data_path):
    """Three requests, each in a TLS record of its own, in one TCP segment: with read-ahead the
    worker's first read takes all three records from the socket, and the second and third must be
    read from OpenSSL's buffer after the first answer is sent, not waited for on the socket."""
    proxy = proxy_factory(tls_listener_config(ca, upstream.port), extra_args=["--concurrency", "1"])
    client = tls_raw_client(proxy.port("listen"))
    client.sock.send_records(request("/echo/1"), request("/echo/2"), request("/echo/3"))
    paths = [client.read_response().json()["path"] for _ in range(3)]
    assert paths == ["/echo/1", "/echo/2", "/echo/3"]
    assert client.request(path="/echo/4", headers=(("Host", "edge.example.com"),)).status == 200
    client.close()


def test_megabyte_bodies_both_ways_on_one_keep_alive_connection(proxy_factory, upstream, ca, data_path):
    proxy = proxy_factory(tls_listener_config(ca, upstream.port), extra_args=["--concurrency", "1"])
    client = tls_raw_client(proxy.port("listen"))
    upload = bytes(range(256)) * 4096
    for _ in range(3):
        drained = client.request("POST", "/drain", (("Host", "edge.example.com"),), upload).json()
        assert drained == {"length": len(upload), "digest": sum(upload[::4096]) % (1 << 32)}
        response = client.request(path="/bytes/1048576", headers=(("Host", "edge.example.com"),))
        assert response.status == 200 and response.body == b"x" * 1048576
    assert len(upstream.connections) <= 2   # pooled: no connection per request
    client.close()


def test_a_tls_upstream_serves_keep_alive_requests_on_one_pooled_connection(
        proxy_factory, tmp_path, ca, data_path):
    server = TlsUpstream(ca.issue("up", dns=["up.example.com"]), tmp_path=tmp_path)
    try:
        proxy = proxy_factory(tls_listener_config(ca, server.port, {"transport_socket": upstream_tls(ca)}),
                              extra_args=["--concurrency", "1"])
        client = tls_raw_client(proxy.port("listen"))
        for index in range(5):
            response = client.request(path=f"/echo/{index}", headers=(("Host", "edge.example.com"),))
            assert response.status == 200 and response.json()["path"] == f"/echo/{index}"
        big = client.request(path="/bytes/300000", headers=(("Host", "edge.example.com"),))
        assert big.status == 200 and big.body == b"x" * 300000
        assert server.handshakes == 1   # every request rode the one pooled TLS connection
        client.close()
    finally:
        server.stop()
