"""STRICT_DNS resolution runs once per refresh in the arbiter, whatever the number of workers,
and its hosts reach every worker; hosts that stay keep their pools. Names are answered by the
test-only resolver hook (HOTPROXY_TEST_RESOLVER, upstream/discovery/dns.py)."""
import json
import threading
import time
from http.server import ThreadingHTTPServer

import pytest

from harness import RawClient, UpstreamHandler, admin_stats, free_port, http_listener, simple_routes, to_yaml


class RecordingHandler(UpstreamHandler):
    def _handle(self):
        self.server.seen.append((self.connection.getsockname()[0], self.client_address[1]))
        return super()._handle()

    do_GET = _handle


@pytest.fixture
def upstream():
    port = free_port()
    server = ThreadingHTTPServer(("0.0.0.0", port), RecordingHandler)
    server.daemon_threads = True
    server.requests, server.connections, server.seen = [], set(), []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def config(port):
    cluster = {"name": "svc", "connect_timeout": "1s", "type": "STRICT_DNS", "dns_refresh_rate": "0.3s",
               "load_assignment": {"cluster_name": "svc", "endpoints": [{"lb_endpoints": [
                   {"endpoint": {"address": {"socket_address": {"address": "svc.test", "port_value": port}}}}]}]}}
    route = {"match": {"prefix": "/"}, "route": {"cluster": "svc"}}
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [http_listener("http", "listen", simple_routes(route))],
                                         "clusters": [cluster]}})


def answer(path, *ips):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"svc.test": list(ips)}))
    tmp.rename(path)


def served_by(proxy, server, count):
    """``count`` requests, each on a new downstream connection (so both workers serve); the
    (upstream local ip, proxy's source port) of each."""
    start = len(server.seen)
    for _ in range(count):
        client = RawClient(proxy.port("listen"))
        assert client.request("GET", "/work").status == 200
        client.close()
    return server.seen[start:]


def wait_until(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_resolution_runs_in_the_arbiter_and_reaches_every_worker(proxy_factory, upstream, tmp_path,
                                                                  monkeypatch):
    answers = tmp_path / "answers.json"
    answer(answers, "127.0.0.1")
    monkeypatch.setenv("HOTPROXY_TEST_RESOLVER", str(answers))
    port = upstream.server_address[1]
    proxy = proxy_factory(config(port), extra_args=["--concurrency", "2"])

    first = served_by(proxy, upstream, 20)
    assert {ip for ip, _ in first} == {"127.0.0.1"}
    kept_ports = {source for _, source in first}
    assert len(kept_ports) <= 2            # one warm connection per worker (sequential requests)

    answer(answers, "127.0.0.1", "127.0.0.2")
    wait_until(lambda: "127.0.0.2" in {ip for ip, _ in served_by(proxy, upstream, 4)})
    both = served_by(proxy, upstream, 20)
    to_first = {source for ip, source in both if ip == "127.0.0.1"}
    assert to_first and len(kept_ports | to_first) <= 2      # the staying host kept its pools
    if len(kept_ports) == 2:
        assert to_first <= kept_ports

    answer(answers, "127.0.0.2")
    wait_until(lambda: {ip for ip, _ in served_by(proxy, upstream, 4)} == {"127.0.0.2"})
    assert {ip for ip, _ in served_by(proxy, upstream, 30)} == {"127.0.0.2"}   # every worker

    log = answers.parent / (answers.name + ".log")
    resolving = log.read_text().split()
    assert set(resolving) == {str(proxy.process.pid)}          # the arbiter only
    for _ in range(100):    # resolution goes on: read the stats between two attempts
        stats = admin_stats(proxy.port("admin"), r"^cluster\.svc\.(update|membership_change)")
        if stats["cluster.svc.update_success"] == stats["cluster.svc.update_attempt"]:
            break
        time.sleep(0.02)
    resolved_after = log.read_text().split()
    assert stats["cluster.svc.update_attempt"] >= len(resolving) - 1   # one resolution per attempt
    assert stats["cluster.svc.update_attempt"] <= len(resolved_after)
    assert stats["cluster.svc.membership_change"] == 3
    assert stats["cluster.svc.update_success"] == stats["cluster.svc.update_attempt"]
    assert stats["cluster.svc.update_no_rebuild"] == stats["cluster.svc.update_attempt"] - 3


def test_a_reload_keeps_the_resolver_of_an_unchanged_cluster_and_replaces_a_changed_one(
        proxy_factory, upstream, tmp_path, monkeypatch):
    from harness import reload, rewrite
    answers = tmp_path / "answers.json"
    answer(answers, "127.0.0.1")
    monkeypatch.setenv("HOTPROXY_TEST_RESOLVER", str(answers))
    port = upstream.server_address[1]
    text = config(port)
    proxy = proxy_factory(text, extra_args=["--concurrency", "2"])
    changes = lambda: admin_stats(proxy.port("admin"), r"^cluster\.svc\.membership_change$")[
        "cluster.svc.membership_change"]
    assert changes() == 1
    rewrite(proxy, text.replace('"prefix": "/"', '"prefix": "/w"'))
    reload(proxy, 1)
    assert {ip for ip, _ in served_by(proxy, upstream, 6)} == {"127.0.0.1"}   # hosts before serving
    assert changes() == 1               # the same resolver: no new first resolution
    rewrite(proxy, text.replace("0.3s", "0.4s"))
    reload(proxy, 2)
    assert {ip for ip, _ in served_by(proxy, upstream, 6)} == {"127.0.0.1"}
    assert changes() == 2               # a new resolver for the new discovery settings
