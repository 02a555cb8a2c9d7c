"""The shipped systemd units under a real systemd (252, PID 1 of a container; systemd_container.py):
start with ExecStartPre validation, reload under load, hot restart by SIGUSR2, the logrotate
signal, watchdog expiry, socket activation across a full restart, stop, and two instances of the
template side by side. Requests come from this test process over the container's address."""
import http.client
import json
import threading
import time

import pytest

from systemd_container import SystemdHost

CONFIG = """
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: ingress
    address: {{socket_address: {{address: 0.0.0.0, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: /var/log/hotproxy/{name}.log
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                direct_response: {{status: 200, body: {{inline_string: "{body}"}}}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"""
SERVICE = "hotproxy.service"


def config(body, name="access", port=10000, admin=9901):
    return CONFIG.format(body=body, name=name, port=port, admin=admin)


@pytest.fixture(scope="module")
def vm(docker_client, harness_image, tmp_path_factory):
    from images import remove_labelled
    run = "systemd-" + tmp_path_factory.mktemp("run").name[-8:].replace("_", "")
    host = SystemdHost(docker_client, harness_image, run, tmp_path_factory.mktemp("systemd"))
    try:
        host.wait_booted()
        host.add_service_user()
        host.write("/etc/hotproxy/envoy.yaml", config("v1"))
        host.install_units("hotproxy.service", "hotproxy@.service", "hotproxy.socket",
                           dropins={SERVICE: "", "hotproxy@.service": ""})
        yield host
    finally:
        remove_labelled(docker_client, run)


def get(vm, port=10000, path="/"):
    conn = http.client.HTTPConnection(vm.address, port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def server_info(vm, admin_port):
    """/server_info of an instance, whose admin listens on the container's loopback only."""
    return json.loads(vm.sh(f"python3 -c 'import urllib.request; print(urllib.request.urlopen("
                            f"\"http://127.0.0.1:{admin_port}/server_info\").read().decode())'"))


def main_pid(vm, unit=SERVICE):
    return int(vm.show(unit, "MainPID")["MainPID"])


class Load:
    """Two clients that never retry, until stopped: one on a keep-alive connection, one on a fresh
    connection per request. Every error or non-200 is a failure."""

    def __init__(self, vm, port=10000):
        self.address, self.port = vm.address, port
        self.failures, self.done = [], 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(fresh,)) for fresh in (False, True)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, fresh):
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None or fresh:
                    conn = http.client.HTTPConnection(self.address, self.port, timeout=10)
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.failures.append(f"status {response.status}")
                self.done += 1
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
                conn = None

    def wait_for(self, count):
        deadline = time.monotonic() + 20
        start = self.done
        while self.done < start + count and time.monotonic() < deadline:
            time.sleep(0.05)


def test_start_validates_first_and_serves(vm):
    vm.write("/etc/hotproxy/broken.yaml", config("x").replace("port_value: 10000", "port_value: 99999"))
    vm.sh("systemctl start hotproxy@broken", check=False)
    broken = vm.show("hotproxy@broken.service", "ActiveState", "ExecMainPID")
    assert broken["ExecMainPID"] == "0"  # ExecStartPre refused it: the arbiter never ran
    journal = vm.journal("hotproxy@broken.service")
    assert "port_value" in journal, journal
    vm.sh("systemctl stop hotproxy@broken; systemctl reset-failed hotproxy@broken", check=False)

    vm.sh(f"systemctl start {SERVICE}")  # Type=notify: returns once the arbiter said READY=1
    state = vm.show(SERVICE, "ActiveState", "StatusText", "WatchdogUSec")
    assert state["ActiveState"] == "active"
    assert state["StatusText"].startswith("serving generation 1")
    assert state["WatchdogUSec"] == "10s"
    assert get(vm) == (200, "v1")


def test_reload_under_load_loses_no_request(vm):
    pid = main_pid(vm)
    with Load(vm) as load:
        load.wait_for(20)
        vm.write("/etc/hotproxy/envoy.yaml", config("v2"))
        vm.sh(f"systemctl reload {SERVICE}")
        vm.wait_for(lambda: get(vm) == (200, "v2"), "the reloaded config serving")
        load.wait_for(20)
    assert load.failures == [] and load.done > 40
    assert main_pid(vm) == pid
    assert "last reload: ok" in vm.show(SERVICE, "StatusText")["StatusText"]


def test_usr2_hot_restart_under_load_moves_mainpid(vm):
    pid = main_pid(vm)
    with Load(vm) as load:
        load.wait_for(20)
        vm.sh(f"systemctl kill --signal=SIGUSR2 --kill-whom=main {SERVICE}")
        vm.wait_for(lambda: main_pid(vm) not in (0, pid), "MAINPID= from the new epoch")
        load.wait_for(20)
    assert load.failures == [] and load.done > 40
    new = main_pid(vm)
    assert vm.sh(f"cat /proc/{new}/cmdline").startswith("hotproxy: arbiter [epoch 1")
    vm.wait_for(lambda: vm.sh(f"test -e /proc/{pid} && echo alive || echo gone") == "gone", "epoch 0 exiting")
    assert vm.show(SERVICE, "ActiveState")["ActiveState"] == "active"
    assert get(vm) == (200, "v2")


def test_the_logrotate_signal_reopens_the_access_log(vm):
    vm.sh("mv /var/log/hotproxy/access.log /var/log/hotproxy/access.log.1")
    # the postrotate line of systemd/hotproxy.logrotate
    vm.sh(f"systemctl kill --signal=SIGUSR1 --kill-whom=main {SERVICE}")
    deadline = time.monotonic() + 20
    while vm.sh("cat /var/log/hotproxy/access.log 2>/dev/null || true") == "":
        assert time.monotonic() < deadline, "no line in the reopened access log"
        get(vm)
        time.sleep(0.3)
    assert vm.sh("stat -c %U /var/log/hotproxy/access.log") == "hotproxy"


def test_a_wedged_arbiter_is_killed_and_restarted_by_the_watchdog(vm):
    vm.install_units(dropins={SERVICE: "WatchdogSec=2\nTimeoutAbortSec=2\nRestartSec=1"})
    vm.sh(f"systemctl restart {SERVICE}")
    pid, restarts = main_pid(vm), int(vm.show(SERVICE, "NRestarts")["NRestarts"])
    time.sleep(3)  # longer than WatchdogSec: it pings while its loop turns
    assert main_pid(vm) == pid
    vm.sh(f"kill -STOP {pid}")
    vm.wait_for(lambda: int(vm.show(SERVICE, "NRestarts")["NRestarts"]) == restarts + 1, "a watchdog restart")
    vm.wait_for(lambda: vm.show(SERVICE, "ActiveState")["ActiveState"] == "active", "the restarted service")
    assert main_pid(vm) != pid
    assert "Watchdog timeout" in vm.journal(SERVICE)
    assert get(vm) == (200, "v2")


def test_socket_activation_keeps_connections_across_a_full_restart(vm):
    vm.install_units(dropins={SERVICE: ""})
    vm.sh(f"systemctl stop {SERVICE}")
    vm.sh(f"sed -i 's/^ListenStream=.*/ListenStream=0.0.0.0:10000/' /etc/systemd/system/hotproxy.socket "
          f"&& systemctl daemon-reload && systemctl start hotproxy.socket")
    assert vm.show(SERVICE, "ActiveState")["ActiveState"] == "inactive"
    assert get(vm) == (200, "v2")  # this connection waited in systemd's socket and started the service
    assert "listener 'ingress' serves on the socket systemd passed" in vm.journal(SERVICE)

    with Load(vm) as load:
        load.wait_for(20)
        vm.sh(f"systemctl restart {SERVICE}")  # stopped (drained) and started again: a new process
        load.wait_for(20)
    assert vm.show(SERVICE, "ActiveState")["ActiveState"] == "active"
    assert load.failures == [] and load.done > 40


def test_stop_drains_and_exits_cleanly(vm):
    vm.sh(f"systemctl stop hotproxy.socket {SERVICE}")
    state = vm.show(SERVICE, "ActiveState", "Result", "ExecMainStatus")
    assert state == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}
    assert "graceful shutdown" in vm.journal(SERVICE)
    vm.sh("systemctl reset-failed")


def test_template_instances_run_side_by_side_with_their_own_base_id(vm):
    vm.write("/etc/hotproxy/a.yaml", config("a", name="a", port=10100, admin=9911))
    vm.write("/etc/hotproxy/b.yaml", config("b", name="b", port=10200, admin=9912))
    vm.sh("systemctl start hotproxy@a hotproxy@b")
    assert (get(vm, 10100), get(vm, 10200)) == ((200, "a"), (200, "b"))
    base_ids = {name: server_info(vm, port)["command_line_options"]["base_id"]
                for name, port in (("a", 9911), ("b", 9912))}
    expected = {name: vm.sh(f"printf %s {name} | cksum | cut -d' ' -f1") for name in "ab"}
    assert base_ids == expected and base_ids["a"] != base_ids["b"]
    # a hot restart of one instance meets only its own epochs
    pid_b = main_pid(vm, "hotproxy@b.service")
    vm.sh("systemctl kill --signal=SIGUSR2 --kill-whom=main hotproxy@a")
    vm.wait_for(lambda: server_info(vm, 9911)["command_line_options"]["restart_epoch"] == 1,
                "instance a at epoch 1")
    assert main_pid(vm, "hotproxy@b.service") == pid_b
    assert (get(vm, 10100), get(vm, 10200)) == ((200, "a"), (200, "b"))
    vm.sh("systemctl stop hotproxy@a hotproxy@b")

