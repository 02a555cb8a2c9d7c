"""Socket activation through systemd's own tool: systemd-socket-activate listens, starts hotproxy
on the first connection and passes it the listening sockets (LISTEN_FDS, LISTEN_FDNAMES), which
hotproxy serves on instead of binding, across SIGHUP reloads and a hot restart."""
import json
import shutil
import signal
import socket
import subprocess
import threading

import psutil
import pytest

from harness import (HOTPROXY, ROOT, RawClient, free_port, http_listener, next_base_id, post_until, render,
                     rewrite, simple_routes, to_yaml, wait_for_log)

ACTIVATE = shutil.which("systemd-socket-activate")
pytestmark = pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate is not installed")


def config(*listeners):
    """A direct-response listener per (name, port placeholder): each answers with its name."""
    built = [http_listener(name, port_name, simple_routes(
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": name}}}))
        for name, port_name in listeners]
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": built, "clusters": []}})


class Activated:
    """hotproxy under systemd-socket-activate: it execs hotproxy in its own process, so
    LISTEN_PID is hotproxy's pid, exactly as under systemd."""

    def __init__(self, tmp_path, config_text, sockets, ports):
        self.ports = ports
        self.config_path = tmp_path / "hotproxy.yaml"
        self.log_path = tmp_path / "hotproxy.log"
        self._log = open(self.log_path, "ab")
        tmp_path.joinpath("hotproxy.yaml").write_text(config_text)
        listen = [f"--listen=127.0.0.1:{ports[port_name]}" for _name, port_name in sockets]
        names = ":".join(name for name, _port_name in sockets)
        self.process = subprocess.Popen(
            [ACTIVATE, *listen, f"--fdname={names}",
             *HOTPROXY, "-c", str(self.config_path), "-l", "debug", "--concurrency", "2",
             "--base-id", str(next_base_id()), "--drain-time-s", "1", "--parent-shutdown-time-s", "5"],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        """The serving arbiter too, when a hot restart left one the test did not start."""
        try:
            successor = admin_json(self.ports, "/server_info")["hotproxy"]["arbiter_pid"]
        except (OSError, EOFError, ValueError, KeyError):
            successor = None
        if successor not in (None, self.process.pid):
            psutil.Process(successor).terminate()
            psutil.wait_procs([psutil.Process(successor)], timeout=20)
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        self._log.close()


@pytest.fixture
def activated(tmp_path):
    started = []

    def start(config_text, sockets):
        """``sockets``: [(fd name, port placeholder)] systemd-socket-activate listens on."""
        text, ports = render(config_text, {})
        for _name, port_name in sockets:
            ports.setdefault(port_name, free_port())
        proxy = Activated(tmp_path, text, sockets, ports)
        started.append(proxy)
        wait_for_log(proxy, "Listening on", count=len(sockets))  # systemd-socket-activate's own lines
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def get(port, path="/"):
    client = RawClient(port, timeout=20)
    try:
        response = client.request("GET", path)
        return response.status, response.body.decode()
    finally:
        client.close()


def admin_json(ports, path):
    client = RawClient(ports["admin"], timeout=20)
    try:
        return json.loads(client.request("GET", path).body)
    finally:
        client.close()


def test_a_connection_queued_before_hotproxy_started_is_served(activated):
    # "ingress" is configured on a port nothing listens on: it serves on the socket of its name
    proxy = activated(config(("ingress", "configured"), ("by_address", "second")),
                      [("ingress", "passed"), ("unknown", "second")])
    ports = proxy.ports
    client = RawClient(ports["passed"], timeout=30)  # accepted by the kernel; this starts hotproxy
    response = client.request("GET", "/")
    client.close()
    assert (response.status, response.body) == (200, b"ingress")
    assert get(ports["second"]) == (200, "by_address")  # the unnamed socket, by its address
    log = proxy.log()
    assert "listener 'ingress' serves on the socket systemd passed" in log
    assert "cannot bind" not in log
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ports["configured"]), timeout=2).close()
    # the workers did not inherit the variables: only the arbiter could have taken the sockets
    for child in psutil.Process(proxy.process.pid).children():
        assert "LISTEN_FDS" not in child.environ()


def test_reload_keeps_the_sockets_and_one_no_listener_uses_waits_for_its_listener(activated):
    proxy = activated(config(("ingress", "ingress_port")),
                      [("ingress", "ingress_port"), ("spare", "spare_port")])
    ports = proxy.ports
    assert get(ports["ingress_port"]) == (200, "ingress")
    wait_for_log(proxy, "] serving: ")

    # no listener is named "spare": its socket stays open, so the kernel queues this connection
    waiting = RawClient(ports["spare_port"], timeout=30)
    waiting.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")

    stop, failures, done = threading.Event(), [], [0]
    load = threading.Thread(target=post_until, args=(ports["ingress_port"], stop, failures, done, True))
    load.start()
    try:
        rewrite(proxy, config(("ingress", "ingress_port"), ("spare", "spare_port")))
        proxy.process.send_signal(signal.SIGHUP)
        wait_for_log(proxy, "serving (")
        response = waiting.read_response()  # served by the listener the reload added
        assert (response.status, response.body) == (200, b"spare")
    finally:
        stop.set()
        load.join()
    assert failures == [] and done[0] > 0

    # the reload removes "spare" again: its socket is not closed, and a third reload finds it
    rewrite(proxy, config(("ingress", "ingress_port")))
    proxy.process.send_signal(signal.SIGHUP)
    wait_for_log(proxy, "serving (", count=2)
    assert "closing listener socket" not in proxy.log()
    rewrite(proxy, config(("ingress", "ingress_port"), ("spare", "spare_port")))
    proxy.process.send_signal(signal.SIGHUP)
    wait_for_log(proxy, "serving (", count=3)
    assert get(ports["spare_port"]) == (200, "spare")
    waiting.close()


def test_a_hot_restart_passes_the_passed_sockets_on(activated):
    proxy = activated(config(("ingress", "elsewhere")), [("ingress", "ingress_port")])
    ports = proxy.ports
    assert get(ports["ingress_port"]) == (200, "ingress")
    wait_for_log(proxy, "] serving: ")
    first = proxy.process.pid

    stop, failures, done = threading.Event(), [], [0]
    load = threading.Thread(target=post_until, args=(ports["ingress_port"], stop, failures, done, True))
    load.start()
    try:
        proxy.process.send_signal(signal.SIGUSR2)
        assert proxy.process.wait(30) == 0   # epoch 0 handed over and drained
    finally:
        stop.set()
        load.join()
    assert failures == [] and done[0] > 0
    info = admin_json(ports, "/server_info")
    assert info["command_line_options"]["restart_epoch"] == 1
    assert info["hotproxy"]["arbiter_pid"] != first
    assert get(ports["ingress_port"]) == (200, "ingress")
