"""A hotproxy that cannot start says what failed (the listener by name and address, the file, the
hot restart socket) and why, on stderr even when it logs to a file, and exits 1 before any
worker starts."""
import socket
import subprocess

from harness import (HOTPROXY, ROOT, RawClient, bootstrap, http_listener, next_base_id, render,
                     simple_routes, to_yaml, wait_for_port)

DIRECT = simple_routes({"match": {"prefix": "/"}, "direct_response": {"status": 200}})


def run(tmp_path, config_text, *args):
    """(exit status, stderr) of a hotproxy that is expected to fail at once."""
    config = tmp_path / "hotproxy.yaml"
    config.write_text(config_text)
    result = subprocess.run(HOTPROXY + ["-c", str(config), "-l", "debug", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    return result.returncode, result.stderr


def no_worker_started(stderr):
    return "started hotproxy: worker" not in stderr and "started hotproxy: flusher" not in stderr


def test_a_port_in_use_names_the_listener_and_its_address(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text, _ = render(bootstrap([http_listener("first", "free", DIRECT), http_listener("second", "taken", DIRECT)], []),
                         {"taken": port})
        status, stderr = run(tmp_path, text, "--base-id", str(next_base_id()))
    assert status == 1
    assert f"cannot start: listener 'second': cannot bind 127.0.0.1:{port}: Address already in use" in stderr
    assert "[Errno" not in stderr and no_worker_started(stderr)


def test_the_admin_port_in_use_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}},
                  "static_resources": {"listeners": [http_listener("l", "free", DIRECT)]}}
        status, stderr = run(tmp_path, render(to_yaml(config), {})[0], "--base-id", str(next_base_id()))
    assert status == 1 and f"cannot start: admin: cannot bind 127.0.0.1:{port}: Address already in use" in stderr
    assert no_worker_started(stderr)


def test_a_missing_config_file_is_named_on_stderr_when_logs_go_to_a_file(tmp_path):
    result = subprocess.run(HOTPROXY + ["-c", str(tmp_path / "absent.yaml"), "--log-path", str(tmp_path / "log"),
                                        "--base-id", str(next_base_id())],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr == (f"hotproxy: cannot start: cannot read '{tmp_path / 'absent.yaml'}': "
                             "No such file or directory\n")


def test_a_second_instance_on_the_same_base_id_names_the_socket_and_the_fix(tmp_path):
    base_id = next_base_id()
    text, ports = render(bootstrap([http_listener("l", "listen", DIRECT)], []), {})
    (tmp_path / "first.yaml").write_text(text)
    first = subprocess.Popen(HOTPROXY + ["-c", str(tmp_path / "first.yaml"), "--base-id", str(base_id)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(ports["listen"], process=first)
        other, _ = render(bootstrap([http_listener("l", "listen", DIRECT)], []), {})
        status, stderr = run(tmp_path, other, "--base-id", str(base_id))
        assert status == 1
        assert (f"the hot restart socket @hotproxy.{base_id}.0 is in use: another hotproxy runs epoch 0 with "
                f"--base-id {base_id} on this host. Give each instance its own --base-id") in stderr
        assert "Address already in use" not in stderr and no_worker_started(stderr)
        assert first.poll() is None and RawClient(ports["listen"]).request().status == 200
    finally:
        first.terminate()
        first.wait(10)


def test_a_socket_path_in_a_missing_directory_is_named(tmp_path):
    base_id = next_base_id()
    text, _ = render(bootstrap([http_listener("l", "listen", DIRECT)], []), {})
    status, stderr = run(tmp_path, text, "--base-id", str(base_id), "--socket-path", str(tmp_path / "absent" / "hr"))
    assert status == 1
    assert (f"cannot create the hot restart socket {tmp_path}/absent/hr.{base_id}.0: No such file or "
            "directory (see --socket-path)") in stderr


def test_a_socket_file_left_by_a_dead_epoch_is_replaced(tmp_path):
    base_id = next_base_id()
    left = tmp_path / f"hr.{base_id}.0"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(str(left))
    stale.close()                                   # the file stays; nobody accepts on it
    text, ports = render(bootstrap([http_listener("l", "listen", DIRECT)], []), {})
    (tmp_path / "c.yaml").write_text(text)
    process = subprocess.Popen(HOTPROXY + ["-c", str(tmp_path / "c.yaml"), "--base-id", str(base_id),
                                           "--socket-path", str(tmp_path / "hr")], cwd=ROOT)
    try:
        wait_for_port(ports["listen"], process=process)
        assert RawClient(ports["listen"]).request().status == 200
        process.terminate()
        assert process.wait(10) == 0
        assert not left.exists()                    # an epoch takes its own socket file along
    finally:
        process.kill()
