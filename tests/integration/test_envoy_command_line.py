"""hotproxy started with Envoy's flags: Istio's pilot-agent command line serves, and the flags that
mean something for hotproxy do what Envoy's do (docs/envoy-reference.md, "Command line")."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
import urllib.request

import psutil

from harness import (HOTPROXY, ROOT, RawClient, http_listener, next_base_id, render, simple_routes,
                     static_cluster, to_yaml, wait_for_port)

ISTIO_LOG_FORMAT = "%Y-%m-%dT%T.%fZ\t%l\tenvoy %n %g:%#\t%v\tthread=%t"
# pilot-agent's command line (istio/pkg/envoy/proxy.go), -c aside
ISTIO_FLAGS = ["--drain-time-s", "45", "--drain-strategy", "immediate", "--local-address-ip-version", "v4",
               "--file-flush-interval-msec", "1000", "--disable-hot-restart", "--allow-unknown-static-fields",
               "--log-format", ISTIO_LOG_FORMAT, "-l", "warning", "--component-log-level", "misc:error",
               "--concurrency", "2"]


def proxied_config(upstream_port, **extra):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [http_listener("http", "listen", simple_routes(route))],
                                         "clusters": [static_cluster("backend", upstream_port)]},
                    **extra})


class Started:
    """One hotproxy on our own command line (the harness's Proxy adds -l debug)."""

    def __init__(self, tmp_path, config_text, args, config_name="hotproxy.yaml"):
        text, self.ports = render(config_text, {})
        self.config_path = tmp_path / config_name
        self.config_path.write_text(text)
        self.log_path = tmp_path / "stderr.log"
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(HOTPROXY + ["-c", str(self.config_path), *args], cwd=ROOT,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle, count=1, timeout=30):
        deadline = time.monotonic() + timeout
        while self.log().count(needle) < count:
            assert time.monotonic() < deadline, f"{needle!r} x{count} not in the log:\n{self.log()}"
            time.sleep(0.05)

    def admin(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['admin']}{path}", timeout=10) as response:
            return response.read().decode()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


def abstract_sockets():
    with open("/proc/net/unix") as table:
        return {line.split()[-1] for line in table.read().splitlines()[1:] if line.split()[-1].startswith("@")}


def test_istio_pilot_agent_command_line_serves(tmp_path, upstream):
    base_id = next_base_id()
    # a JSON file, as pilot-agent writes; --allow-unknown-static-fields lets the unknown field by
    config = proxied_config(upstream.port, istio_field_hotproxy_does_not_know=True)
    proxy = Started(tmp_path, config, ISTIO_FLAGS + ["--base-id", str(base_id)], "envoy-rev.json")
    try:
        wait_for_port(proxy.ports["listen"], process=proxy.process)
        response = RawClient(proxy.ports["listen"]).request(path="/through")
        assert response.status == 200 and response.json()["path"] == "/through"

        options = json.loads(proxy.admin("/server_info"))["command_line_options"]
        assert (options["drain_time"], options["drain_strategy"], options["file_flush_interval"]) == ("45s", "Immediate", "1s")
        assert options["disable_hot_restart"] and options["allow_unknown_static_fields"]
        assert options["log_format"] == ISTIO_LOG_FORMAT and options["component_log_level"] == "misc:error"
        assert options["concurrency"] == 2 and options["log_level"] == "warning"
        assert proxy.admin("/hot_restart_version") == "disabled"
        assert not any(name.startswith(f"@hotproxy.{base_id}.") for name in abstract_sockets())

        proxy.process.send_signal(signal.SIGUSR2)     # no hot restart without its socket
        proxy.wait_for_log("SIGUSR2 ignored: hot restart is disabled")
        assert RawClient(proxy.ports["listen"]).request().status == 200

        # warnings, in Istio's layout: the unknown field and the refused SIGUSR2
        lines = [line for line in proxy.log().splitlines() if line]
        assert lines and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\twarning\tenvoy \w+ "
                                          r"hotproxy/[\w/]+\.py:\d+\t.+\tthread=\d+", line) for line in lines), lines
        assert "unknown field ignored (--allow-unknown-static-fields): istio_field_hotproxy_does_not_know" in proxy.log()
        proxy.process.terminate()
        assert proxy.process.wait(10) == 0
    finally:
        proxy.stop()


def test_config_yaml_service_flags_stats_tags_and_admin_address_path(tmp_path, upstream, proxy_factory):
    address_file = tmp_path / "admin.address"
    proxy = proxy_factory(proxied_config(upstream.port, node={"id": "from-file", "cluster": "from-file"}),
                          extra_args=["--concurrency", "1", "--config-yaml", "node: {id: from-config-yaml}",
                                      "--service-cluster", "from-flag", "--service-zone", "zone-a",
                                      "--stats-tag", "env:prod", "--admin-address-path", str(address_file)])
    admin = f"http://127.0.0.1:{proxy.port('admin')}"
    info = json.loads(urllib.request.urlopen(admin + "/server_info", timeout=10).read())
    assert info["node"] == {"id": "from-config-yaml", "cluster": "from-flag",
                            "locality": {"region": "", "zone": "zone-a", "sub_zone": ""}}
    assert RawClient(proxy.port("listen")).request().status == 200
    prometheus = urllib.request.urlopen(admin + "/stats/prometheus", timeout=10).read().decode()
    assert re.search(r'envoy_http_downstream_rq_total\{[^}]*env="prod"', prometheus), prometheus
    assert address_file.read_text() == f"127.0.0.1:{proxy.port('admin')}"


def test_a_filesystem_socket_path_and_a_dynamic_base_id_carry_a_hot_restart(tmp_path, upstream):
    socket_path, base_id_file, pid_file = tmp_path / "hr", tmp_path / "base-id", tmp_path / "pid"
    proxy = Started(tmp_path, proxied_config(upstream.port),
                    ["-l", "info", "--concurrency", "1", "--socket-path", str(socket_path), "--socket-mode", "640",
                     "--use-dynamic-base-id", "--base-id-path", str(base_id_file), "--pid-file", str(pid_file)])
    successor = None
    try:
        proxy.wait_for_log("] serving: ")
        base_id = int(base_id_file.read_text())
        first = tmp_path / f"hr.{base_id}.0"
        assert stat.S_ISSOCK(first.stat().st_mode) and stat.S_IMODE(first.stat().st_mode) == 0o640

        proxy.process.send_signal(signal.SIGUSR2)   # the successor runs our command line, less the dynamic base id
        proxy.wait_for_log("] serving: ", count=2)
        assert proxy.process.wait(30) == 0
        assert not first.exists()                   # the epoch that exited took its socket file along
        assert (tmp_path / f"hr.{base_id}.1").exists() and int(base_id_file.read_text()) == base_id
        successor = int(pid_file.read_text())
        assert successor != proxy.process.pid
        assert RawClient(proxy.ports["listen"]).request().status == 200
    finally:
        if successor is not None:
            os.kill(successor, signal.SIGTERM)
        proxy.stop()


def test_init_only_binds_everything_and_serves_nothing(tmp_path, upstream):
    proxy = Started(tmp_path, proxied_config(upstream.port), ["--mode", "init_only", "-l", "debug",
                                                              "--base-id", str(next_base_id())])
    assert proxy.process.wait(20) == 0
    log = proxy.log()
    assert f"admin listening on 127.0.0.1:{proxy.ports['admin']}" in log and "init_only: initialised" in log
    assert "started hotproxy: worker" not in log and "started hotproxy: flusher" not in log
    with socket.socket() as probe:                  # released: free to bind again
        probe.bind(("127.0.0.1", proxy.ports["listen"]))
    proxy.stop()


def test_log_path_format_escaped_and_core_dumps_reach_every_process(tmp_path, upstream):
    log_file = tmp_path / "hotproxy.log"
    proxy = Started(tmp_path, proxied_config(upstream.port),
                    ["-l", "debug", "--concurrency", "1", "--base-id", str(next_base_id()), "--log-path", str(log_file),
                     "--log-format", "%P|%l|%n\t%v", "--log-format-escaped", "--enable-core-dump"])

    def wait_for(needle):
        deadline = time.monotonic() + 30
        while needle not in (log_file.read_text() if log_file.exists() else ""):
            assert time.monotonic() < deadline and proxy.process.poll() is None, proxy.log()
            time.sleep(0.05)
    try:
        wait_for("\\tserving: ")
        assert RawClient(proxy.ports["listen"]).request().status == 200
        proxy.process.send_signal(signal.SIGHUP)    # a worker of the old generation logs its drain
        wait_for("]: draining")
        lines = log_file.read_text().splitlines()
        assert all(re.fullmatch(r"\d+\|(debug|info|warning|error)\|\w+\\t.*", line) for line in lines), lines
        assert len({line.split("|")[0] for line in lines}) >= 2   # the arbiter's, and its children's
        assert proxy.log() == ""                                    # nothing on stderr
        for pid in [proxy.process.pid, *(child.pid for child in psutil.Process(proxy.process.pid).children())]:
            limits = open(f"/proc/{pid}/limits").read()
            assert re.search(r"Max core file size\s+unlimited", limits), (pid, limits)
    finally:
        proxy.stop()


def test_a_long_file_flush_interval_holds_access_log_lines_until_exit(tmp_path, upstream):
    access_log = tmp_path / "access.log"
    hcm_log = [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": str(access_log), "log_format": {"text_format": "%REQ(:PATH)%\n"}}}]
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}
    config = to_yaml({"static_resources": {
        "listeners": [http_listener("http", "listen", simple_routes(route), {"access_log": hcm_log})],
        "clusters": [static_cluster("backend", upstream.port)]}})
    proxy = Started(tmp_path, config, ["-l", "info", "--concurrency", "1", "--base-id", str(next_base_id()),
                                       "--file-flush-interval-msec", "60000"])
    try:
        proxy.wait_for_log("] serving: ")
        assert RawClient(proxy.ports["listen"]).request(path="/held").status == 200
        time.sleep(2.5)
        assert not access_log.exists() or access_log.read_text() == ""
        proxy.process.terminate()
        assert proxy.process.wait(10) == 0
        assert access_log.read_text() == "/held\n"
    finally:
        proxy.stop()
