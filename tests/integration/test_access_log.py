"""Access logs through the flusher process: every request logged, across reloads and rotations."""
import json
import os
import signal
import socket
import time

from harness import RawClient, accept_each, bootstrap, http_listener, read_lines, render, simple_routes, static_cluster, TCP_PROXY_TYPE

FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"


def logged_config(upstream_port, path, tag="a", log_format=None):
    access_log = {"name": "envoy.access_loggers.file", "typed_config": {"@type": FILE_LOG, "path": str(path)}}
    if log_format is not None:
        access_log["typed_config"]["log_format"] = log_format
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"},
             "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]}
    routes = simple_routes(route)
    routes["virtual_hosts"][0]["routes"].insert(0, {"match": {"path": "/missing"}, "direct_response": {"status": 404}})
    return bootstrap([http_listener("http", "listen", routes, {"access_log": [access_log]})],
                     [static_cluster("backend", upstream_port)])


def test_default_format_lines_like_envoy(proxy_factory, upstream, tmp_path):
    log_path = tmp_path / "access.log"
    proxy = proxy_factory(logged_config(upstream.port, log_path), extra_args=["--concurrency", "1"])
    client = RawClient(proxy.port("listen"))
    client.request("GET", "/hello?x=1", [("Host", "example.com"), ("User-Agent", "probe/1"), ("X-Request-Id", "rid-1")])
    client.request("POST", "/missing", body=b"abc")
    first, second = read_lines(log_path, 2)
    assert first.startswith("[") and '] "GET /hello?x=1 HTTP/1.1" 200 - 0 ' in first
    assert first.endswith(' "-" "probe/1" "rid-1" "example.com" "127.0.0.1:%d"' % upstream.port)
    assert '"POST /missing HTTP/1.1" 404 - ' in second
    assert int(second.split('" 404 - ')[1].split()[2]) < 500  # logged before the delayed close


def test_json_format_and_response_flags(proxy_factory, upstream, tmp_path):
    log_path = tmp_path / "access.json"
    log_format = {"json_format": {"code": "%RESPONSE_CODE%", "flags": "%RESPONSE_FLAGS%", "cluster": "%UPSTREAM_CLUSTER%",
                                  "path": "%REQ(:PATH)%", "sent": "%BYTES_SENT%"}}
    proxy = proxy_factory(logged_config(upstream.port, log_path, log_format=log_format), extra_args=["--concurrency", "1"])
    client = RawClient(proxy.port("listen"))
    client.request("GET", "/json")
    client.request("GET", "/missing")
    ok, missing = (json.loads(line) for line in read_lines(log_path, 2))
    assert ok["code"] == 200 and ok["flags"] == "-" and ok["cluster"] == "backend" and ok["path"] == "/json"
    assert ok["sent"] > 0
    assert missing["code"] == 404


def test_no_line_is_lost_across_reloads_and_rotation(proxy_factory, upstream, tmp_path):
    log_path = tmp_path / "access.log"
    proxy = proxy_factory(logged_config(upstream.port, log_path), extra_args=["--concurrency", "2"])
    sent = 0
    client = RawClient(proxy.port("listen"))
    for round_number in range(3):
        for _ in range(50):
            assert client.request("GET", "/r").status == 200
            sent += 1
        text, _ = render(logged_config(upstream.port, log_path, tag=f"v{round_number}"), proxy.ports)
        proxy.config_path.write_text(text)
        proxy.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while proxy.log().count("serving (") < round_number + 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    read_lines(log_path, sent)
    rotated = tmp_path / "access.log.1"
    os.rename(log_path, rotated)
    proxy.process.send_signal(signal.SIGUSR1)   # logrotate's postrotate
    time.sleep(0.5)
    for _ in range(20):
        assert client.request("GET", "/after-rotation").status == 200
    new_lines = read_lines(log_path, 20)
    assert len(read_lines(rotated, sent)) == sent and len(new_lines) == 20


def test_tcp_proxy_access_log(proxy_factory, tmp_path):
    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen()

    def answer(conn):
        with conn:
            if conn.recv(100) == b"12345":
                conn.sendall(b"xy")

    accept_each(sink, answer)
    log_path = tmp_path / "tcp.log"
    access_log = {"name": "log", "typed_config": {"@type": FILE_LOG, "path": str(log_path), "log_format": {
        "text_format_source": {"inline_string": "%UPSTREAM_HOST% %BYTES_RECEIVED% %BYTES_SENT%\n"}}}}
    tcp = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "sink", "access_log": [access_log]}
    config = bootstrap([{"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                         "filter_chains": [{"filters": [{"name": "tcp", "typed_config": tcp}]}]}],
                       [static_cluster("sink", sink.getsockname()[1])])
    proxy = proxy_factory(config, extra_args=["--concurrency", "1"])
    with socket.create_connection(("127.0.0.1", proxy.port("listen"))) as conn:
        conn.sendall(b"12345")
        assert conn.recv(10) == b"xy"
    deadline = time.monotonic() + 10
    expected = f"127.0.0.1:{sink.getsockname()[1]} 5 2"
    while expected not in (log_path.read_text() if log_path.exists() else ""):
        assert time.monotonic() < deadline, log_path.read_text() if log_path.exists() else "no log"
        time.sleep(0.1)
    sink.close()
