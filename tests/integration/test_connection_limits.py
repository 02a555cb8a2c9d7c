"""common_http_protocol_options' connection limits, HTTP/1.1 and HTTP/2, held to Envoy 1.40 (the
same config and requests against both proxies): max_requests_per_connection and
max_connection_duration drain a connection and count it."""
import socket
import time

from h2_client import H2Client
from harness import to_yaml

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def limits_config(**options):
    hcm = {"@type": HCM_TYPE, "stat_prefix": "limits", "http_filters": [ROUTER],
           "common_http_protocol_options": options, "drain_timeout": "0.5s",
           "route_config": {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
               {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]}]}}
    listener = {"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [listener]}})


def get(sock):
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    received = b""
    while not received.endswith(b"ok"):
        data = sock.recv(4096)
        if not data:
            break
        received += data
    return received


def test_http1_the_last_allowed_request_is_answered_with_connection_close(peer_factory):
    peer = peer_factory(limits_config(max_requests_per_connection=2))
    with socket.create_connection(("127.0.0.1", peer.port("listen")), timeout=5) as sock:
        first, second = get(sock), get(sock)
        assert b"connection: close" not in first
        assert second.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in second
    assert peer.counter("http.limits.downstream_cx_max_requests_reached") == 1


def test_h2_the_connection_says_goaway_after_its_last_allowed_stream(peer_factory):
    peer = peer_factory(limits_config(max_requests_per_connection=2))
    client = H2Client(peer.port("listen"))
    try:
        assert client.request("GET", "/").status == 200 and client.goaway is None
        assert client.request("GET", "/").status == 200
        client.read_until(lambda: client.goaway is not None)
        assert client.goaway == (2**31 - 1, 0)   # the first of a drain's two GOAWAYs
    finally:
        client.close()
    assert peer.counter("http.limits.downstream_cx_max_requests_reached") == 1


def test_an_old_connection_drains(peer_factory):
    peer = peer_factory(limits_config(max_connection_duration="0.5s"))
    client = H2Client(peer.port("listen"))
    try:
        assert client.request("GET", "/").status == 200
        started = time.monotonic()
        client.read_until(lambda: client.goaway is not None)
        assert client.goaway is not None and time.monotonic() - started < 3
    finally:
        client.close()
    with socket.create_connection(("127.0.0.1", peer.port("listen")), timeout=10) as sock:
        assert get(sock).startswith(b"HTTP/1.1 200 OK")
        sock.settimeout(10)
        assert sock.recv(10) == b""     # closed while idle, past its time (and the drain)
    assert peer.counter("http.limits.downstream_cx_max_duration_reached") == 2
