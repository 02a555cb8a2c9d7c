"""Every step of docs/runbooks/ runs here (runbook_blocks.py says how blocks are found and checked).

The ``sh`` blocks run on this machine against a real hotproxy started by the test, on ephemeral
ports with its own --base-id, in front of real upstream servers, with certificates made at test
time. Between the steps the test does what the runbook says the operator has done (written a
candidate config, renewed a certificate, broken something) and checks what the runbook promises
beyond the printed output. The ``sh systemd`` blocks run in order in a container whose PID 1 is
a real systemd, with hotproxy installed by scripts/install.sh (test_systemd_blocks). What the
tests operate is in runbook_site.py."""
from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import psutil

import pytest

from certs import CA
from harness import Proxy, ROOT, Upstream, next_base_id, read_lines, refused_port, render, static_cluster, wait_for_port
from runbook_blocks import (LOCAL, SYSTEMD, RunbookFormatError, Walk, mismatch, parse, run_in_container, run_local,
                            runbook_paths)
from runbook_site import (VM_CONFIG, VM_ENV, Arbiters, Ports, Release, hcm, last_reload, listener, reload_and_wait,
                          sds_secret_file, served_serial, site_config, tls_listener, vm_config, wait_for_text)

HOTPROXY = str(Path(sys.prefix) / "bin" / "hotproxy")

for tool in ("curl", "jq", "openssl"):
    if shutil.which(tool) is None:
        raise RuntimeError(f"the runbooks need {tool}: apt-get install {tool}")


# --- fixtures

@pytest.fixture
def app():
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture
def ports(app):
    return Ports(app.port, refused_port())


@pytest.fixture
def sites(tmp_path):
    """``sites(config_text, *flags, name=...)``: a hotproxy with two workers on the config (its
    ``{port:name}`` placeholders made free ports), in a directory of its own, serving."""
    started = []

    def start(text, *extra_args, name="site"):
        directory = tmp_path / name
        directory.mkdir()
        text, ports = render(text, {})
        proxy = Proxy(text, directory, ports, ["--concurrency", "2", *extra_args])
        started.append(proxy)
        for port in ports.values():
            wait_for_port(port, timeout=30, process=proxy.process)
        proxy.wait_until_serving()
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


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

def serves(port, tag, timeout=10):
    """Whether fresh connections get the config tagged ``tag`` (within ``timeout``: a worker of the
    generation before may take a connection in the moment before it learns that it drains)."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            if answer.headers.get("x-config") == tag:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def test_deploy_config(sites, ports, tmp_path):
    proxy = sites(site_config(ports, "v1"))
    env = env_for(proxy, tmp_path)
    walk = local_walk("deploy-config.md", env, tmp_path)
    write_rendered(Path(env["NEW"]), site_config(ports, "v2"), proxy)

    walk.step("--mode validate")
    walk.step("--mode diff")
    walk.step('cp "$NEW"')
    assert Path(env["CONFIG"]).read_text() == Path(env["NEW"]).read_text()
    walk.step("kill -HUP")
    assert serves(proxy.port("listen"), "v2")
    walk.step("/server_info")
    walk.step('cp "$CONFIG.previous"')
    assert serves(proxy.port("listen"), "v1")
    walk.done()


@pytest.fixture
def arbiters():
    started = Arbiters()
    yield started
    started.stop()


def test_upgrade(ports, arbiters, client_factory, tmp_path):
    release = Release(tmp_path / "opt")
    release.install("0.1.0")
    text, rendered = render(site_config(ports), {})
    config = tmp_path / "envoy.yaml"
    config.write_text(text)
    log = tmp_path / "hotproxy.log"
    arbiters.start([str(release.hotproxy), "-c", str(config), "--concurrency", "2", "--base-id",
                    str(next_base_id()), "--parent-shutdown-time-s", "20"], log, tmp_path)
    wait_for_text(log, "] serving: ")
    admin = rendered["admin"]
    env = dict(os.environ, HOTPROXY=str(release.hotproxy), CONFIG=str(config), LOG=str(log),
               ADMIN=f"http://127.0.0.1:{admin}", LISTENER=f"http://127.0.0.1:{rendered['listen']}")
    walk = local_walk("upgrade.md", env, tmp_path)
    kept = client_factory(rendered["listen"])
    assert kept.request().status == 200

    walk.step("server_info")
    release.install("0.1.1")                      # step 2, as docs/install.md does it
    walk.step("/hot_restart_version")
    walk.step("kill -USR2")
    arbiters.follow(admin)
    assert kept.request().status == 200           # the idle keep-alive connection moved across
    walk.step("hot_restart_epoch")
    walk.step("kill -0")
    assert "serving: 2 workers, generation 1, epoch 1" in log.read_text()

    release.install("0.1.0")
    walk.step("kill -USR2")
    arbiters.follow(admin)
    assert kept.request().status == 200

    restarter_site(walk, ports, arbiters, tmp_path)
    walk.done()


def restarter_site(walk, ports, arbiters, tmp_path):
    """The last section: a site under hotproxy-restarter (the checkout's hotproxy)."""
    text, rendered = render(site_config(ports), {})
    config = tmp_path / "restarter.yaml"
    config.write_text(text)
    log = tmp_path / "restarter.log"
    restarter = arbiters.start([sys.executable, "-m", "hotproxy.process.restarter", "--", HOTPROXY, "-c", str(config),
                                "--concurrency", "1", "--base-id", str(next_base_id())], log, ROOT)
    wait_for_text(log, "] serving: ")
    wait_for_port(rendered["listen"])
    arbiters.follow(rendered["admin"])
    walk._runner = lambda block: run_local(block, dict(
        os.environ, ADMIN=f"http://127.0.0.1:{rendered['admin']}", RESTARTER_PID=str(restarter.pid)), tmp_path)
    walk.step('kill -HUP "$RESTARTER_PID"')
    arbiters.follow(rendered["admin"])


def test_drain_host(sites, ports, client_factory, tmp_path):
    proxy = sites(site_config(ports), "--drain-time-s", "2")
    walk = local_walk("drain-host.md", env_for(proxy, tmp_path), tmp_path)
    idle = client_factory(proxy.port("listen"))
    assert idle.request().status == 200

    walk.step("/healthcheck/fail")
    walk.step("/drain_listeners?graceful")
    walk.step("server.total_connections")
    assert idle.is_closed(wait=5)           # the idle keep-alive connection was closed for it
    walk.step("/healthcheck/ok")
    walk.done()


def test_rotate_certificates(sites, ports, tmp_path):
    ca = CA()
    cert_dir, sds_dir, incoming = tmp_path / "certs", tmp_path / "sds", tmp_path / "incoming"
    for directory in (cert_dir, sds_dir, incoming):
        directory.mkdir()
    ca.write(cert_dir)
    ca.issue("web", dns=["web.example.com"]).write(cert_dir, "server")
    renewed = ca.issue("web renewed", dns=["web.example.com"])
    new_cert, new_key = renewed.write(incoming, "renewed")
    files = {"tls_certificates": [{"certificate_chain": {"filename": str(cert_dir / "server.pem")},
                                   "private_key": {"filename": str(cert_dir / "server.key")}}]}
    # section A: a listener whose certificate is named by file
    site_a = sites(site_config(ports, extra_listeners=[tls_listener("web_tls", "tls", files)]))
    env = env_for(site_a, tmp_path, CA=cert_dir / "ca.pem", CERT_DIR=cert_dir, SNI="web.example.com",
                  TLS_ADDR=f"127.0.0.1:{site_a.port('tls')}", NEW_CERT=new_cert, NEW_KEY=new_key)
    walk = local_walk("rotate-certificates.md", env, tmp_path)
    walk.step("/certs")
    walk.step('mv "$NEW_CERT"')
    walk.step("--mode diff")
    walk.step("kill -HUP")
    assert served_serial(site_a.port("tls")) == renewed.cert.serial_number

    # section B: a listener whose certificate comes from an SDS file source
    ca.issue("web sds", dns=["web.example.com"]).write(cert_dir, "sds")
    sds_secret_file(sds_dir / "secret.yaml", cert_dir / "sds.pem", cert_dir / "sds.key")
    source = {"path_config_source": {"path": str(sds_dir / "secret.yaml"), "watched_directory": {"path": str(sds_dir)}}}
    sds = {"tls_certificate_sds_secret_configs": [{"name": "web-cert", "sds_config": source}]}
    site_b = sites(site_config(ports, extra_listeners=[tls_listener("web_sds", "sds", sds)]), name="site-sds")
    generations = site_b.log().count("serving (")
    renewed_again = ca.issue("web sds renewed", dns=["web.example.com"])
    new_cert, new_key = renewed_again.write(incoming, "renewed-sds")
    env.update(env_for(site_b, tmp_path), SDS_DIR=str(sds_dir), SDS_ADDR=f"127.0.0.1:{site_b.port('sds')}",
               NEW_CERT=str(new_cert), NEW_KEY=str(new_key))
    walk.step('mv "$SDS_DIR/.secret.yaml.new"')
    walk.step("rotated secrets applied")
    assert served_serial(site_b.port("sds")) == renewed_again.cert.serial_number
    assert site_b.log().count("serving (") == generations        # no reload
    walk.done()


def test_rotate_logs(sites, ports, tmp_path):
    access_log = tmp_path / "access.log"
    proxy = sites(site_config(ports, access_log=access_log))
    walk = local_walk("rotate-logs.md", env_for(proxy, tmp_path, ACCESS_LOG=access_log), tmp_path)
    urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('listen')}/before-rotation", timeout=10).read()
    wait_for_text(access_log, "/before-rotation")
    walk.step("kill -USR1")
    assert "/after-rotation" not in (tmp_path / "access.log.1").read_text()
    assert "/before-rotation" not in access_log.read_text()
    walk.done()


def stop_zygote(arbiter):
    """Kill the arbiter's zygote (process/zygote.py): the next reload starts workers by fork+exec,
    from the code on disk, and starts a new zygote."""
    for child in psutil.Process(arbiter.pid).children():
        try:
            zygote = child.cmdline()[:1] == ["hotproxy: zygote"]
        except psutil.Error:        # a worker that has just exited (a zombie until reaped)
            continue
        if zygote:
            child.kill()
            child.wait(10)


def test_reload_failures(ports, arbiters, client_factory, tmp_path):
    release = Release(tmp_path / "opt")
    release.install("0.1.0")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    good, rendered = render(site_config(ports), {"busy": busy.getsockname()[1]})
    config, log = tmp_path / "envoy.yaml", tmp_path / "hotproxy.log"
    config.write_text(good)
    arbiter = arbiters.start([str(release.hotproxy), "-c", str(config), "--concurrency", "2", "--base-id",
                              str(next_base_id())], log, tmp_path)
    wait_for_text(log, "] serving: ")
    admin = rendered["admin"]
    env = dict(os.environ, HOTPROXY=str(release.hotproxy), CONFIG=str(config), LOG=str(log),
               ADMIN=f"http://127.0.0.1:{admin}", LISTENER=f"http://127.0.0.1:{rendered['listen']}")
    walk = local_walk("reload-failures.md", env, tmp_path)

    def serves_v1():
        assert client_factory(rendered["listen"]).request().header("x-config") == "v1"

    def restore():
        config.write_text(good)
        reload_and_wait(admin)
        assert last_reload(admin)["result"] == "ok"
        serves_v1()

    bad_timeout = good.replace('"connect_timeout": "1s"', '"connect_timeout": "5"', 1)
    config.write_text(bad_timeout)
    reload_and_wait(admin)
    walk.step("/server_info")
    walk.step("--mode validate")
    serves_v1()
    restore()

    extra = listener("extra", "busy", hcm("extra", "v2"))
    config.write_text(render(site_config(ports, extra_listeners=[extra]), rendered)[0])
    reload_and_wait(admin)
    walk.step("ss -ltnpH")
    restore()

    # The zygote the earlier reloads started forks workers with none of the arbiter's descriptors.
    # Gone, it is started again by the next reload, whose own workers start by fork+exec: the
    # arbiter runs out of descriptors there, as it did before there was a zygote.
    stop_zygote(arbiter)
    open_now = len(os.listdir(f"/proc/{arbiter.pid}/fd"))
    resource.prlimit(arbiter.pid, resource.RLIMIT_NOFILE, (open_now + 2, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    reload_and_wait(admin)
    assert last_reload(admin)["reason"] == "workers could not be started: [Errno 24] Too many open files"
    walk.step("prlimit")
    restore()                                     # the raised limit lets the next reload start its workers

    worker = release.site / "hotproxy" / "process" / "worker.py"
    worker.write_text(worker.read_text() + "\ndef half_written(:\n")
    stop_zygote(arbiter)        # else its workers run the code it imported: the reload would work
    reload_and_wait(admin)
    reason = last_reload(admin)["reason"]        # at once, not after 30 s: a worker exited starting
    assert "did not become ready: hotproxy: worker" in reason and reason.endswith("exited with 1 before it was ready")
    walk.step("Error")
    release.install("0.1.0")
    serves_v1()
    restore()

    config.write_text(render(site_config(ports, app_cluster=static_cluster("app", ports.down)), rendered)[0])
    reload_and_wait(admin)
    assert last_reload(admin)["result"] == "rolled_back"
    walk.step("--mode diff")
    serves_v1()
    restore()

    config.write_text(bad_timeout)
    os.kill(arbiter.pid, signal.SIGUSR2)
    wait_for_text(log, "this epoch serves on")
    walk.step("this epoch serves on")
    serves_v1()

    config.write_text(good)
    starting = log.read_text().count("SIGUSR2: starting epoch 1")
    os.kill(arbiter.pid, signal.SIGUSR2)
    wait_for_text(log, "SIGUSR2: starting epoch 1", count=starting + 1)
    os.kill(arbiter.pid, signal.SIGUSR2)           # while epoch 1 starts (a Python process takes seconds)
    wait_for_text(log, "hot restart refused")
    walk.step("hot restart refused")
    arbiters.follow(admin)
    serves_v1()
    walk.done()
    busy.close()


def test_incident_stats(sites, ports, client_factory, tmp_path):
    access_log = tmp_path / "access.log"
    proxy = sites(site_config(ports, access_log=access_log))
    walk = local_walk("incident-stats.md", env_for(proxy, tmp_path, ACCESS_LOG=access_log), tmp_path)
    assert client_factory(proxy.port("listen")).request(path="/").status == 200
    assert client_factory(proxy.port("listen")).request(path="/down/x").status == 503
    assert client_factory(proxy.port("listen")).request(path="/sleep/3000").status == 504
    read_lines(access_log, 3)

    walk.step("/server_info")
    walk.step("downstream_(rq_total")
    walk.step("upstream_cx_connect_fail")
    walk.step("uniq -c")
    walk.step("respawned")
    walk.done()


# --- the sh systemd blocks, on a VM install under a real systemd

#: the runbooks with ``sh systemd`` blocks, in the order test_systemd_blocks walks them
SYSTEMD_RUNBOOKS = ("deploy-config.md", "reload-failures.md", "upgrade.md", "rotate-logs.md")


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    """A container whose PID 1 is systemd, with hotproxy installed by scripts/install.sh as on a
    VM (integration/systemd_container.py, the Docker harness's), serving vm_config("v1")."""
    docker = pytest.importorskip("docker")
    sys.path.append(str(ROOT / "integration"))
    from images import base_image, remove_labelled
    from systemd_container import SystemdHost, build_wheels
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # no engine, no socket, no permission
        pytest.skip(f"no Docker engine: {exc}")
    run = "runbooks-" + os.urandom(4).hex()
    wheels = tmp_path_factory.mktemp("wheels")
    release, _upgrade = build_wheels(wheels)
    try:
        host = SystemdHost(client, base_image(client), run, tmp_path_factory.mktemp("systemd"), wheels)
        host.wait_booted()
        host.write(VM_CONFIG, vm_config("v1"))
        host.install_sh("install", "--wheel", release)
        host.sh("mkdir -p /var/lib/logrotate")        # what Debian's logrotate package makes
        yield host
    finally:
        remove_labelled(client, run)


def vm_get(vm, path="/"):
    return vm.sh(f"curl -s {VM_ENV['LISTENER']}{path}")


def vm_reload(vm):
    """``systemctl reload``, as the operator did, then until the reload has ended."""
    done = "curl -s 'http://127.0.0.1:9901/stats?filter=^server\\.reload_(total|failed)$'"
    before = vm.sh(done)
    vm.sh("systemctl reload hotproxy")
    vm.wait_for(lambda: vm.sh(done) != before, "the reload to end", timeout=90)


def test_systemd_blocks(vm):
    walks = {name: Walk(name, SYSTEMD, lambda block: run_in_container(vm.container, block, VM_ENV))
             for name in SYSTEMD_RUNBOOKS}
    assert vm_get(vm) == "v1"

    vm.write(VM_CONFIG, vm_config("v2"))
    walks["deploy-config.md"].step("systemctl reload")
    vm.wait_for(lambda: vm_get(vm) == "v2", "the new config answering")

    vm.write(VM_CONFIG, vm_config("v2").replace('"connect_timeout": "1s"', '"connect_timeout": "5"'))
    vm_reload(vm)
    walks["reload-failures.md"].step("StatusText")
    assert vm_get(vm) == "v2"
    vm.write(VM_CONFIG, vm_config("v2"))
    vm_reload(vm)

    walks["upgrade.md"].step("SIGUSR2")
    assert vm_get(vm) == "v2"

    vm.sh(f"until [ -s {VM_ENV['ACCESS_LOG']} ]; do curl -s -o /dev/null {VM_ENV['LISTENER']}/; sleep 1; done")
    walks["rotate-logs.md"].step("logrotate --force")
    assert "/after-rotation" not in vm.sh(f"cat {VM_ENV['ACCESS_LOG']}.1")
    for walk in walks.values():
        walk.done()


# --- the conventions themselves

def test_every_runbook_has_a_test_and_an_index_entry():
    """A runbook's sh blocks are walked by test_<its name>, its sh systemd blocks by
    test_systemd_blocks; each walk fails on a block it did not run (Walk.done)."""
    tested = {name for name in globals() if name.startswith("test_")}
    index = (Path(runbook_paths()[0]).parent / "README.md").read_text()
    for path in runbook_paths():
        kinds = {block.kind for block in parse(path)}
        assert LOCAL in kinds, f"{path.name} has no sh block"
        assert f"test_{path.stem.replace('-', '_')}" in tested, f"{path.name} has no test here"
        assert (SYSTEMD in kinds) == (path.name in SYSTEMD_RUNBOOKS), \
            f"{path.name}: its sh systemd blocks and SYSTEMD_RUNBOOKS disagree"
        assert f"]({path.name})" in index, f"{path.name} is not in docs/runbooks/README.md"


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
