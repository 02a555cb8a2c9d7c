"""Hot restart inside a container, with hotproxy-restarter as PID 1 and no /dev/shm (where Envoy's
hot restart fails, so AWS ships it disabled). The image is the tiny base of
../shared/research/docker-offline.md (recipe b1): the host's /usr, Python and this checkout are
bind-mounted read-only, so no registry and no build step are needed. Skipped without Docker."""
import json
import sys
import time

from images import LABEL, ROOT, host_mounts

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


def _run(container, *argv):
    code, output = container.exec_run(list(argv))
    return code, output.decode(errors="replace").strip()


def test_hot_restart_with_the_restarter_as_pid_1_and_no_dev_shm(tmp_path, docker_client, harness_image,
                                                              run_label):
    client, image = docker_client, harness_image
    (tmp_path / "hotproxy.yaml").write_text(CONFIG)
    mounts = host_mounts()
    mounts[str(tmp_path)] = {"bind": "/config", "mode": "ro"}
    python = sys.executable
    container = client.containers.run(
        image.id, [python, "-m", "hotproxy.process.restarter", "--", python, "-m", "hotproxy",
                   "-c", "/config/hotproxy.yaml", "--concurrency", "1", "--base-id", "3"],
        name=f"hotproxy-it-{run_label}", labels={LABEL: run_label}, detach=True,
        volumes=mounts, working_dir=str(ROOT), ipc_mode="none", network_mode="none",
        environment={"PYTHONDONTWRITEBYTECODE": "1"})
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
