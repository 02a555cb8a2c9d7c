"""Python filters through real processes: the two worked examples of deploy/python-filters end to
end, an exception answered 500 (UPE) and counted with the worker alive, a response reset when the
head has gone, a bad module refused with its line (validate, startup, reload), and a SIGHUP reload
picking up an edited module."""
import os
import re
import signal
import subprocess
import textwrap
import threading
import time

import pytest

from harness import (HOTPROXY, ROOT, RawClient, admin_counter, http_listener, next_base_id, read_lines,
                     reload, render, simple_routes, static_cluster, to_yaml, wait_for_log, workers)

PYTHON_TYPE = "type.googleapis.com/hotproxy.filters.python.v1.Python"
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
EXAMPLES = ROOT / "deploy" / "python-filters"


def example_config(name, ports, endpoint_port=None):
    """An example's YAML with its fixed ports replaced by placeholders (``ports``: fixed → name);
    ``endpoint_port`` points its clusters' endpoints at a test upstream instead."""
    text = (EXAMPLES / name).read_text()
    if endpoint_port is not None:
        text = "\n".join(re.sub(r"port_value: \d+", f"port_value: {endpoint_port}", line)
                         if "endpoint:" in line else line for line in text.splitlines())
    for fixed, placeholder in ports.items():
        text = text.replace(f"port_value: {fixed}", f"port_value: {{port:{placeholder}}}")
    return text


def python_config(filter_config, name="op", access_log=None, cluster_port=None, route_extra=None):
    """One listener with the Python filter ``name`` then the router, to ``cluster_port`` or a
    direct response, and an admin interface."""
    if cluster_port is None:
        route = {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "direct"}}}
    else:
        route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}
    route.update(route_extra or {})
    hcm_extra = {"http_filters": [
        {"name": name, "typed_config": {"@type": PYTHON_TYPE, **filter_config}},
        {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}]}
    if access_log is not None:
        hcm_extra["access_log"] = [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": FILE_LOG, "path": str(access_log),
            "log_format": {"text_format": "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n"}}}]
    clusters = [] if cluster_port is None else [static_cluster("backend", cluster_port)]
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [http_listener("http", "listen", simple_routes(route), hcm_extra)],
                             "clusters": clusters}})


def module_file(tmp_path, source, name="op_filter.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


# -- the worked examples --------------------------------------------------------------------------

def test_the_canary_example_end_to_end(proxy_factory):
    proxy = proxy_factory(example_config("canary.yaml", {10000: "listen", 10001: "stable", 10002: "canary",
                                                         9901: "admin"}))

    def get(path="/", **headers):
        client = RawClient(proxy.port("listen"))
        try:
            return client.request("GET", path, [("Host", "app"), *headers.items()])
        finally:
            client.close()

    forced = get(**{"x-canary": "always"})
    assert (forced.status, forced.body, forced.header("x-served-by-canary")) == (200, b"canary\n", "yes")
    stable = get(**{"x-canary": "never", "x-hotproxy-canary": "1"})     # a spoofed decision is dropped
    assert (stable.body, stable.header("x-served-by-canary")) == (b"stable\n", "no")
    bodies = [get(**{"x-user-id": f"user-{n}"}).body for n in range(200)]
    assert 5 <= bodies.count(b"canary\n") <= 40                           # percent: 10
    beta = [get("/beta", **{"x-user-id": f"user-{n}"}).body for n in range(200)]
    assert 70 <= beta.count(b"canary\n") <= 130                           # per route: 50
    assert len({get(**{"x-user-id": "bob"}).body for _ in range(5)}) == 1  # sticky per user
    assert admin_counter(proxy.port("admin"), "http.ingress_http.python.canary_splitter.errors") == 0


def test_the_jwt_example_end_to_end(proxy_factory, upstream):
    import sys
    sys.path.insert(0, str(EXAMPLES))
    from make_token import DEMO_SECRET, make_token

    proxy = proxy_factory(example_config("jwt_claims.yaml", {10000: "listen", 10001: "app", 9901: "admin"},
                                         endpoint_port=upstream.port))

    def get(path, token=None):
        client = RawClient(proxy.port("listen"))
        headers = [("Host", "app"), ("x-jwt-sub", "spoofed")]
        if token is not None:
            headers.append(("Authorization", f"Bearer {token}"))
        try:
            return client.request("GET", path, headers)
        finally:
            client.close()

    def token(role, ttl=300, secret=DEMO_SECRET):
        return make_token({"sub": f"{role}-user", "role": role, "exp": int(time.time()) + ttl}, secret)

    reader = get("/echo", token("reader"))
    assert reader.status == 200
    assert [v for k, v in reader.json()["headers"] if k == "x-jwt-sub"] == ["reader-user"]
    assert get("/admin", token("admin")).status == 200
    refused = {
        "no token": get("/echo"),
        "expired": get("/echo", token("reader", ttl=-60)),
        "bad signature": get("/echo", token("reader", secret="wrong")),
        "role": get("/echo", token("guest")),
        "admin only": get("/admin", token("reader")),
    }
    for why, response in refused.items():
        assert response.status == 401, why
        assert response.header("www-authenticate") == 'Bearer error="invalid_token"', why
    assert refused["expired"].body == b"unauthorized: token expired\n"
    assert len(upstream.requests) == 2


# -- exceptions at run time -----------------------------------------------------------------------

RAISING = """
    class Raising:
        def __init__(self, config):
            self.path = config["path"].encode()

        def decode_headers(self, stream, end_stream):
            if stream.request.target == self.path:
                raise RuntimeError("the operator's bug")

        def encode_data(self, stream, data, end_stream):
            self.sent = getattr(self, "sent", 0) + len(data)
            if stream.request.target == b"/bytes/1000000" and self.sent > 100000:
                raise ValueError("late failure")
"""


def test_an_exception_is_a_500_with_upe_counted_and_the_worker_lives(proxy_factory, upstream, tmp_path):
    access_log = tmp_path / "access.log"
    path = module_file(tmp_path, RAISING)
    proxy = proxy_factory(python_config({"path": path, "class": "Raising", "config": {"path": "/boom"}},
                                        access_log=access_log, cluster_port=upstream.port),
                          extra_args=["--concurrency", "1"])
    before = [child.pid for child in workers(proxy)]
    client = RawClient(proxy.port("listen"))
    failed = client.request("GET", "/boom")
    assert (failed.status, failed.body) == (500, b"python filter error")
    assert client.request("GET", "/echo").status == 200     # the same connection goes on
    assert admin_counter(proxy.port("admin"), "http.ingress_http.python.op.errors") == 1
    assert [child.pid for child in workers(proxy)] == before
    assert read_lines(access_log, 2)[0].startswith("500 UPE ")
    wait_for_log(proxy, "RuntimeError: the operator's bug")
    assert "python filter op" in proxy.log() and "Traceback" in proxy.log()


def test_the_500_has_its_response_code_details(proxy_factory, tmp_path):
    access_log = tmp_path / "access.log"
    path = module_file(tmp_path, RAISING)
    proxy = proxy_factory(python_config({"path": path, "class": "Raising", "config": {"path": "/boom"}},
                                        access_log=access_log), extra_args=["--concurrency", "1"])
    assert RawClient(proxy.port("listen")).request("GET", "/boom").status == 500
    assert read_lines(access_log, 1) == ["500 UPE python_filter_exception"]


def test_encode_data_raising_after_the_head_went_resets_the_stream(proxy_factory, upstream, tmp_path):
    path = module_file(tmp_path, RAISING)
    proxy = proxy_factory(python_config({"path": path, "class": "Raising", "config": {"path": "/boom"}},
                                        cluster_port=upstream.port), extra_args=["--concurrency", "1"])
    client = RawClient(proxy.port("listen"))
    client.send(b"GET /bytes/1000000 HTTP/1.1\r\nHost: test\r\n\r\n")
    received = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            piece = client.sock.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError:
            pytest.fail(f"the connection stayed open after {len(received)} bytes")
        if not piece:
            break
        received += piece
    assert received.startswith(b"HTTP/1.1 200")
    assert 0 < len(received.partition(b"\r\n\r\n")[2]) < 1000000   # cut short: the connection closed
    admin = proxy.port("admin")
    assert (admin_counter(admin, "http.ingress_http.python.op.errors"),
            admin_counter(admin, "http.ingress_http.python.op.resets")) == (1, 1)
    assert RawClient(proxy.port("listen")).request("GET", "/echo").status == 200


CALLOUT = """
    import json

    import gevent
    from gevent import socket


    class Callout:
        def __init__(self, config):
            self.port = config["port"]

        def decode_headers(self, stream, end_stream):
            gevent.sleep(0.5)       # the worker serves the other streams meanwhile
            with socket.create_connection(("127.0.0.1", self.port)) as sock:
                sock.sendall(b"GET /status/204 HTTP/1.1\\r\\nHost: auth\\r\\nConnection: close\\r\\n\\r\\n")
                status = sock.makefile("rb").readline().split()[1]
            stream.request.headers.append((b"x-callout-status", status))
"""


def test_a_hook_may_block_on_gevent_callouts(proxy_factory, upstream, tmp_path):
    path = module_file(tmp_path, CALLOUT)
    proxy = proxy_factory(python_config({"path": path, "class": "Callout", "config": {"port": upstream.port}},
                                        cluster_port=upstream.port), extra_args=["--concurrency", "1"])
    results = []

    def get():
        results.append(RawClient(proxy.port("listen")).request("GET", "/echo"))

    started = time.monotonic()
    clients = [threading.Thread(target=get) for _ in range(4)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    assert time.monotonic() - started < 1.5         # four 0.5 s waits overlapped in one worker
    assert [response.status for response in results] == [200] * 4
    for response in results:
        assert ["x-callout-status", "204"] in response.json()["headers"]


# -- a bad module is a config error with its line ------------------------------------------------

def bad_module_config(tmp_path):
    path = module_file(tmp_path, "class Broken:\n    def __init__(self, config):\n        pass\n\n"
                                 "    def decode_headers(self, stream end_stream):\n        pass\n", "broken.py")
    text, _ = render(python_config({"path": path, "class": "Broken"}), {})
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    return str(config), path


FIELD = ("static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
         ".http_filters[0].typed_config.path")


def test_a_bad_module_fails_validation_with_its_line(tmp_path):
    config, path = bad_module_config(tmp_path)
    result = subprocess.run(HOTPROXY + ["--mode", "validate", "-c", config], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert FIELD in result.stderr and "SyntaxError" in result.stderr and f"{path}:5" in result.stderr


def test_a_bad_module_stops_startup(tmp_path):
    config, path = bad_module_config(tmp_path)
    result = subprocess.run(HOTPROXY + ["-c", config, "--base-id", str(next_base_id())], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert FIELD in result.stderr and f"{path}:5" in result.stderr
    assert "started hotproxy: worker" not in result.stderr


def test_a_reload_onto_a_bad_module_keeps_the_old_config_serving(proxy_factory, tmp_path):
    good = module_file(tmp_path, "class Good:\n    def __init__(self, config):\n        pass\n", "good.py")
    config = python_config({"path": good, "class": "Good"})
    proxy = proxy_factory(config, extra_args=["--concurrency", "1"])
    with open(good, "a") as module:
        module.write("\nraise ImportError('half-deployed')\n")
    proxy.process.send_signal(signal.SIGHUP)
    wait_for_log(proxy, "reload failed, the running configuration keeps serving")
    assert "ImportError: half-deployed" in proxy.log() and f"{good}:5" in proxy.log()
    assert RawClient(proxy.port("listen")).request().body == b"direct"
    assert proxy.process.poll() is None


# -- a reload picks up an edited module -----------------------------------------------------------

VERSIONED = """
    class Versioned:
        def __init__(self, config):
            pass

        def encode_headers(self, stream, response, end_stream):
            response.headers.append((b"x-filter-version", b"{version}"))
"""


def test_a_reload_picks_up_the_edited_module(proxy_factory, tmp_path, monkeypatch):
    # A module by name, on the workers' sys.path through PYTHONPATH, edited in place.
    (tmp_path / "opfilters").mkdir()
    (tmp_path / "opfilters" / "__init__.py").write_text("")
    module = tmp_path / "opfilters" / "versioned.py"
    module.write_text(textwrap.dedent(VERSIONED).replace("{version}", "1"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    proxy = proxy_factory(python_config({"module": "opfilters.versioned", "class": "Versioned"}),
                          extra_args=["--concurrency", "2"])
    assert RawClient(proxy.port("listen")).request().header("x-filter-version") == "1"
    module.write_text(textwrap.dedent(VERSIONED).replace("{version}", "2"))
    reload(proxy, 1)
    for _ in range(6):      # every worker of the new generation, on fresh connections
        assert RawClient(proxy.port("listen")).request().header("x-filter-version") == "2"
