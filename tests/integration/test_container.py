"""Hot restart inside a container, with hotproxy-restarter as PID 1 and no /dev/shm (where Envoy's
hot restart fails, so AWS ships it disabled). The image is the tiny base of
../shared/research/docker-offline.md (recipe b1): the host's /usr, Python and this checkout are
bind-mounted read-only, so no registry and no build step are needed. Skipped without Docker."""
import io
import json
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

docker = pytest.importorskip("docker")

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: 9901}}
static_resources:
  listeners:
  - name: http
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                direct_response: {status: 200, body: {inline_string: "hello"}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"""
# Run inside the container: one GET, printed as "status body"; and the serving arbiter's pid.
GET = ("import urllib.request,sys;r=urllib.request.urlopen('http://127.0.0.1:'+sys.argv[1]+sys.argv[2],timeout=5);"
       "print(r.status, r.read().decode())")


def _client():
    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:  # no engine, no socket, no permission
        pytest.skip(f"no Docker engine: {exc}")


def _base_image(client):
    """A 54 KB image: directories, merged-/usr links and the few /etc files libraries read."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def directory(name, mode=0o755):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def link(name, target):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)

        for name in ("etc", "proc", "sys", "dev", "run", "root", "var", "var/lib", "opt", "usr", "sbin"):
            directory(name)
        directory("tmp", 0o1777)
        for name in ("bin", "lib", "lib64"):
            link(name, "usr/" + name)
        for path in ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ld.so.cache"):
            tar.add(path, arcname=path[1:])
    client.api.import_image_from_data(buf.getvalue(), repository="hotproxy-it-base", tag="1",
                                      changes=["ENV PATH=/usr/local/bin:/usr/bin:/bin"])
    return client.images.get("hotproxy-it-base:1")


def _run(container, *argv):
    code, output = container.exec_run(list(argv))
    return code, output.decode(errors="replace").strip()


def test_hot_restart_with_the_restarter_as_pid_1_and_no_dev_shm(tmp_path):
    client = _client()
    image = _base_image(client)
    (tmp_path / "hotproxy.yaml").write_text(CONFIG)
    mounts = {path: {"bind": path, "mode": "ro"} for path in {"/usr", sys.base_prefix, sys.prefix, str(ROOT)}}
    mounts[str(tmp_path)] = {"bind": "/config", "mode": "ro"}
    python = sys.executable
    container = client.containers.run(
        image.id, [python, "-m", "hotproxy.process.restarter", "--", python, "-m", "hotproxy",
                   "-c", "/config/hotproxy.yaml", "--concurrency", "1", "--base-id", "3"],
        name=f"hotproxy-it-{uuid.uuid4().hex[:8]}", labels={"hotproxy-it": "1"}, detach=True,
        volumes=mounts, working_dir=str(ROOT), ipc_mode="none", network_mode="none",
        environment={"PYTHONDONTWRITEBYTECODE": "1"})
    try:
        def get(port, path):
            return _run(container, python, "-c", GET, str(port), path)

        deadline = time.monotonic() + 30
        while get(10000, "/") != (0, "200 hello"):
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.2)
        assert _run(container, "/bin/sh", "-c", "test -e /dev/shm")[0] != 0, "the container has a /dev/shm"
        first_pid = json.loads(get(9901, "/server_info")[1].split(" ", 1)[1])["hotproxy"]["arbiter_pid"]

        container.kill(signal="SIGHUP")  # to PID 1: the restarter starts epoch 1
        deadline = time.monotonic() + 30
        while True:
            code, out = get(9901, "/server_info")
            if code == 0 and json.loads(out.split(" ", 1)[1])["hotproxy"]["arbiter_pid"] != first_pid:
                break
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.2)
        assert get(10000, "/") == (0, "200 hello")

        container.stop(timeout=20)  # SIGTERM to PID 1, forwarded to every epoch
        assert container.wait(timeout=30)["StatusCode"] == 0, container.logs().decode()
        logs = container.logs().decode()
        assert "epoch 0 exited with 0" in logs and "epoch 1 exited with 0" in logs
    finally:
        container.remove(force=True)
