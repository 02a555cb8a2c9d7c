"""Route priority HIGH through real processes, beside Envoy 1.40 on the same config: the HIGH
thresholds give the circuit_breakers.high.* gauges Envoy gives, and a HIGH route keeps being
served while the DEFAULT priority is at its max_requests (its own breakers and pools)."""
import threading
import time


from harness import ScriptedUpstream, RawClient, admin_stats, http_listener, simple_routes, static_cluster, to_yaml

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
THRESHOLDS = [{"max_requests": 1, "max_pending_requests": 1, "track_remaining": True},
              {"priority": "HIGH", "max_requests": 3, "max_connections": 7, "track_remaining": True}]


class SlowOrFast:
    """Keep-alive HTTP/1.1 upstream: ``/…slow`` is answered once ``release`` is set, the rest at once."""

    def __init__(self):
        self.release = threading.Event()
        self.upstream = ScriptedUpstream(self._serve)
        self.port = self.upstream.port

    def _serve(self, upstream, conn):
        while True:
            request = upstream.read_request(conn)
            if not request:
                return
            if b"slow" in request.split(b"\r\n", 1)[0]:
                self.release.wait(20)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


def config(port):
    routes = simple_routes({"match": {"prefix": "/high"}, "route": {"cluster": "backend", "priority": "HIGH"}},
                           {"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", routes)],
        "clusters": [static_cluster("backend", port, extra={"circuit_breakers": {"thresholds": THRESHOLDS}})]}})


def test_the_high_gauges_are_envoys(peer_factory):
    upstream = SlowOrFast()
    peer = peer_factory(config(upstream.port))
    stats = admin_stats(peer.port("admin"), "^cluster.backend.circuit_breakers.high.")
    assert stats == {f"cluster.backend.circuit_breakers.high.{name}": value for name, value in (
        ("cx_open", 0), ("cx_pool_open", 0), ("rq_open", 0), ("rq_pending_open", 0), ("rq_retry_open", 0),
        ("remaining_cx", 7), ("remaining_cx_pools", 2**64 - 1), ("remaining_pending", 1024),
        ("remaining_retries", 3), ("remaining_rq", 3))}
    upstream.release.set()


def test_a_high_route_is_served_while_default_is_at_its_limit(peer_factory):
    upstream = SlowOrFast()
    peer = peer_factory(config(upstream.port))
    held = []
    holder = threading.Thread(target=lambda: held.append(RawClient(peer.port("listen")).request(path="/slow")))
    holder.start()
    try:
        deadline = time.monotonic() + 10
        while peer.counter("cluster.backend.circuit_breakers.default.rq_open") != 1:
            assert time.monotonic() < deadline, "the slow request never held its place"
            time.sleep(0.05)
        refused = RawClient(peer.port("listen")).request(path="/fast")
        assert refused.status == 503
        assert ("x-envoy-overloaded", "true") in refused.headers
        served = RawClient(peer.port("listen")).request(path="/high/fast")
        assert (served.status, served.body) == (200, b"ok")
        assert peer.counter("cluster.backend.upstream_rq_active_overflow") == 1
        assert peer.counter("cluster.backend.circuit_breakers.high.remaining_rq") == 3
    finally:
        upstream.release.set()
        holder.join(15)
    assert held and held[0].status == 200
