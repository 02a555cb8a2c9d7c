"""Every step of docs/runbooks/ runs here (runbook_blocks.py says how blocks are found and checked).

The ``sh`` blocks run on this machine against a real hotproxy started by the test, on ephemeral
ports with its own --base-id, in front of real upstream servers, with certificates made at test
time. Between the steps the test does what the runbook says the operator has done (written a
candidate config, renewed a certificate, broken something) and checks what the runbook promises
beyond the printed output. The ``sh systemd`` blocks run in order in a container whose PID 1 is
a real systemd, on the shipped systemd/hotproxy.service (test_systemd_blocks)."""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from certs import CA
from harness import (HCM_TYPE, ROUTER_TYPE, Upstream, refused_port, render, static_cluster, to_yaml,
                     wait_for_log)
from runbook_blocks import LOCAL, RunbookFormatError, Walk, mismatch, parse, run_local, runbook_paths

HOTPROXY = str(Path(sys.prefix) / "bin" / "hotproxy")
TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
HEALTH_CHECK_TYPE = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"
FILE_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

for tool in ("curl", "jq", "openssl"):
    if shutil.which(tool) is None:
        raise RuntimeError(f"the runbooks need {tool}: apt-get install {tool}")


# --- the site the runbooks operate: one HTTP listener in front of an application

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


@pytest.fixture
def app():
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture
def ports(app):
    return Ports(app.port, refused_port())


def start_site(proxy_factory, text, *extra_args):
    proxy = proxy_factory(text, extra_args=["--concurrency", "2", *extra_args])
    wait_for_log(proxy, "] serving: ")
    return proxy


def env_for(proxy, tmp_path, **extra):
    env = dict(os.environ)
    env.update(HOTPROXY=HOTPROXY, CONFIG=str(proxy.config_path), LOG=str(proxy.log_path),
               ADMIN=f"http://127.0.0.1:{proxy.port('admin')}", LISTENER=f"http://127.0.0.1:{proxy.port('listen')}",
               NEW=str(tmp_path / "envoy.yaml.new"))
    env.update({key: str(value) for key, value in extra.items()})
    return env


def local_walk(name, env, cwd):
    return Walk(name, LOCAL, lambda block: run_local(block, env, cwd))


def write_rendered(path, text, proxy):
    path.write_text(render(text, proxy.ports)[0])


# --- the runbooks

def test_deploy_config(proxy_factory, ports, client_factory, tmp_path):
    proxy = start_site(proxy_factory, site_config(ports, "v1"))
    env = env_for(proxy, tmp_path)
    walk = local_walk("deploy-config.md", env, tmp_path)
    write_rendered(Path(env["NEW"]), site_config(ports, "v2"), proxy)

    walk.step("--mode validate")
    walk.step("--mode diff")
    walk.step('cp "$NEW"')
    assert Path(env["CONFIG"]).read_text() == Path(env["NEW"]).read_text()
    walk.step("kill -HUP")
    assert client_factory(proxy.port("listen")).request().header("x-config") == "v2"
    walk.step("/server_info")
    walk.step('cp "$CONFIG.previous"')
    assert client_factory(proxy.port("listen")).request().header("x-config") == "v1"
    walk.done()


# --- the conventions themselves

def test_every_runbook_has_a_test_and_an_index_entry():
    tested = {name for name in globals() if name.startswith("test_")}
    index = (Path(runbook_paths()[0]).parent / "README.md").read_text()
    for path in runbook_paths():
        assert f"test_{path.stem.replace('-', '_')}" in tested, f"{path.name} has no test here"
        assert f"]({path.name})" in index, f"{path.name} is not in docs/runbooks/README.md"
        assert parse(path), f"{path.name} has no sh block"


def test_output_lines_match_in_order_with_ellipses():
    output = "first line\nsecond: 42\nthird\n"
    assert mismatch(("first ...", "second: ..."), output) is None
    assert mismatch(("second: ...", "first line"), output) == "no line matching 'first line' (in order)"
    assert mismatch(("second: 4",), output) is not None        # a whole line, not a prefix


def test_a_malformed_block_is_refused(tmp_path):
    path = tmp_path / "x.md"
    with pytest.raises(RunbookFormatError, match="unknown word 'sytemd'"):
        parse(path, "```sh sytemd\nls\n```\n")
    with pytest.raises(RunbookFormatError, match="must follow a sh block"):
        parse(path, "```sh\nls\n```\n```yaml\na: 1\n```\n```output\nx\n```\n")
    with pytest.raises(RunbookFormatError, match="unclosed"):
        parse(path, "```sh\nls\n")
    blocks = parse(path, "```sh status=1\nfalse\n```\nYou should see:\n```output\nx\n```\n```sh systemd\nls\n```\n")
    assert [(b.kind, b.status, b.expected) for b in blocks] == [("local", 1, ("x",)), ("systemd", 0, None)]
