"""Hot restart through real processes: a new arbiter takes the listening sockets, the admin port
and the counters over from the running one, which drains (docs/hot-restart.md)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from harness import HOTPROXY, ROOT, RawClient, next_base_id, http_listener, post_until, simple_routes, static_cluster, to_yaml, wait_for_port
from h2_client import h2_post_until
from test_admin import Admin



def config(upstream_port, tag):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend", "timeout": "20s"},
             "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]}
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [http_listener("http", "listen", simple_routes(route))],
                                         "clusters": [static_cluster("backend", upstream_port)]}})


class Epoch:
    """One hotproxy arbiter of a hot-restart chain."""

    def __init__(self, config_path, tmp_path, base_id, epoch, extra=(), env=None):
        self.epoch = epoch
        self.log_path = tmp_path / f"epoch{epoch}.log"
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            HOTPROXY + ["-c", str(config_path), "-l", "debug", "--concurrency", "2",
                        "--base-id", str(base_id), "--restart-epoch", str(epoch), *extra],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_serving(self, timeout=30):
        deadline = time.monotonic() + timeout
        while "] serving: " not in self.log():
            assert self.process.poll() is None, f"epoch {self.epoch} exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"epoch {self.epoch} did not serve:\n{self.log()}"
            time.sleep(0.05)
        return self

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def chain(tmp_path, upstream):
    """start(epoch, extra=()) starts one epoch on a shared config; all are stopped at the end."""
    from harness import render
    text, ports = render(config(upstream.port, "v1"), {})
    config_path = tmp_path / "hotproxy.yaml"
    config_path.write_text(text)
    base_id = next_base_id()
    epochs = []

    def start(epoch, extra=(), serving=True, env=None):
        started = Epoch(config_path, tmp_path, base_id, epoch, extra, env)
        epochs.append(started)
        if serving:
            started.wait_serving()
            wait_for_port(ports["listen"])
        return started

    start.ports = ports
    start.config_path = config_path
    start.base_id = base_id
    start.upstream = upstream
    yield start
    for epoch in reversed(epochs):
        epoch.stop()


def _admin(ports):
    admin = Admin.__new__(Admin)
    admin.port = ports["admin"]
    return admin


def test_a_hot_restart_under_load_changes_the_pid_and_loses_no_request(chain):
    first = chain(0)
    admin = _admin(chain.ports)
    old_pid = json.loads(admin.get("/server_info"))["hotproxy"]["arbiter_pid"]
    failures, done, stop = [], [0], threading.Event()
    threads = [threading.Thread(target=post_until, args=(chain.ports["listen"], stop, failures, done, False, 0.005))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    second = chain(1)
    assert first.process.wait(20) == 0, "the old epoch did not exit after draining"
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert failures == [] and done[0] > 50
    info = json.loads(admin.get("/server_info"))
    assert info["hotproxy"]["arbiter_pid"] == second.process.pid != old_pid
    assert info["command_line_options"]["restart_epoch"] == 1
    stats = admin.stats()
    assert stats["server.hot_restart_epoch"] == 1
    assert stats["server.parent_connections"] == 0


def test_a_hot_restart_under_h2_load_loses_no_request(chain):
    """h2 clients move to the new epoch on the old one's GOAWAY; the streams in flight finish."""
    first = chain(0)
    failures, done, goaways, stop = [], [0], [0], threading.Event()
    threads = [threading.Thread(target=h2_post_until,
                                args=(chain.ports["listen"], stop, failures, done, goaways))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    chain(1)
    assert first.process.wait(30) == 0, "the old epoch did not exit after draining"
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert failures == [] and done[0] > 50
    assert goaways[0] >= 1


def test_counters_and_uptime_continue_and_gauges_are_exact_after_the_parent_exits(chain):
    first = chain(0)
    port = chain.ports["listen"]
    for _ in range(5):
        assert RawClient(port).request().status == 200
    admin = _admin(chain.ports)
    before = admin.stats()
    assert before["cluster.backend.upstream_rq_2xx"] == 5
    time.sleep(1.1)
    chain(1)
    first.process.wait(20)
    for _ in range(3):
        assert RawClient(port).request().status == 200
    stats = admin.stats()
    assert stats["cluster.backend.upstream_rq_2xx"] == 8
    assert stats["http.ingress_http.downstream_rq_2xx"] == 8
    assert stats["server.uptime"] >= 1
    # The last client just closed: the worker may not have seen it yet. A level the exited parent
    # left behind would stay; the child's own settles to 0.
    deadline = time.monotonic() + 5
    while stats["http.ingress_http.downstream_cx_active"] and time.monotonic() < deadline:
        time.sleep(0.1)
        stats = admin.stats()
    assert stats["http.ingress_http.downstream_cx_active"] == 0


def test_a_long_request_on_the_parent_completes_after_the_child_takes_over(chain):
    first = chain(0)
    result = {}

    def long_request():
        conn = http.client.HTTPConnection("127.0.0.1", chain.ports["listen"], timeout=20)
        conn.request("GET", "/sleep/3000")
        response = conn.getresponse()
        result["status"], result["body"] = response.status, response.read()

    thread = threading.Thread(target=long_request)
    thread.start()
    time.sleep(0.5)
    chain(1)
    thread.join(20)
    assert result == {"status": 200, "body": b"slept"}
    assert first.process.wait(20) == 0


def test_an_idle_keep_alive_connection_moves_to_the_new_epoch(chain):
    first = chain(0)
    client = RawClient(chain.ports["listen"])
    assert client.request().status == 200
    chain(1)
    assert first.process.wait(20) == 0  # it exited: the connection is no longer its
    response = client.request()
    assert response.status == 200 and response.header("x-config") == "v1"


def assert_failed_and_parent_serves(chain, first, second, reason):
    assert second.process.wait(20) != 0
    assert reason in second.log()
    assert first.process.poll() is None
    assert RawClient(chain.ports["listen"]).request().status == 200
    assert _admin(chain.ports).get("/ready") == "LIVE\n"


def test_a_broken_config_exits_non_zero_and_the_parent_serves_on(chain):
    first = chain(0)
    good = chain.config_path.read_text()
    chain.config_path.write_text(good.replace("static_resources", "static_resourcez"))
    assert_failed_and_parent_serves(chain, first, chain(1, serving=False), "unknown field")


def test_a_child_that_cannot_bind_a_port_leaves_the_parent_serving(chain):
    first = chain(0)
    third_party = socket.socket()
    third_party.bind(("127.0.0.1", 0))
    third_party.listen()
    # a port the child cannot bind (the parent does not have it): it fails before any drain
    text = chain.config_path.read_text()
    extra = http_listener("extra", "x", simple_routes({"match": {"prefix": "/"}, "direct_response": {"status": 200}}))
    extra["address"]["socket_address"]["port_value"] = third_party.getsockname()[1]
    tree = json.loads(text)
    tree["static_resources"]["listeners"].append(extra)
    chain.config_path.write_text(json.dumps(tree))
    assert_failed_and_parent_serves(chain, first, chain(1, serving=False), "cannot bind")
    third_party.close()


def test_a_new_epoch_whose_parent_is_dead_starts_as_a_first_epoch(chain):
    first = chain(0)
    first.process.kill()
    first.process.wait()
    time.sleep(0.5)  # its workers die with it
    second = chain(1)
    assert "is not running" in second.log()
    assert RawClient(chain.ports["listen"]).request().status == 200


def test_an_incompatible_or_foreign_peer_is_refused_and_reported(chain, tmp_path):
    # something else holds the rendezvous name of epoch 0 and answers with another version
    fake = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fake.bind(f"\0hotproxy.{chain.base_id}.0")
    fake.listen()

    def answer(reply):
        conn, _ = fake.accept()
        import msgpack
        message = msgpack.unpackb(conn.recv(65536))
        if reply is not None:
            conn.send(msgpack.packb({"t": "reply", "id": message["id"], **reply}))
        else:
            conn.send(b"\xc1garbage")
        time.sleep(1)
        conn.close()

    for reply, expected in (({"ok": False, "error": "incompatible hot restart version 'x'"}, "refused"),
                            (None, "does not answer as a hotproxy epoch")):
        thread = threading.Thread(target=answer, args=(reply,))
        thread.start()
        epoch = chain(1, serving=False)
        assert epoch.process.wait(20) != 0
        assert expected in epoch.log()
        thread.join()
    fake.close()


def test_two_instances_with_different_base_ids_restart_independently(chain, tmp_path, upstream):
    from harness import render
    first_a = chain(0)
    text, ports_b = render(config(upstream.port, "b"), {})
    path_b = tmp_path / "b.yaml"
    path_b.write_text(text)
    base_b = next_base_id()
    b0 = Epoch(path_b, tmp_path, base_b, 0).wait_serving()
    try:
        chain(1)
        assert first_a.process.wait(20) == 0
        assert b0.process.poll() is None
        assert RawClient(ports_b["listen"]).request().header("x-config") == "b"
        b1 = Epoch(path_b, tmp_path, base_b, 1).wait_serving()
        assert b0.process.wait(20) == 0
        b1.stop()
    finally:
        b0.stop()


def test_sigusr2_starts_the_successor_itself(chain):
    first = chain(0)
    first.process.send_signal(signal.SIGUSR2)
    assert first.process.wait(30) == 0
    admin = _admin(chain.ports)
    info = json.loads(admin.get("/server_info"))
    assert info["command_line_options"]["restart_epoch"] == 1
    psutil.Process(info["hotproxy"]["arbiter_pid"]).terminate()


def test_under_systemd_the_successor_announces_mainpid(chain, tmp_path):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    first = chain(0, env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")})
    first.process.send_signal(signal.SIGUSR2)
    messages = []
    while not any(m.startswith(b"MAINPID=") for m in messages):
        messages.append(notify.recv(4096))
    mainpid = int(next(m for m in messages if m.startswith(b"MAINPID=")).split(b"=")[1])
    assert mainpid != first.process.pid
    assert first.process.wait(20) == 0
    assert psutil.Process(mainpid).cmdline()[0].startswith("hotproxy: arbiter [epoch 1")
    psutil.Process(mainpid).terminate()


def test_restarts_faster_than_the_drain_keep_every_epoch_and_leak_no_fd(chain):
    """Several epochs drain at once (each with its own deadline), and descriptors do not pile up."""
    first = chain(0, extra=("--parent-shutdown-time-s", "60"))
    result = {}

    def long_request():
        conn = http.client.HTTPConnection("127.0.0.1", chain.ports["listen"], timeout=30)
        conn.request("GET", "/sleep/6000")
        response = conn.getresponse()
        response.read()
        result["status"] = response.status
        # the same connection, now idle on epoch 0, must have moved to the newest epoch through
        # epochs that have already handed over themselves
        conn.request("GET", "/")
        result["then"] = conn.getresponse().status

    thread = threading.Thread(target=long_request)
    thread.start()
    time.sleep(0.5)
    epochs = [first]
    fds = []
    for number in range(1, 5):
        epochs.append(chain(number, extra=("--parent-shutdown-time-s", "60")))
        fds.append(psutil.Process(epochs[-1].process.pid).num_fds())
    thread.join(30)
    assert result == {"status": 200, "then": 200}, "a later epoch cut the first one's connection (Envoy #15099)"
    for epoch in epochs[:-1]:
        assert epoch.process.wait(20) == 0
    assert len(set(fds)) == 1, f"open fds per new epoch: {fds}"


def start_restarter(chain, log):
    return subprocess.Popen(
        [sys.executable, "-m", "hotproxy.process.restarter", "--", *HOTPROXY, "-c", str(chain.config_path),
         "--concurrency", "1", "--base-id", str(chain.base_id)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def test_hotproxy_restarter_runs_epochs_and_forwards_sigterm(chain, tmp_path):
    log = open(tmp_path / "restarter.log", "wb")
    restarter = start_restarter(chain, log)
    try:
        wait_for_port(chain.ports["admin"], timeout=20)
        admin = _admin(chain.ports)
        first_pid = json.loads(admin.get("/server_info"))["hotproxy"]["arbiter_pid"]
        # the admin port opens before the workers are ready, and an epoch still starting
        # refuses a successor: wait until it serves
        deadline = time.monotonic() + 20
        while "] serving: " not in (tmp_path / "restarter.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "restarter.log").read_text()
            time.sleep(0.05)
        restarter.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while True:
            try:
                pid = json.loads(admin.get("/server_info"))["hotproxy"]["arbiter_pid"]
            except OSError:
                pid = None
            if pid not in (None, first_pid):
                break
            assert time.monotonic() < deadline, (tmp_path / "restarter.log").read_text()
            time.sleep(0.2)
        assert RawClient(chain.ports["listen"]).request().status == 200
        restarter.send_signal(signal.SIGTERM)
        assert restarter.wait(20) == 0
        assert "epoch 1 exited with 0" in (tmp_path / "restarter.log").read_text()
    finally:
        if restarter.poll() is None:
            restarter.kill()
        log.close()


def test_epochs_do_not_outlive_a_killed_restarter(chain, tmp_path):
    log = open(tmp_path / "restarter.log", "wb")
    restarter = start_restarter(chain, log)
    try:
        wait_for_port(chain.ports["admin"], timeout=20)
        pid = json.loads(_admin(chain.ports).get("/server_info"))["hotproxy"]["arbiter_pid"]
        restarter.kill()
        restarter.wait()
        gone, alive = psutil.wait_procs([psutil.Process(pid)], timeout=10)
        assert not alive, "an epoch outlived its restarter"
    finally:
        log.close()
