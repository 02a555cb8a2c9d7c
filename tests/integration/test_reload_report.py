"""The reload report through real processes (docs/reloads.md): what a reload changes is logged,
shown on /server_info and in systemd's STATUS=; ``hotproxy --mode diff`` prints it against a
running server before anything is applied; a hot restart reports against the previous epoch."""
import json
import signal
import socket
import subprocess
import time
import urllib.request

from certs import CA
from harness import (HOTPROXY, ROOT, http_listener, next_base_id, reload, render, rewrite, simple_routes,
                     static_cluster, to_yaml, wait_for_log, wait_for_port)

TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"


def config(upstream_port, tag="v1", clusters=("backend",), second_listener=False, tls=None):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"},
             "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]}
    listeners = [http_listener("http", "listen", simple_routes(route))]
    if second_listener:
        listeners.append(http_listener("extra", "listen2", simple_routes(route), stat_prefix="extra"))
    if tls is not None:
        listeners[0]["filter_chains"][0]["transport_socket"] = {
            "name": "envoy.transport_sockets.tls", "typed_config": {"@type": TLS_TYPE, "common_tls_context": {
                "tls_certificates": [{"certificate_chain": {"filename": str(tls[0])},
                                      "private_key": {"filename": str(tls[1])}}]}}}
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": listeners,
                             "clusters": [static_cluster(name, upstream_port) for name in clusters]}})


def server_info(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=10) as answer:
        return json.load(answer)["hotproxy"]


def diff(new_path, admin_port):
    return subprocess.run(HOTPROXY + ["--mode", "diff", "-c", str(new_path), "--against",
                                      f"http://127.0.0.1:{admin_port}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_reload_reports_its_changes_in_the_log_server_info_and_status(
        proxy_factory, upstream, tmp_path, monkeypatch):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    proxy = proxy_factory(config(upstream.port, clusters=("backend", "old")), extra_args=["--concurrency", "1"])

    def next_status():
        while True:
            fields = dict(line.split("=", 1) for line in notify.recv(4096).decode().split("\n"))
            if fields.get("READY") == "1":
                return fields["STATUS"]

    assert "last reload: none" in next_status()
    rewrite(proxy, config(upstream.port, tag="v2", clusters=("backend", "new"), second_listener=True))
    reload(proxy, 1)
    status = next_status()
    assert "last reload: ok (listeners +1; clusters +1 -1; routes ~1)" in status
    last = server_info(proxy.port("admin"))["last_reload"]
    assert last["result"] == "ok" and last["trigger"] == "SIGHUP"
    assert last["report"]["listeners"] == {"added": ["extra"], "removed": [], "modified": {}}
    assert last["report"]["clusters"] == {"added": ["new"], "removed": ["old"], "modified": {}}
    assert last["report"]["routes"]["modified"] == {"local/vh": "routes"}
    wait_for_log(proxy, "reload (SIGHUP): listeners +1; clusters +1 -1; routes ~1")
    assert "  + listener 'extra'" in proxy.log() and "  - cluster 'old'" in proxy.log()

    reload(proxy, 2)        # the same file again: a reload that changes nothing says so
    assert "last reload: ok (no change)" in next_status()
    assert server_info(proxy.port("admin"))["last_reload"]["report"]["changed"] is False


def test_diff_mode_prints_the_report_against_the_running_server_before_anything_is_applied(
        proxy_factory, upstream, tmp_path, client_factory):
    proxy = proxy_factory(config(upstream.port), extra_args=["--concurrency", "1"])
    admin = proxy.port("admin")
    same = tmp_path / "same.yaml"
    same.write_text(proxy.config_path.read_text())
    unchanged = diff(same, admin)
    assert unchanged.returncode == 0, unchanged.stderr
    assert "against generation 1" in unchanged.stdout and "no change" in unchanged.stdout

    changed = tmp_path / "changed.yaml"
    changed.write_text(render(config(upstream.port, tag="v2", clusters=("backend", "extra")), proxy.ports)[0])
    result = diff(changed, admin)
    assert result.returncode == 1, result.stderr
    assert "clusters +1; routes ~1" in result.stdout
    assert "  + cluster 'extra'" in result.stdout and "  ~ virtual host 'local/vh': routes" in result.stdout
    assert client_factory(proxy.port("listen")).request().header("x-config") == "v1", "nothing was applied"
    assert server_info(admin)["last_reload"]["result"] == "none"

    broken = tmp_path / "broken.yaml"
    broken.write_text("static_resources: {clusters: [{name: x, connect_timeout: soon}]}\n")
    invalid = diff(broken, admin)
    assert invalid.returncode == 2
    assert "static_resources.clusters[0].connect_timeout: invalid duration" in invalid.stderr

    unreachable = subprocess.run(HOTPROXY + ["--mode", "diff", "-c", str(same), "--against", "127.0.0.1:1"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert unreachable.returncode == 2 and "cannot read http://127.0.0.1:1/hotproxy/config_inventory" in \
        unreachable.stderr


def test_diff_mode_needs_against():
    result = subprocess.run(HOTPROXY + ["--mode", "diff", "-c", "x.yaml"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and "--mode diff needs --against ADMIN_URL" in result.stderr


def test_a_rotated_certificate_file_is_reported_as_a_certificate_change(proxy_factory, upstream, tmp_path):
    ca = CA()
    paths = ca.issue("proxy", dns=["proxy.test"]).write(tmp_path, "proxy")
    proxy = proxy_factory(config(upstream.port, tls=paths), extra_args=["--concurrency", "1"])
    ca.issue("proxy", dns=["proxy.test"]).write(tmp_path, "proxy")     # same files, new content
    listed = diff(proxy.config_path, proxy.port("admin"))
    assert listed.returncode == 1 and f"  ~ certificate '{paths[0]}': content changed" in listed.stdout
    reload(proxy, 1)
    report = server_info(proxy.port("admin"))["last_reload"]["report"]
    assert list(report["certificates"]["modified"]) == [str(paths[0])]
    assert report["listeners"]["modified"] == {}


def test_a_hot_restart_reports_against_what_the_previous_epoch_served(upstream, tmp_path):
    text, ports = render(config(upstream.port, clusters=("backend", "old")), {})
    config_path = tmp_path / "hotproxy.yaml"
    config_path.write_text(text)
    base_id, epochs = next_base_id(), []

    def start(epoch):
        log = open(tmp_path / f"epoch{epoch}.log", "wb")
        epochs.append((subprocess.Popen(HOTPROXY + ["-c", str(config_path), "-l", "debug", "--concurrency", "1",
                                                    "--base-id", str(base_id), "--restart-epoch", str(epoch)],
                                        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log))

    try:
        start(0)
        wait_for_port(ports["admin"], process=epochs[0][0])
        wait_for_port(ports["listen"], process=epochs[0][0])
        # the arbiter binds before its workers are ready; a successor may only start once they are
        deadline = time.monotonic() + 30
        while b"] serving: " not in (tmp_path / "epoch0.log").read_bytes():
            assert epochs[0][0].poll() is None and time.monotonic() < deadline, "epoch 0 never served"
            time.sleep(0.05)
        config_path.write_text(render(config(upstream.port, tag="v2", clusters=("backend", "new")), ports)[0])
        start(1)
        deadline = time.monotonic() + 60
        while True:
            try:
                info = server_info(ports["admin"])
                if info["arbiter_pid"] == epochs[1][0].pid:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and epochs[1][0].poll() is None, \
                (tmp_path / "epoch1.log").read_text()
            time.sleep(0.1)
        last = info["last_reload"]
        assert last["result"] == "hot_restart" and last["from_pid"] == epochs[0][0].pid
        assert last["report"]["clusters"] == {"added": ["new"], "removed": ["old"], "modified": {}}
        assert last["report"]["routes"]["modified"] == {"local/vh": "routes"}
        assert "hot restart: clusters +1 -1; routes ~1" in (tmp_path / "epoch1.log").read_text()
    finally:
        for process, log in reversed(epochs):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            log.close()
