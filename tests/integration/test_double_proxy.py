"""deploy/double-proxy on loopback: client → edge hotproxy (TLS, SNI) → mTLS → inner hotproxy →
plain service, with the deployment's own configs and certificate script (ports and paths
rewritten for the test)."""
import json
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.request

import psutil
import pytest

from harness import ROOT, Proxy, free_port, wait_for_log, wait_for_port
from tls_harness import client_context, echoed, get_over, tls_client

DEPLOY = ROOT / "deploy" / "double-proxy"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="gen-certs.sh needs the openssl command")


@pytest.fixture
def deployment(tmp_path, upstream):
    subprocess.run(["bash", str(DEPLOY / "gen-certs.sh"), str(tmp_path / "certs")], check=True,
                   capture_output=True)
    ports = {"edge": free_port(), "inner": free_port(), "edge_admin": free_port(), "inner_admin": free_port()}
    replacements = {"10443": ports["edge"], "11443": ports["inner"], "9901": ports["edge_admin"],
                    "9902": ports["inner_admin"], "8080": upstream.port}
    tiers = {}
    for tier in ("inner", "edge"):
        text = (DEPLOY / f"{tier}.yaml").read_text().replace("certs/", f"{tmp_path}/certs/")
        text = text.replace("address: 0.0.0.0", "address: 127.0.0.1")
        # one host: the names the tiers find each other by are loopback here
        for name in ("inner.internal", "service.internal"):
            text = text.replace(f"address: {name},", "address: 127.0.0.1,")
        assert ".internal," not in text, "a host name the test does not map"
        for old, new in replacements.items():
            text = text.replace(f"port_value: {old} ", f"port_value: {new} ")
        directory = tmp_path / tier
        directory.mkdir()
        proxy = Proxy(text, directory, {"listen": ports[tier]}, ["--concurrency", "2"])
        tiers[tier] = proxy
        wait_for_port(ports[tier], process=proxy.process)
        proxy.wait_until_serving()
    tiers["certs"] = tmp_path / "certs"
    tiers["inner_admin"] = ports["inner_admin"]
    tiers["ca"] = type("CAFile", (), {"pem": (tmp_path / "certs" / "ca.pem").read_bytes()})()
    yield tiers
    for tier in ("edge", "inner"):
        tiers[tier].stop()


def edge_get(deployment, path="/echo", context=None):
    port = deployment["edge"].port("listen")
    with tls_client(port, server_name="app.example.com", context=context or client_context(deployment["ca"])) as sock:
        return get_over(sock, path, host="app.example.com")


def test_requests_flow_through_both_tiers_with_the_edges_identity_and_the_clients_address(deployment, upstream):
    status, _, body = edge_get(deployment)
    assert status == 200
    headers = dict(echoed(body)["headers"])
    assert "URI=spiffe://example.com/edge" in headers["x-forwarded-client-cert"]
    assert 'Subject="CN=edge,O=example"' in headers["x-forwarded-client-cert"]
    assert headers["x-forwarded-for"] == "127.0.0.1"  # the edge's client, through the inner tier
    assert headers["x-forwarded-proto"] == "https"


def test_the_inner_tier_refuses_clients_without_the_edges_certificate(deployment, tmp_path):
    from certs import CA
    port = deployment["inner"].port("listen")
    stranger = CA("another CA").issue("edge", uris=["spiffe://example.com/edge"], client=True, server=False)
    for certificate in (None, stranger):
        context = client_context(certificate=certificate, tmp_path=tmp_path)
        with pytest.raises((ssl.SSLError, OSError, ConnectionError)):
            with tls_client(port, server_name="inner.internal", context=context) as sock:
                get_over(sock)


def test_a_name_the_edge_does_not_serve_is_refused(deployment):
    with pytest.raises((ssl.SSLError, OSError)):
        with tls_client(deployment["edge"].port("listen"), server_name="evil.example.com",
                        context=client_context(deployment["ca"])) as sock:
            get_over(sock)


def _stop_successor(admin_port):
    """The epoch SIGUSR2 started is nobody's child here: stop it through its admin interface."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/server_info", timeout=5) as response:
            pid = json.load(response)["hotproxy"]["arbiter_pid"]
        psutil.Process(pid).terminate()
    except (OSError, psutil.Error):
        pass


def _load(deployment, stop, failures, done):
    """Non-retrying TLS clients: keep-alive ones (a new connection only after the server said
    ``Connection: close``) and fresh ones."""
    context = client_context(deployment["ca"])
    port = deployment["edge"].port("listen")

    def keep_alive():
        sock = None
        while not stop.is_set():
            try:
                sock = sock or tls_client(port, server_name="app.example.com", context=context)
                status, headers, _ = get_over(sock, "/echo", host="app.example.com")
                if status != 200:
                    failures.append(f"status {status}")
                done.append(1)
                if headers.get("connection") == "close":
                    sock.close()
                    sock = None
            except (OSError, ssl.SSLError, ConnectionError) as error:
                failures.append(repr(error))
                sock = None
            time.sleep(0.01)

    def fresh():
        while not stop.is_set():
            try:
                status, _, _ = edge_get(deployment, context=context)
                if status != 200:
                    failures.append(f"status {status}")
                done.append(1)
            except (OSError, ssl.SSLError, ConnectionError) as error:
                failures.append(repr(error))
            time.sleep(0.02)

    threads = [threading.Thread(target=target, daemon=True) for target in (keep_alive, keep_alive, fresh)]
    for thread in threads:
        thread.start()
    return threads


def test_reloads_and_a_hot_restart_of_either_tier_under_load_fail_no_request(deployment):
    stop, failures, done = threading.Event(), [], []
    threads = _load(deployment, stop, failures, done)
    try:
        for tier, count in (("edge", 1), ("inner", 1), ("edge", 2), ("inner", 2)):
            deployment[tier].process.send_signal(signal.SIGHUP)
            wait_for_log(deployment[tier], "serving (", count=count)
            time.sleep(0.5)
        inner = deployment["inner"]
        inner.process.send_signal(signal.SIGUSR2)  # the inner tier's arbiter starts its successor
        wait_for_log(inner, "serves now", timeout=30)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        _stop_successor(deployment["inner_admin"])
    assert failures == []
    assert len(done) > 50
