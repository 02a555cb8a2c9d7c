"""The overload manager and the connection_limit filter through real processes: limits that hold
across two workers, each action with a resource over its limit, a reload that lifts it, and the
replies and stat names held to Envoy 1.40's (peer_factory)."""
import os
import signal
import socket
import time

import psutil
import pytest

from harness import (TCP_PROXY_TYPE, RawClient, admin_counter, http_listener, render, simple_routes, static_cluster,
                     to_yaml)

HEAP = "envoy.resource_monitors.fixed_heap"
CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections"
HEAP_TYPE = "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig"
CONNECTIONS_TYPE = ("type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3"
                    ".DownstreamConnectionsConfig")
LIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit"
ACTION = "envoy.overload_actions."
TWO_WORKERS = ["--concurrency", "2"]
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}


def heap_monitor(max_bytes):
    return {"name": HEAP, "typed_config": {"@type": HEAP_TYPE, "max_heap_size_bytes": max_bytes}}


def connections_monitor(maximum):
    return {"name": CONNECTIONS,
            "typed_config": {"@type": CONNECTIONS_TYPE, "max_active_downstream_connections": maximum}}


def overload(monitors, actions, **extra):
    """``actions``: ``{action suffix: trigger}``."""
    return {"refresh_interval": "0.1s", "resource_monitors": monitors,
            "actions": [{"name": ACTION + name, "triggers": [trigger]} for name, trigger in actions.items()],
            **extra}


def on_heap(value=0.5):
    return {"name": HEAP, "threshold": {"value": value}}


def config(upstream_port, overload_manager=None, limit=None):
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    listener = http_listener("http", "listen", routes)
    if limit is not None:
        listener["filter_chains"][0]["filters"].insert(0, {"name": "envoy.filters.network.connection_limit",
                                                           "typed_config": {"@type": LIMIT_TYPE, **limit}})
    tree = {"admin": ADMIN,
            "static_resources": {"listeners": [listener], "clusters": [static_cluster("backend", upstream_port)]}}
    if overload_manager is not None:
        tree["overload_manager"] = overload_manager
    return to_yaml(tree)


def stat(proxy, name):
    """A stat from the admin interface; None while it does not exist yet."""
    return admin_counter(proxy.port("admin"), name, missing=None)


def eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def get(port):
    client = RawClient(port, timeout=5)
    try:
        return client.request()
    finally:
        client.close()


def status(port):
    """The status of a GET on a new connection; None when it was closed without one."""
    try:
        return get(port).status
    except (OSError, EOFError):
        return None


def reload_with(proxy, config_text, reloads=1):
    text, _ = render(config_text, proxy.ports)
    tmp = proxy.config_path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, proxy.config_path)
    proxy.process.send_signal(signal.SIGHUP)
    assert eventually(lambda: proxy.log().count("serving (") >= reloads, 20), proxy.log()[-3000:]


def served_per_worker(proxy):
    """How many established connections each worker holds on the listener."""
    port = proxy.port("listen")
    counts = []
    for child in psutil.Process(proxy.process.pid).children():
        if "worker" in " ".join(child.cmdline()):
            counts.append(sum(1 for c in child.net_connections("tcp")
                              if c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED))
    return counts


def open_served(port, count):
    clients = [RawClient(port) for _ in range(count)]
    for client in clients:
        assert client.request().status == 200
    return clients


def all_served(port, count):
    """Whether ``count`` connections held at once all get a 200."""
    try:
        clients = open_served(port, count)
    except (OSError, EOFError):
        return False
    for client in clients:
        client.close()
    return True


def test_global_connection_limit_holds_across_workers(proxy_factory, upstream):
    proxy = proxy_factory(config(upstream.port, overload([connections_monitor(3)], {})),
                          extra_args=TWO_WORKERS)
    port = proxy.port("listen")
    for _attempt in range(20):  # until both workers hold some of the three
        held = open_served(port, 3)
        if min(served_per_worker(proxy)) > 0:
            break
        for client in held:
            client.close()
        eventually(lambda: stat(proxy, f"listener.127.0.0.1_{port}.downstream_cx_active") == 0)
    else:
        pytest.skip("the kernel gave every connection to one worker twenty times")
    over = RawClient(port)
    assert over.is_closed(wait=2)  # accepted by the kernel, closed at once
    prefix = f"listener.127.0.0.1_{port}."
    assert stat(proxy, prefix + "downstream_global_cx_overflow") == 1
    assert stat(proxy, f"overload.{CONNECTIONS}.failed_updates") == 1
    held[0].close()
    assert eventually(lambda: status(port) == 200)
    assert eventually(lambda: stat(proxy, f"overload.{CONNECTIONS}.pressure") == 66)  # 2 of 3 now
    for client in held[1:]:
        client.close()


def test_a_dead_workers_connections_stop_counting(proxy_factory, upstream):
    proxy = proxy_factory(config(upstream.port, overload([connections_monitor(2)], {})), extra_args=TWO_WORKERS)
    port = proxy.port("listen")
    held = open_served(port, 2)
    for child in psutil.Process(proxy.process.pid).children():
        if "worker" in " ".join(child.cmdline()) and any(
                c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED for c in child.net_connections("tcp")):
            child.kill()  # no chance to give its places back: the arbiter clears them
    for client in held:
        assert client.is_closed(wait=5)
    assert eventually(lambda: all_served(port, 2))


def test_a_draining_generation_counts_against_the_next(proxy_factory, upstream):
    """A request in flight through a reload finishes on the old generation; its connection still
    counts, so the new generation admits one more connection, not two."""
    limited = config(upstream.port, overload([connections_monitor(2)], {}))
    proxy = proxy_factory(limited)
    port = proxy.port("listen")
    in_flight = RawClient(port)
    in_flight.send(b"GET /sleep/3000 HTTP/1.1\r\nHost: test\r\n\r\n")
    time.sleep(0.3)
    reload_with(proxy, limited)
    second = open_served(port, 1)
    assert RawClient(port).is_closed(wait=2)
    assert in_flight.read_response().status == 200
    assert stat(proxy, f"listener.127.0.0.1_{port}.downstream_global_cx_overflow") == 1
    second[0].close()


def test_connection_limit_closes_the_one_over_after_its_delay(proxy_factory, upstream):
    limit = {"stat_prefix": "cl", "max_connections": 2, "delay": "0.5s"}
    proxy = proxy_factory(config(upstream.port, limit=limit), extra_args=TWO_WORKERS)
    port = proxy.port("listen")
    before = stat(proxy, "http.ingress_http.downstream_cx_total")  # the harness's probes
    held = open_served(port, 2)
    over = RawClient(port)
    started = time.monotonic()
    over.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    assert over.is_closed(wait=3)
    assert time.monotonic() - started >= 0.45 and over.buffer == b""  # no answer, only the close
    assert stat(proxy, "connection_limit.cl.limited_connections") == 1
    assert stat(proxy, "connection_limit.cl.active_connections") == 2
    assert stat(proxy, "http.ingress_http.downstream_cx_total") == before + 3  # Envoy's manager saw it
    held[0].close()
    assert eventually(lambda: status(port) == 200)
    held[1].close()


def test_fixed_heap_over_its_limit_stops_requests_until_a_reload_raises_it(proxy_factory, upstream):
    stopping = overload([heap_monitor(1000)], {"stop_accepting_requests": on_heap(0.95)})
    proxy = proxy_factory(config(upstream.port, stopping), extra_args=TWO_WORKERS)
    port = proxy.port("listen")
    response = eventually(lambda: (lambda r: r if r.status == 503 else None)(get(port)))
    assert response.body == b"envoy overloaded"
    assert response.header_names() == ["content-length", "content-type", "date", "server"]
    assert stat(proxy, "http.ingress_http.downstream_rq_overload_close") >= 1
    assert eventually(lambda: stat(proxy, f"overload.{ACTION}stop_accepting_requests.active") == 1)
    assert stat(proxy, f"overload.{HEAP}.pressure") > 100
    relaxed = overload([heap_monitor(1 << 50)], {"stop_accepting_requests": on_heap(0.95)})
    reload_with(proxy, config(upstream.port, relaxed))
    assert all(get(port).status == 200 for _ in range(6))
    assert eventually(lambda: stat(proxy, f"overload.{ACTION}stop_accepting_requests.active") == 0)


def test_disable_http_keepalive_makes_each_response_the_last(proxy_factory, upstream):
    closing = overload([heap_monitor(1000)], {"disable_http_keepalive": on_heap()})
    proxy = proxy_factory(config(upstream.port, closing), extra_args=TWO_WORKERS)
    port = proxy.port("listen")

    def closed_after_response():
        client = RawClient(port)
        response = client.request()
        return client if response.header("connection") == "close" else None

    client = eventually(closed_after_response)
    assert client and client.is_closed(wait=2)
    assert stat(proxy, "http.ingress_http.downstream_cx_overload_disable_keepalive") >= 1


def test_reject_incoming_connections_closes_new_ones_at_once(proxy_factory, upstream):
    rejecting = overload([heap_monitor(1000)], {"reject_incoming_connections": on_heap()})
    proxy = proxy_factory(config(upstream.port, rejecting), extra_args=TWO_WORKERS)
    port = proxy.port("listen")
    assert eventually(lambda: RawClient(port).is_closed(wait=1))
    prefix = f"listener.127.0.0.1_{port}."
    assert stat(proxy, prefix + "downstream_cx_overload_reject") >= 1
    assert stat(proxy, prefix + "downstream_cx_total") == stat(proxy, prefix + "downstream_cx_destroy")


def test_stop_accepting_connections_leaves_them_in_the_backlog(proxy_factory, upstream):
    paused = overload([heap_monitor(1000)], {"stop_accepting_connections": on_heap()})
    proxy = proxy_factory(config(upstream.port, paused), extra_args=TWO_WORKERS)
    port = proxy.port("listen")
    assert eventually(lambda: stat(proxy, f"overload.{ACTION}stop_accepting_connections.active") == 1)
    time.sleep(0.3)  # both workers have the state
    waiting = RawClient(port)  # the kernel completes the handshake; nobody accepts it
    waiting.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    waiting.sock.settimeout(1.0)
    with pytest.raises(socket.timeout):
        waiting.sock.recv(1)
    waiting.sock.settimeout(10.0)
    reload_with(proxy, config(upstream.port, overload([heap_monitor(1 << 50)],
                                                      {"stop_accepting_connections": on_heap()})))
    assert waiting.read_response().status == 200  # served from the backlog by the next generation


def test_reset_high_memory_stream_resets_the_stream_holding_the_most(proxy_factory, upstream):
    """A client that does not read a large response leaves its stream holding a full read of
    it. A second connection takes the connection count to its limit: the action saturates and
    that stream is reset."""
    resetting = overload([connections_monitor(2)],
                         {"reset_high_memory_stream": {"name": CONNECTIONS, "threshold": {"value": 1.0}}},
                         buffer_factory_config={"minimum_account_to_track_power_of_two": 10})
    proxy = proxy_factory(config(upstream.port, resetting))
    port = proxy.port("listen")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", port))
    slow.sendall(b"GET /bytes/400000000 HTTP/1.1\r\nHost: test\r\n\r\n")
    time.sleep(1.0)  # the kernel buffers fill; the relay waits with a read in hand
    second = RawClient(port)
    assert eventually(lambda: stat(proxy, f"{ACTION}reset_high_memory_stream.count") == 1)
    slow.settimeout(10)
    received = 0
    while True:
        data = slow.recv(1 << 20)
        if not data:
            break
        received += len(data)
    slow.close()
    assert received < 400000000
    assert second.request().status == 200


OVERLOADED = to_yaml({
    "admin": ADMIN,
    "overload_manager": overload([heap_monitor(1000)], {"stop_accepting_requests": on_heap(0.95)}),
    "static_resources": {"listeners": [http_listener("http", "listen", simple_routes(
        {"match": {"prefix": "/"}, "direct_response": {"status": 200}}))], "clusters": []},
})


def test_the_overloaded_reply_is_envoys(peer_factory):
    peer = peer_factory(OVERLOADED)
    port = peer.port("listen")
    get_reply = eventually(lambda: (lambda r: r if r.status == 503 else None)(get(port)))
    assert get_reply.body == b"envoy overloaded"
    assert get_reply.header_names() == ["content-length", "content-type", "date", "server"]
    client = RawClient(port)  # a GET keeps its connection; a request with an unread body does not
    assert client.request().status == 503 and not client.is_closed(wait=0.3)
    post = client.request("POST", "/", body=b"hello")
    assert post.status == 503 and post.header("connection") == "close"
    head = RawClient(port).request("HEAD")
    assert (head.status, head.header("content-length"), head.body) == (503, "16", b"")
    missing_host = RawClient(port).request(headers=())  # answered before Host is checked
    assert missing_host.status == 503 and missing_host.header("connection") is None
    assert peer.counter("http.ingress_http.downstream_rq_overload_close") >= 5
    assert peer.counter(f"overload.{ACTION}stop_accepting_requests.active") == 1
    assert peer.counter(f"overload.{ACTION}stop_accepting_requests.scale_percent") == 100
    assert peer.counter(f"overload.{HEAP}.failed_updates") == 0


LIMITED = to_yaml({
    "admin": ADMIN,
    "overload_manager": {"resource_monitors": [connections_monitor(2)]},
    "static_resources": {"listeners": [http_listener("http", "listen", simple_routes(
        {"match": {"prefix": "/"}, "direct_response": {"status": 200}}))], "clusters": []},
})


def test_the_global_limit_counts_as_envoy_counts(peer_factory):
    peer = peer_factory(LIMITED)
    port = peer.port("listen")
    prefix = f"listener.127.0.0.1_{port}."
    before = peer.counter(prefix + "downstream_cx_total")  # the harness's probes
    held = open_served(port, 2)
    assert RawClient(port).is_closed(wait=2)
    assert peer.counter(prefix + "downstream_global_cx_overflow") == 1
    assert peer.counter(prefix + "downstream_cx_total") == before + 2
    assert peer.counter(f"overload.{CONNECTIONS}.failed_updates") == 1
    held[0].close()
    assert eventually(lambda: status(port) == 200)
    held[1].close()


def test_a_limited_tcp_connection_never_reaches_its_upstream(peer_factory, upstream):
    """Over a connection_limit, tcp_proxy counts the connection (Envoy created the filter with it)
    but never connects it upstream."""
    tcp = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}
    limit = {"@type": LIMIT_TYPE, "stat_prefix": "cl", "max_connections": 1}
    listener = {"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                "filter_chains": [{"filters": [{"name": "limit", "typed_config": limit},
                                               {"name": "tcp", "typed_config": tcp}]}]}
    peer = peer_factory(to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener], "clusters": [static_cluster("backend", upstream.port)]}}))
    port = peer.port("listen")
    before = peer.counter("tcp.tcp.downstream_cx_total"), peer.counter("cluster.backend.upstream_cx_total")
    held = open_served(port, 1)
    assert RawClient(port).is_closed(wait=2)
    assert peer.counter("connection_limit.cl.limited_connections") == 1
    assert peer.counter("tcp.tcp.downstream_cx_total") == before[0] + 2
    assert peer.counter("cluster.backend.upstream_cx_total") == before[1] + 1
    held[0].close()
