"""WebSocket through a real hotproxy (upgrade_configs): a real client and server (the
``websockets`` package), the 101 as Envoy 1.40 relays it, refusals, stats and reloads."""
import asyncio
import socket
import threading

import pytest

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402
from websockets.sync.server import serve  # noqa: E402

from harness import (admin_stats, http_listener, reload, rewrite, simple_routes, static_cluster,  # noqa: E402
                     to_yaml)

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
HANDSHAKE = (b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


@pytest.fixture
def echo_server():
    def echo(ws):
        for message in ws:
            ws.send(message)
    server = serve(echo, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.socket.getsockname()[1]
    server.shutdown()


def ws_config(upstream_port, upgrades=({"upgrade_type": "websocket"},), route_upgrades=None, tag="A"):
    off = {"match": {"prefix": "/off"}, "route": {"cluster": "ws", "upgrade_configs": [
        {"upgrade_type": "WebSocket", "enabled": False}]}}
    main = {"match": {"prefix": "/"}, "route": {"cluster": "ws"},
            "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]}
    if route_upgrades is not None:
        main["route"]["upgrade_configs"] = route_upgrades
    hcm = {"upgrade_configs": list(upgrades)} if upgrades else {}
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", simple_routes(off, main), hcm)],
        "clusters": [static_cluster("ws", upstream_port)]}})


def raw_handshake(port, path=b"/chat"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(HANDSHAKE.replace(b"/chat", path))
        return sock.recv(4096)


def test_messages_both_ways_and_the_stats(proxy_factory, echo_server):
    proxy = proxy_factory(ws_config(echo_server))
    with connect(f"ws://127.0.0.1:{proxy.port('listen')}/chat") as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        big = bytes(range(256)) * 1000
        ws.send(big)
        assert ws.recv(timeout=5) == big
        stats = admin_stats(proxy.port("admin"), "upgrades")
        assert stats["http.ingress_http.downstream_cx_upgrades_total"] == 1
        assert stats["http.ingress_http.downstream_cx_upgrades_active"] == 1
    for _ in range(50):
        stats = admin_stats(proxy.port("admin"), "upgrades")
        if stats["http.ingress_http.downstream_cx_upgrades_active"] == 0:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert stats["http.ingress_http.downstream_cx_upgrades_active"] == 0


def test_the_101_is_relayed_as_envoy_relays_it(peer_factory, echo_server):
    peer = peer_factory(ws_config(echo_server))
    head = raw_handshake(peer.port("listen"))
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 101 Switching Protocols"
    names = [line.split(b":")[0] for line in lines[1:] if line]
    assert names == [b"date", b"upgrade", b"connection", b"sec-websocket-accept", b"server",
                     b"x-config"]     # the route's response_headers_to_add apply to a 101 too
    assert b"server: envoy" in lines


@pytest.mark.parametrize("upgrades, path", [((), b"/chat"), (({"upgrade_type": "websocket"},), b"/off"),
                                            (({"upgrade_type": "websocket", "enabled": False},), b"/chat"),
                                            (({"upgrade_type": "h2c"},), b"/chat")])
def test_upgrades_not_configured_for_the_route_are_forbidden(peer_factory, echo_server, upgrades, path):
    peer = peer_factory(ws_config(echo_server, upgrades))
    assert raw_handshake(peer.port("listen"), path).startswith(b"HTTP/1.1 403 Forbidden\r\n")


def test_a_route_may_turn_on_what_the_connection_manager_has_off(proxy_factory, echo_server):
    proxy = proxy_factory(ws_config(echo_server, ({"upgrade_type": "websocket", "enabled": False},),
                                    route_upgrades=[{"upgrade_type": "websocket", "enabled": True}]))
    assert raw_handshake(proxy.port("listen")).startswith(b"HTTP/1.1 101 ")


def test_an_upstream_refusing_the_upgrade_is_relayed_and_the_connection_closes(proxy_factory, upstream):
    proxy = proxy_factory(ws_config(upstream.port))     # a plain HTTP server: no 101
    with socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=5) as sock:
        sock.sendall(HANDSHAKE.replace(b"/chat", b"/status/404"))
        received = b""
        while True:
            data = sock.recv(4096)
            if not data:
                break
            received += data
    assert received.startswith(b"HTTP/1.1 404 ")
    assert received.endswith(b"status 404") and b"connection: close" in received


def test_an_open_websocket_stays_on_its_generation_across_a_reload(proxy_factory, echo_server):
    proxy = proxy_factory(ws_config(echo_server), extra_args=["--concurrency", "1"])
    with connect(f"ws://127.0.0.1:{proxy.port('listen')}/chat") as ws:
        ws.send("before")
        assert ws.recv(timeout=5) == "before"
        rewrite(proxy, ws_config(echo_server, tag="B"))
        reload(proxy, 1)
        for n in range(5):
            ws.send(f"after {n}")
            assert ws.recv(timeout=5) == f"after {n}"
    with connect(f"ws://127.0.0.1:{proxy.port('listen')}/chat") as fresh:
        fresh.send("new")
        assert fresh.recv(timeout=5) == "new"
