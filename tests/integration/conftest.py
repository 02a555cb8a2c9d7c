"""Fixtures for integration tests (see harness.py for what they start)."""
import pytest

from harness import Proxy, RawClient, Upstream, render, wait_for_port


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
