"""The runtime key ``overload.global_downstream_max_connections``: Envoy's older global connection
limit, still read when no global_downstream_max_connections monitor is configured. Held to Envoy
1.40 on the same config: set in a static layer, raised through the admin layer, unset."""
import time
import urllib.request

from harness import RawClient, http_listener, simple_routes, to_yaml
from test_overload_manager import open_served

KEY = "overload.global_downstream_max_connections"


def config(limit):
    routes = simple_routes({"match": {"prefix": "/"},
                            "direct_response": {"status": 200, "body": {"inline_string": "ok"}}})
    return to_yaml({
        # Envoy counts its admin interface unless told not to; hotproxy's is never counted
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}},
                  "ignore_global_conn_limit": True},
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {KEY: limit}},
                                       {"name": "admin", "admin_layer": {}}]},
        "static_resources": {"listeners": [http_listener("http", "listen", routes)]}})


def eventually_served(port, attempts=50):
    for _ in range(attempts):
        try:
            return open_served(port, 1)
        except (OSError, EOFError):
            time.sleep(0.1)
    raise AssertionError("no place came free")


def modify(peer, query):
    request = urllib.request.Request(f"http://127.0.0.1:{peer.port('admin')}/runtime_modify?{query}",
                                     method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def eventually_counted(peer, name, expected, seconds=5):
    """Envoy counts an overflow on the worker thread that closed it; its admin thread may read
    the counter a moment before."""
    deadline = time.monotonic() + seconds
    while peer.counter(name) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return peer.counter(name)


def test_the_runtime_key_limits_every_listeners_connections_and_follows_the_runtime(peer_factory):
    peer = peer_factory(config(2))
    port = peer.port("listen")
    overflow = f"listener.127.0.0.1_{port}.downstream_global_cx_overflow"
    held = open_served(port, 2)
    assert RawClient(port).is_closed(wait=2)       # accepted by the kernel, closed at once
    assert eventually_counted(peer, overflow, 1) == 1

    modify(peer, f"{KEY}=3")        # Envoy's workers take a runtime change a moment later
    held += eventually_served(port)
    assert RawClient(port).is_closed(wait=2)
    assert eventually_counted(peer, overflow, 2) == 2

    held.pop().close()     # a place given back is free again, once the proxy has seen the close
    held += eventually_served(port)

    modify(peer, f"{KEY}=")     # an empty value takes the key out of the admin layer: 2 again
    assert any(RawClient(port).is_closed(wait=2) for _ in range(10))
    for client in held:
        client.close()
