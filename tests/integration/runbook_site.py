"""What the runbook tests (test_runbooks.py) operate: the site's config (one HTTP listener in front
of an application, TLS listeners for the certificate runbook, the VM's config under systemd), a
hotproxy installed as a release so that an upgrade really swaps code, the arbiters a test started
followed across hot restarts, and reloads sent and waited for as an operator would."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from harness import HCM_TYPE, ROOT, ROUTER_TYPE, admin_stats, static_cluster, to_yaml


TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
HEALTH_CHECK_TYPE = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"
FILE_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
VM_CONFIG = "/etc/hotproxy/envoy.yaml"
VM_ENV = {"HOTPROXY": "/opt/hotproxy/.venv/bin/hotproxy", "CONFIG": VM_CONFIG, "ADMIN": "http://127.0.0.1:9901",
          "LISTENER": "http://127.0.0.1:10000", "ACCESS_LOG": "/var/log/hotproxy/access.log"}


# --- the site: one HTTP listener in front of an application

def routes(tag):
    """``/`` to the application (tagged with ``x-config``), ``/down/`` to a cluster whose every
    connection is refused, ``/sleep/`` to the application with a 0.5 s timeout."""
    return {"name": "routes", "virtual_hosts": [{"name": "app", "domains": ["*"], "routes": [
        {"match": {"prefix": "/down/"}, "route": {"cluster": "down"}},
        {"match": {"prefix": "/sleep/"}, "route": {"cluster": "app", "timeout": "0.5s"}},
        {"match": {"prefix": "/"}, "route": {"cluster": "app"},
         "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]}]}]}


def hcm(stat_prefix, tag, access_log=None, health_check=False):
    filters = [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}]
    if health_check:
        filters.insert(0, {"name": "envoy.filters.http.health_check", "typed_config": {
            "@type": HEALTH_CHECK_TYPE, "pass_through_mode": False,
            "headers": [{"name": ":path", "string_match": {"exact": "/healthz"}}]}})
    config = {"@type": HCM_TYPE, "stat_prefix": stat_prefix, "route_config": routes(tag), "http_filters": filters}
    if access_log:
        config["access_log"] = [{"name": "envoy.access_loggers.file",
                                 "typed_config": {"@type": FILE_LOG_TYPE, "path": str(access_log)}}]
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}


def listener(name, port_name, filters, transport_socket=None, metadata=None):
    chain = {"filters": [filters]}
    if transport_socket:
        chain["transport_socket"] = transport_socket
    result = {"name": name, "address": {"socket_address": {"address": "127.0.0.1",
                                                           "port_value": f"{{port:{port_name}}}"}},
              "filter_chains": [chain]}
    if metadata:
        result["metadata"] = metadata
    return result


def tls_socket(common):
    return {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": TLS_TYPE, "common_tls_context": common}}


def site_config(ports, tag="v1", access_log=None, app_cluster=None, extra_listeners=()):
    """The ingress listener (health check on /healthz, reload probe on /ready through the
    application) and whatever ``extra_listeners`` add; ``ports``: the application's and the
    refusing one's (``Ports``); ``app_cluster`` replaces the application's cluster."""
    probe = {"filter_metadata": {"hotproxy.reload_probe": {"path": "/ready", "expected_status": 200}}}
    ingress = listener("ingress", "listen", hcm("ingress_http", tag, access_log, health_check=True), metadata=probe)
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {
            "listeners": [ingress, *extra_listeners],
            "clusters": [app_cluster or static_cluster("app", ports.app), static_cluster("down", ports.down)]}})


@dataclass
class Ports:
    app: int
    down: int


# --- hotproxy as a release, and its arbiters across hot restarts

class Release:
    """hotproxy installed the way a release is, so that a hot restart really runs other code: a
    venv of its own (the checkout venv's dependencies reached through a .pth file), the
    ``hotproxy`` command, and the package copied into site-packages under a version the test
    chooses. ``install(version)`` replaces the package as an upgrade does; what runs keeps the
    code it loaded."""

    def __init__(self, root: Path):
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.python = root / "bin" / "python"
        self.hotproxy = root / "bin" / "hotproxy"
        self.site = Path(subprocess.check_output(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
        (self.site / "checkout-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        self.hotproxy.write_text(f"#!{self.python}\nimport sys\nfrom hotproxy.cli import main\nsys.exit(main())\n")
        self.hotproxy.chmod(0o755)

    def install(self, version):
        staged, target = self.site / ".hotproxy.new", self.site / "hotproxy"
        shutil.copytree(ROOT / "hotproxy", staged, ignore=shutil.ignore_patterns("__pycache__"))
        init = staged / "__init__.py"
        init.write_text(init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "{version}"'))
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)


class Arbiters:
    """The arbiters a test started, followed across hot restarts through the admin interface,
    all stopped at the end. Each process started here is reaped as soon as it exits, as systemd
    or a container's init would, so that ``kill -0`` sees it gone."""

    def __init__(self):
        self.pids, self.logs = set(), []

    def start(self, argv, log_path, cwd):
        log = open(log_path, "ab")
        self.logs.append(log)
        process = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        self.pids.add(process.pid)
        threading.Thread(target=process.wait, daemon=True).start()
        return process

    def follow(self, admin_port):
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/server_info", timeout=10) as answer:
            self.pids.add(json.load(answer)["hotproxy"]["arbiter_pid"])

    def stop(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for log in self.logs:
            log.close()


def wait_for_text(path, needle, timeout=60, count=1):
    """Until ``needle`` is ``count`` times in the file at ``path`` (a log another process writes)."""
    deadline = time.monotonic() + timeout
    while (path.read_text(errors="replace") if path.exists() else "").count(needle) < count:
        assert time.monotonic() < deadline, f"{needle!r} not in {path}"
        time.sleep(0.1)


# --- TLS

def tls_listener(name, port_name, common):
    return listener(name, port_name, hcm(name, "v1"), transport_socket=tls_socket(common))


def sds_secret_file(path, cert, key):
    path.write_text(json.dumps({"resources": [{"@type": SECRET_TYPE, "name": "web-cert", "tls_certificate": {
        "certificate_chain": {"filename": str(cert)}, "private_key": {"filename": str(key)}}}]}))


def served_serial(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(raw, server_hostname="web.example.com") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


# --- reloads, as an operator sends them

def reloads_done(admin_port):
    counts = admin_stats(admin_port, r"^server\.reload_(total|failed)$")
    return counts["server.reload_total"] + counts["server.reload_failed"]


def reload_and_wait(admin_port, sig=signal.SIGHUP, timeout=120):
    """SIGHUP to the serving arbiter, as the operator did; returns once the reload has ended."""
    before = reloads_done(admin_port)
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/server_info", timeout=10) as answer:
        os.kill(json.load(answer)["hotproxy"]["arbiter_pid"], sig)
    deadline = time.monotonic() + timeout
    while reloads_done(admin_port) == before:
        assert time.monotonic() < deadline, "the reload did not end"
        time.sleep(0.2)


def last_reload(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/server_info", timeout=10) as answer:
        return json.load(answer)["hotproxy"]["last_reload"]



# --- the VM under systemd

def vm_config(body):
    """The VM's config: a listener answering ``body`` and logging to /var/log/hotproxy/access.log."""
    route = {"name": "routes", "virtual_hosts": [{"name": "app", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": body}}}]}]}
    manager = {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": HCM_TYPE, "stat_prefix": "ingress_http", "route_config": route,
        "access_log": [{"name": "envoy.access_loggers.file",
                        "typed_config": {"@type": FILE_LOG_TYPE, "path": VM_ENV["ACCESS_LOG"]}}],
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}]}}
    return json.dumps({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}},
        "static_resources": {
            "listeners": [{"name": "ingress", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 10000}},
                           "filter_chains": [{"filters": [manager]}]}],
            "clusters": [static_cluster("spare", 9)]}}, indent=1)
