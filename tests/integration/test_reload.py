"""The process model through real processes: workers, SIGHUP reloads, respawns, sd_notify."""
import signal
import socket
import threading
import time

import psutil
import pytest

from harness import (RawClient, accept_each, bootstrap, http_listener, post_until, read_lines, reload, rewrite,
                     simple_routes, static_cluster, wait_for_log, workers)


def direct_config(body, extra_listener=False):
    routes = simple_routes({"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": body}}})
    listeners = [http_listener("http", "listen", routes)]
    if extra_listener:
        listeners.append(http_listener("second", "listen2", routes, stat_prefix="second"))
    return bootstrap(listeners, [])


def proxied_config(upstream_port, tag):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"},
             "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]}
    return bootstrap([http_listener("http", "listen", simple_routes(route))], [static_cluster("backend", upstream_port)])


def test_workers_are_named_and_die_with_the_arbiter(proxy_factory, client_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "2"])
    children = workers(proxy)
    assert len(children) == 2
    titles = sorted(open(f"/proc/{c.pid}/cmdline").read().split("\0")[0] for c in children)
    assert titles == ["hotproxy: worker 0 [gen 1]", "hotproxy: worker 1 [gen 1]"]
    assert open(f"/proc/{proxy.process.pid}/cmdline").read().startswith("hotproxy: arbiter [epoch 0, gen 1]")
    proxy.process.kill()  # no chance to stop them: PR_SET_PDEATHSIG must
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive


def test_sighup_applies_a_changed_config(proxy_factory, client_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "2"])
    assert client_factory(proxy.port("listen")).request().body == b"A"
    rewrite(proxy, direct_config("B"))
    reload(proxy, 1)
    for _ in range(6):  # every worker of the new generation, on fresh connections
        assert client_factory(proxy.port("listen")).request().body == b"B"


def test_a_broken_config_keeps_the_old_one_serving(proxy_factory, client_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "1"])
    proxy.config_path.write_text("static_resources: {listeners: [{name: x, bogus: 1}]}\n")
    proxy.process.send_signal(signal.SIGHUP)
    wait_for_log(proxy, "reload failed, the running configuration keeps serving")
    assert "bogus: unknown field" in proxy.log()
    assert client_factory(proxy.port("listen")).request().body == b"A"
    assert proxy.process.poll() is None


def test_an_idle_keep_alive_connection_moves_to_the_new_generation(proxy_factory, client_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "2"])
    clients = [client_factory(proxy.port("listen")) for _ in range(8)]
    for client in clients:
        assert client.request().body == b"A"
    old_workers = {p.pid for p in workers(proxy)}
    rewrite(proxy, direct_config("B"))
    reload(proxy, 1)
    # They move one at a time (docs/reloads.md): until its turn, a connection is answered by
    # the old generation, and then the old generation exits, having moved every one.
    for client in clients:
        assert client.request().body in (b"A", b"B")
    deadline = time.monotonic() + 10
    while old_workers & {p.pid for p in workers(proxy)} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not old_workers & {p.pid for p in workers(proxy)}, "the old generation did not exit"
    # the same connections, never closed, now answered by the new generation
    for client in clients:
        assert client.request().body == b"B"


def test_a_connection_that_has_sent_nothing_yet_moves_too(proxy_factory, client_factory):
    """codec_type AUTO waits for a new connection's first bytes (HTTP/2's preface or not): a
    reload moves such a connection as it moves an idle one."""
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "1"])
    silent = client_factory(proxy.port("listen"))
    time.sleep(0.3)     # accepted, waiting for its first bytes
    old_workers = {p.pid for p in workers(proxy)}
    rewrite(proxy, direct_config("B"))
    reload(proxy, 1)
    deadline = time.monotonic() + 10
    while old_workers & {p.pid for p in workers(proxy)} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not old_workers & {p.pid for p in workers(proxy)}, "the old generation did not exit"
    assert silent.request().body == b"B"


def test_a_request_in_flight_completes_and_its_connection_moves_after(proxy_factory, upstream, client_factory):
    proxy = proxy_factory(proxied_config(upstream.port, "A"), extra_args=["--concurrency", "1"])
    client = client_factory(proxy.port("listen"))
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=client.request("POST", "/sleep/1500", body=b"x" * 1000)))
    thread.start()
    time.sleep(0.3)
    rewrite(proxy, proxied_config(upstream.port, "B"))
    reload(proxy, 1)
    thread.join(10)
    assert result["r"].status == 200 and result["r"].header("x-config") == "A"
    assert result["r"].header("connection") is None  # it was not closed: it moved
    assert client.request().header("x-config") == "B"


def test_a_killed_worker_is_replaced(proxy_factory, client_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "2"])
    victim = workers(proxy)[0]
    victim.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = {p.pid for p in workers(proxy)}
        if len(pids) == 2 and victim.pid not in pids:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the worker was not replaced")
    for _ in range(10):
        assert client_factory(proxy.port("listen")).request().body == b"A"
    wait_for_log(proxy, "restarting it")


def test_a_reload_storm_cuts_no_request_and_ends_on_the_last_config(proxy_factory, upstream):
    proxy = proxy_factory(proxied_config(upstream.port, "v0"), extra_args=["--concurrency", "1"])
    failures = []
    stop = threading.Event()
    done = [0]

    threads = [threading.Thread(target=post_until, args=(proxy.port("listen"), stop, failures, done))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for i in range(1, 41):
        rewrite(proxy, proxied_config(upstream.port, f"v{i}"))
        proxy.process.send_signal(signal.SIGHUP)
        time.sleep(0.01)
    wait_for_log(proxy, "serving (", count=1)
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert failures == [] and done[0] > 100
    deadline = time.monotonic() + 20
    while RawClient(proxy.port("listen")).request().header("x-config") != "v40":
        assert time.monotonic() < deadline, "the last config never served"
        time.sleep(0.2)


def test_sd_notify_protocol(proxy_factory, tmp_path, client_factory, monkeypatch):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    notify.bind(path)
    notify.settimeout(20)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "1"])

    def next_message():
        return dict(line.split("=", 1) for line in notify.recv(4096).decode().split("\n"))

    ready = next_message()
    assert ready["READY"] == "1" and "serving generation 1" in ready["STATUS"]
    proxy.process.send_signal(signal.SIGHUP)
    reloading = next_message()
    assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
    assert next_message()["READY"] == "1"
    proxy.process.send_signal(signal.SIGTERM)
    assert next_message()["STOPPING"] == "1"
    assert proxy.process.wait(10) == 0


def test_arbiter_descriptors_do_not_grow_with_reloads(proxy_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "1"])
    reload(proxy, 1)
    deadline = time.monotonic() + 10
    while len(workers(proxy)) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)    # the first generation gone, and its channel with it
    time.sleep(0.5)
    baseline = psutil.Process(proxy.process.pid).num_fds()
    for i in range(2, 22):
        reload(proxy, i)
    time.sleep(1)
    assert psutil.Process(proxy.process.pid).num_fds() == baseline
    assert len(workers(proxy)) == 1


def test_tcp_proxy_sessions_outlive_the_reload(proxy_factory):
    from harness import TCP_PROXY_TYPE
    echo = socket.socket()
    echo.bind(("127.0.0.1", 0))
    echo.listen()

    def echo_one(conn):
        with conn:
            while data := conn.recv(100):
                conn.sendall(data)

    accept_each(echo, echo_one)

    def tcp_config(tag):
        proxy_config = {"@type": TCP_PROXY_TYPE, "stat_prefix": tag, "cluster": "echo"}
        return bootstrap([{"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                           "filter_chains": [{"filters": [{"name": "tcp", "typed_config": proxy_config}]}]}],
                         [static_cluster("echo", echo.getsockname()[1])])

    proxy = proxy_factory(tcp_config("a"), extra_args=["--concurrency", "1"])
    session = socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=5)
    session.sendall(b"before")
    assert session.recv(100) == b"before"
    rewrite(proxy, tcp_config("b"))
    reload(proxy, 1)
    time.sleep(0.5)
    session.sendall(b"after")  # still relayed by the draining generation
    assert session.recv(100) == b"after"
    session.close()
    echo.close()


def test_listeners_added_and_removed_by_a_reload(proxy_factory, client_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "1"])
    from harness import free_port
    proxy.ports["listen2"] = free_port()
    rewrite(proxy, direct_config("B", extra_listener=True))
    reload(proxy, 1)
    assert client_factory(proxy.port("listen2")).request().body == b"B"
    rewrite(proxy, direct_config("C"))
    reload(proxy, 2)
    assert client_factory(proxy.port("listen")).request().body == b"C"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port("listen2")), timeout=2)


def test_too_many_draining_generations_stops_the_oldest(proxy_factory, upstream):
    proxy = proxy_factory(proxied_config(upstream.port, "v0"),
                          extra_args=["--concurrency", "1", "--max-draining-generations", "1"])
    slow = [RawClient(proxy.port("listen"))]
    slow[0].send(b"GET /sleep/20000 HTTP/1.1\r\nHost: h\r\n\r\n")  # pins generation 1 while it drains
    time.sleep(0.3)
    reload(proxy, 1)
    slow.append(RawClient(proxy.port("listen")))
    slow[1].send(b"GET /sleep/20000 HTTP/1.1\r\nHost: h\r\n\r\n")  # pins generation 2
    time.sleep(0.3)
    reload(proxy, 2)
    wait_for_log(proxy, "generation 1 stopped early")
    assert slow[0].is_closed(5)       # the oldest was stopped...
    assert not slow[1].is_closed(0.5)  # ...the next one still serves its request


def test_watchdog_pings_when_systemd_asks(proxy_factory, tmp_path, monkeypatch):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    notify.bind(path)
    notify.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # ping every 0.2 s
    proxy_factory(direct_config("A"), extra_args=["--concurrency", "1"])
    pings = 0
    deadline = time.monotonic() + 5
    while pings < 3 and time.monotonic() < deadline:
        if notify.recv(4096) == b"WATCHDOG=1":
            pings += 1
    assert pings == 3


def test_sigquit_drains_then_exits(proxy_factory, upstream):
    proxy = proxy_factory(proxied_config(upstream.port, "A"), extra_args=["--concurrency", "1"])
    client = RawClient(proxy.port("listen"))
    client.send(b"GET /sleep/1000 HTTP/1.1\r\nHost: h\r\n\r\n")
    time.sleep(0.2)
    proxy.process.send_signal(signal.SIGQUIT)
    assert client.read_response().status == 200  # the request in flight finished
    assert proxy.process.wait(10) == 0


def test_ttin_and_ttou_resize_the_worker_pool(proxy_factory, client_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "1"])
    proxy.process.send_signal(signal.SIGTTIN)
    wait_for_log(proxy, "serving (")
    deadline = time.monotonic() + 10
    while len(workers(proxy)) != 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proxy.process.send_signal(signal.SIGTTOU)
    wait_for_log(proxy, "serving (", count=2)
    deadline = time.monotonic() + 10
    while len(workers(proxy)) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client_factory(proxy.port("listen")).request().body == b"A"


def test_a_killed_flusher_is_restarted_and_logging_goes_on(proxy_factory, upstream, tmp_path):
    from test_access_log import logged_config
    log_path = tmp_path / "access.log"
    proxy = proxy_factory(logged_config(upstream.port, log_path), extra_args=["--concurrency", "1"])
    flusher = next(p for p in psutil.Process(proxy.process.pid).children() if "flusher" in " ".join(p.cmdline()))
    client = RawClient(proxy.port("listen"))
    for _ in range(5):
        client.request()
    read_lines(log_path, 5)
    flusher.kill()
    for _ in range(5):  # sent while no flusher runs: they wait in the socket
        client.request()
    wait_for_log(proxy, "restarting it")
    read_lines(log_path, 10, timeout=15)


def test_connections_of_a_removed_listener_close_over_the_drain_time(proxy_factory, client_factory):
    from harness import free_port
    ports = {"listen2": free_port()}
    proxy = proxy_factory(direct_config("A", extra_listener=True), ports=ports,
                          extra_args=["--concurrency", "1", "--drain-time-s", "2"])
    client = client_factory(proxy.port("listen2"))
    assert client.request().body == b"A"
    rewrite(proxy, direct_config("B"))  # the second listener is gone
    started = time.monotonic()
    reload(proxy, 1)
    # not closed at once (that would race a client reusing it) but within the drain time, while idle
    assert client.is_closed(5)
    assert time.monotonic() - started < 2 + 1.5
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port("listen2")), timeout=2)


def test_sighup_every_10ms_for_30s_under_load(proxy_factory, upstream):
    proxy = proxy_factory(proxied_config(upstream.port, "v0"), extra_args=["--concurrency", "1"])
    failures, done, stop = [], [0], threading.Event()
    threads = [threading.Thread(target=post_until, args=(proxy.port("listen"), stop, failures, done, i == 0))
               for i in range(4)]
    for thread in threads:
        thread.start()
    rewrite(proxy, proxied_config(upstream.port, "final"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        proxy.process.send_signal(signal.SIGHUP)
        time.sleep(0.01)
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert failures == [] and done[0] > 500
    assert proxy.process.poll() is None
    deadline = time.monotonic() + 20
    while RawClient(proxy.port("listen")).request().header("x-config") != "final":
        assert time.monotonic() < deadline
        time.sleep(0.2)
