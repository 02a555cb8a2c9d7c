"""slow_start_config through real processes: a host that turns healthy starts with a small share
of the requests (min_weight_percent of its weight) and reaches its full share when the window
is over."""
import threading
import time
import urllib.request
import json
from http.server import ThreadingHTTPServer

from harness import RawClient, UpstreamHandler, free_port, http_listener, simple_routes, to_yaml

WINDOW_S = 6


class PortUpstream:
    """harness's upstream, on a port chosen before it listens."""

    def __init__(self, port):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), UpstreamHandler)
        self.server.daemon_threads = True
        self.server.requests = []
        self.server.connections = set()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def served(self):
        return sum(1 for record in self.server.requests if record["path"] == "/work")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def config(ports):
    cluster = {"name": "backend", "connect_timeout": "1s",
               "round_robin_lb_config": {"slow_start_config": {
                   "slow_start_window": f"{WINDOW_S}s", "min_weight_percent": {"value": 10}}},
               "health_checks": [{"timeout": "1s", "interval": "0.2s", "no_traffic_interval": "0.2s",
                                  "unhealthy_threshold": 1, "healthy_threshold": 1,
                                  "http_health_check": {"path": "/hc"}}],
               "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": [
                   {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                   for port in ports]}]}}
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [http_listener("http", "listen", simple_routes(route))],
                                         "clusters": [cluster]}})


def healthy_ports(proxy):
    url = f"http://127.0.0.1:{proxy.port('admin')}/clusters?format=json"
    with urllib.request.urlopen(url, timeout=10) as response:
        statuses = json.load(response)["cluster_statuses"]
    return {h["address"]["socket_address"]["port_value"] for s in statuses for h in s["host_statuses"]
            if not h["health_status"].get("failed_active_health_check")}


def wait_until(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def share_of(new, old, port, count):
    before_new, before_old = new.served(), old.served()
    client = RawClient(port)
    for _ in range(count):
        assert client.request("GET", "/work").status == 200
    client.close()
    gained_new, gained_old = new.served() - before_new, old.served() - before_old
    assert gained_new + gained_old == count
    return gained_new / count


def test_a_newly_healthy_host_share_grows_over_the_window(proxy_factory):
    old_port, new_port = free_port(), free_port()
    old = PortUpstream(old_port)
    new = None
    try:
        proxy = proxy_factory(config([old_port, new_port]), extra_args=["--concurrency", "1"])
        wait_until(lambda: healthy_ports(proxy) == {old_port})
        time.sleep(WINDOW_S + 0.5)          # the old host's own slow start is over
        new = PortUpstream(new_port)
        wait_until(lambda: new_port in healthy_ports(proxy))
        # within the first second or two the new host's factor is at most ~0.3 (10% at first)
        early = share_of(new, old, proxy.port("listen"), 40)
        assert early < 0.25, early
        time.sleep(WINDOW_S + 0.5)
        late = share_of(new, old, proxy.port("listen"), 40)
        assert 0.4 <= late <= 0.6, late
        assert late > early
    finally:
        old.stop()
        if new is not None:
            new.stop()
