"""h2 clients that reset a stream in the same write as its HEADERS (h2load's timed runs end that
way, and rapid reset does it on purpose): hotproxy reads both before the stream's greenlet has
started, so it never runs. The stream must still leave its connection, quietly: nothing printed
as a failure, later streams served, and the connection closed once idle as any other."""
import socket

from h2_client import H2Client
from harness import http_listener, simple_routes, to_yaml

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
RESETS = 20


def config():
    route = {"match": {"prefix": "/"},
             "direct_response": {"status": 200, "body": {"inline_string": "here"}}}
    return to_yaml({"admin": ADMIN, "static_resources": {"listeners": [http_listener(
        "http", "listen", simple_routes(route),
        {"codec_type": "AUTO", "common_http_protocol_options": {"idle_timeout": "1s"}})]}})


def headers_and_reset(client):
    conn = client.conn
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(stream_id, [(b":method", b"GET"), (b":scheme", b"http"),
                                  (b":authority", b"test"), (b":path", b"/")], end_stream=True)
    conn.reset_stream(stream_id, 0x8)
    client._flush()


def ended_by_the_proxy(client):
    """True when the proxy closes the connection (a GOAWAY, or its end) before our read gives up."""
    client.sock.settimeout(8)
    try:
        while client.goaway is None:
            data = client.sock.recv(65536)
            if not data:
                break
            for event in client.conn.receive_data(data):
                client._on(event)
    except socket.timeout:
        return False
    return True


def test_streams_reset_before_they_started_leave_quietly(proxy_factory):
    proxy = proxy_factory(config())
    client = H2Client(proxy.port("listen"))
    try:
        for _ in range(RESETS):
            headers_and_reset(client)
        response = client.request("GET", "/")
        assert (response.status, response.body) == (200, b"here")
        # no stream left open on it: the idle timeout (1 s) closes it
        assert ended_by_the_proxy(client), "the connection outlived its idle timeout"
    finally:
        client.close()
    assert "StreamAborted" not in proxy.log()
