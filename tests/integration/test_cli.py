"""The hotproxy command line: validate mode, startup failures, clean shutdown."""
import signal
import subprocess

from harness import HOTPROXY, ROOT, bootstrap, http_listener, render, simple_routes, wait_for_port


def run(*args):
    return subprocess.run(HOTPROXY + list(args), cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_validate_accepts_the_quickstart():
    result = run("--mode", "validate", "-c", "deploy/quickstart.yaml")
    assert result.returncode == 0
    assert "OK" in result.stdout


def test_validate_names_every_bad_field(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("""
static_resources:
  clusters:
  - name: c
    connect_timeout: 5
    lb_policy: ROUND_ROBBIN
    bogus: 1
""")
    result = run("--mode", "validate", "-c", str(config))
    assert result.returncode == 1
    assert "static_resources.clusters[0].connect_timeout" in result.stderr
    assert "static_resources.clusters[0].lb_policy" in result.stderr and "ROUND_ROBBIN" in result.stderr
    assert "static_resources.clusters[0].bogus: unknown field" in result.stderr


def test_validate_reports_a_route_to_a_missing_cluster_and_a_bad_regex(tmp_path):
    routes = simple_routes({"match": {"safe_regex": {"regex": "(unclosed"}}, "route": {"cluster": "nowhere"}})
    config = tmp_path / "bad.yaml"
    config.write_text(bootstrap([http_listener("l", "listen", routes)], [])
                      .replace("{port:listen}", "10000"))
    result = run("--mode", "validate", "-c", str(config))
    assert result.returncode == 1
    assert "routes[0].route.cluster" in result.stderr and "nowhere" in result.stderr
    assert "routes[0].match.safe_regex.regex" in result.stderr


def test_unknown_fields_and_unsupported_ones_are_told_apart(tmp_path):
    config = tmp_path / "x.yaml"
    config.write_text("static_resources: {}\ntracing: {}\nfrobnicate: 1\n")
    result = run("--mode", "validate", "-c", str(config))
    assert result.returncode == 1
    assert "tracing: not supported by hotproxy yet" in result.stderr
    assert "frobnicate: unknown field" in result.stderr


def test_missing_config_file_is_a_clear_error():
    result = run("-c", "/nonexistent/hotproxy.yaml")
    assert result.returncode == 1 and "/nonexistent/hotproxy.yaml" in result.stderr


def test_a_port_in_use_fails_startup_with_the_reason(tmp_path):
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        routes = simple_routes({"match": {"prefix": "/"}, "direct_response": {"status": 200}})
        text, _ = render(bootstrap([http_listener("l", "listen", routes)], []), {"listen": taken.getsockname()[1]})
        config = tmp_path / "c.yaml"
        config.write_text(text)
        result = run("-c", str(config))
        assert result.returncode == 1 and "Address already in use" in result.stderr
    finally:
        taken.close()


def test_sigterm_stops_the_proxy(tmp_path):
    routes = simple_routes({"match": {"prefix": "/"}, "direct_response": {"status": 200}})
    text, ports = render(bootstrap([http_listener("l", "listen", routes)], []), {})
    config = tmp_path / "c.yaml"
    config.write_text(text)
    process = subprocess.Popen(HOTPROXY + ["-c", str(config)], cwd=ROOT)
    try:
        wait_for_port(ports["listen"], process=process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
