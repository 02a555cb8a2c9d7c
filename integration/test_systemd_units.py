"""hotproxy on a VM as docs/install.md installs it, under a real systemd (252, PID 1 of a container;
systemd_container.py): scripts/install.sh installs and starts it, the units as shipped run it:
start with ExecStartPre validation, reload under load, hot restart by SIGUSR2, an upgrade by
install.sh under load, logrotate with the shipped snippet, watchdog expiry, socket activation across a full
restart, stop (also right after a hot restart), two instances of the template side by side, and
uninstall. Requests come from this test process over the container's address."""
import http.client
import json
import threading
import time

import pytest

from systemd_container import SystemdHost, build_wheels

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
def wheels(tmp_path_factory):
    """(host directory, [v1 wheel, v2 wheel] as the container sees them)."""
    directory = tmp_path_factory.mktemp("wheels")
    return directory, build_wheels(directory)


@pytest.fixture(scope="module")
def vm(docker_client, harness_image, tmp_path_factory, wheels):
    from images import remove_labelled
    run = "systemd-" + tmp_path_factory.mktemp("run").name[-8:].replace("_", "")
    directory, (first, _upgrade) = wheels
    host = SystemdHost(docker_client, harness_image, run, tmp_path_factory.mktemp("systemd"), directory)
    try:
        host.wait_booted()
        host.write("/etc/hotproxy/envoy.yaml", config("v1"))  # the operator's, kept by the install
        host.install_output = host.install_sh("install", "--wheel", first)
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
    """Clients that never retry, until stopped: one on a keep-alive connection (unless
    ``keep_alive`` is False), one on a fresh connection per request. Every error or non-200 is a
    failure."""

    def __init__(self, vm, port=10000, keep_alive=True, timeout=10):
        self.address, self.port, self.timeout = vm.address, port, timeout
        self.failures, self.done = [], 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(fresh,))
                         for fresh in ((False, True) if keep_alive else (True,))]

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
                    conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)
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


def test_the_install_script_installs_enables_and_starts_it(vm):
    assert "keeping /etc/hotproxy/envoy.yaml" in vm.install_output
    assert "starting hotproxy.service" in vm.install_output
    state = vm.show(SERVICE, "ActiveState", "UnitFileState", "StatusText", "WatchdogUSec", "DropInPaths")
    assert state == {"ActiveState": "active", "UnitFileState": "enabled", "WatchdogUSec": "10s",
                     "DropInPaths": "",  # the unit exactly as shipped
                     "StatusText": "serving generation 1 with 2 workers; 0 draining; last reload: none"}
    pid = main_pid(vm)
    assert vm.sh(f"stat -c %U /proc/{pid}") == "hotproxy"
    assert vm.sh(f"readlink /proc/{pid}/exe").startswith("/usr/bin/python3")
    assert vm.sh(f"grep -c /opt/hotproxy/.venv/ /proc/{pid}/maps") != "0"  # the installed venv's modules
    assert vm.sh("stat -c '%U %a' /var/log/hotproxy") == "hotproxy 750"
    assert get(vm) == (200, "v1")


def test_execstartpre_refuses_an_invalid_config_before_the_arbiter_runs(vm):
    vm.write("/etc/hotproxy/broken.yaml", config("x").replace("port_value: 10000", "port_value: 99999"))
    vm.sh("systemctl start hotproxy@broken", check=False)
    assert vm.show("hotproxy@broken.service", "ExecMainPID")["ExecMainPID"] == "0"
    journal = vm.journal("hotproxy@broken.service")
    assert "port_value" in journal, journal
    vm.sh("systemctl stop hotproxy@broken; systemctl reset-failed hotproxy@broken", check=False)


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
        vm.write("/etc/hotproxy/envoy.yaml", config("v2"))   # as the reload test left it: this test runs alone too
        vm.sh(f"systemctl kill --signal=SIGUSR2 --kill-whom=main {SERVICE}")
        vm.wait_for(lambda: main_pid(vm) not in (0, pid), "MAINPID= from the new epoch")
        load.wait_for(20)
    assert load.failures == [] and load.done > 40
    new = main_pid(vm)
    assert vm.sh(f"cat /proc/{new}/cmdline").startswith("hotproxy: arbiter [epoch 1")
    vm.wait_for(lambda: vm.sh(f"test -e /proc/{pid} && echo alive || echo gone") == "gone", "epoch 0 exiting")
    assert vm.show(SERVICE, "ActiveState")["ActiveState"] == "active"
    assert get(vm) == (200, "v2")


def test_an_upgrade_by_the_install_script_is_a_hot_restart_that_loses_no_request(vm, wheels):
    _directory, (_first, upgrade) = wheels
    pid = main_pid(vm)
    with Load(vm) as load:
        load.wait_for(20)
        output = vm.install_sh("install", "--wheel", upgrade)
        load.wait_for(20)
    assert load.failures == [] and load.done > 40
    assert f"hotproxy.service: hot restart onto the new hotproxy (SIGUSR2 to pid {pid})" in output
    assert main_pid(vm) != pid
    assert "the upgrade the harness installs" in vm.sh(
        "cat /opt/hotproxy/.venv/lib/python3*/site-packages/hotproxy/__init__.py")
    # once more: nothing to upgrade, nothing restarted
    new = main_pid(vm)
    assert "is already installed" in vm.install_sh("install", "--wheel", upgrade)
    assert main_pid(vm) == new


def lines(vm, path):
    return int(vm.sh(f"cat {path} 2>/dev/null | wc -l"))


def test_logrotate_with_the_shipped_snippet_loses_no_line(vm):
    if vm.sh("command -v logrotate || true") == "":
        pytest.skip("logrotate is not installed on the host (apt-get install logrotate)")
    log = "/var/log/hotproxy/access.log"
    before = lines(vm, log)
    for _ in range(3):
        get(vm)
    vm.wait_for(lambda: lines(vm, log) >= before + 3, "the access log lines")
    # as cron.daily would, forced: the snippet's postrotate signals the arbiter (SIGUSR1)
    vm.sh("logrotate --force --state /tmp/logrotate.state /etc/logrotate.d/hotproxy")
    rotated = lines(vm, log + ".1")
    assert rotated >= before + 3
    for _ in range(3):
        get(vm)
    vm.wait_for(lambda: lines(vm, log) >= 3, "lines in the new access log")
    assert lines(vm, log + ".1") == rotated  # nothing went on into the rotated file
    assert vm.sh(f"stat -c '%U %a' {log}") == "hotproxy 640"


def test_a_wedged_arbiter_is_killed_and_restarted_by_the_watchdog(vm):
    vm.dropin(SERVICE, "WatchdogSec=2\nTimeoutAbortSec=2\nRestartSec=1")
    vm.sh(f"systemctl restart {SERVICE}")
    pid, restarts = main_pid(vm), int(vm.show(SERVICE, "NRestarts")["NRestarts"])
    time.sleep(2.5)  # longer than WatchdogSec: it pings while its loop turns
    assert main_pid(vm) == pid
    vm.sh(f"kill -STOP {pid}")
    vm.wait_for(lambda: int(vm.show(SERVICE, "NRestarts")["NRestarts"]) == restarts + 1, "a watchdog restart")
    vm.wait_for(lambda: vm.show(SERVICE, "ActiveState")["ActiveState"] == "active", "the restarted service")
    assert main_pid(vm) != pid
    assert "Watchdog timeout" in vm.journal(SERVICE)
    assert get(vm) == (200, "v2")


def test_socket_activation_keeps_connections_across_a_full_restart(vm):
    vm.sh(f"rm -r /etc/systemd/system/{SERVICE}.d && systemctl daemon-reload && systemctl stop {SERVICE}")
    vm.sh("sed -i 's/^ListenStream=.*/ListenStream=0.0.0.0:10000/' /etc/systemd/system/hotproxy.socket "
          "&& systemctl daemon-reload && systemctl start hotproxy.socket")
    assert vm.show(SERVICE, "ActiveState")["ActiveState"] == "inactive"
    assert get(vm) == (200, "v2")  # this connection waited in systemd's socket and started the service
    assert "listener 'ingress' serves on the socket systemd passed" in vm.journal(SERVICE)

    # New connections only: a full restart closes the keep-alive ones (a client's next request on
    # one may cross the close), but no connection attempt is refused or lost meanwhile: they wait
    # in systemd's socket until the new process accepts them.
    with Load(vm, keep_alive=False, timeout=60) as load:
        load.wait_for(20)
        vm.sh(f"systemctl restart {SERVICE}")  # stopped (drained) and started again: a new process
        load.wait_for(20)
    assert vm.show(SERVICE, "ActiveState")["ActiveState"] == "active"
    assert load.failures == [] and load.done > 40


def test_stop_right_after_a_hot_restart_drains_and_exits_cleanly(vm):
    # the new epoch is not systemd's child: ExecStop, not KillSignal, must wait for its drain
    pid = main_pid(vm)
    vm.sh(f"systemctl kill --signal=SIGUSR2 --kill-whom=main {SERVICE}")
    vm.wait_for(lambda: main_pid(vm) not in (0, pid), "MAINPID= from the new epoch")
    new = main_pid(vm)
    vm.sh(f"systemctl stop hotproxy.socket {SERVICE}")
    state = vm.show(SERVICE, "ActiveState", "Result")
    assert state == {"ActiveState": "inactive", "Result": "success"}
    journal = vm.journal(SERVICE)
    assert any(f"[{new}]" in line and "graceful shutdown" in line for line in journal.splitlines()), journal
    assert f"Killing process {new}" not in journal


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



def test_uninstall_removes_the_install_but_the_config(vm):
    output = vm.install_sh("uninstall")
    assert "kept /etc/hotproxy" in output
    assert vm.show(SERVICE, "LoadState")["LoadState"] == "not-found"
    assert vm.sh("getent passwd hotproxy || echo none") == "none"
    assert vm.sh("ls /opt; ls /etc/systemd/system | grep hotproxy || true") == ""
    assert vm.sh("cat /etc/hotproxy/envoy.yaml") == config("v2").strip()
