"""TLS across reloads through real processes: a TLS connection cannot move to the next
generation, so it stays and closes after its next response, never cut while the client may be
sending; rotated certificate files are picked up by a reload, and a bad one leaves the old config
serving; sessions resume on any worker and after a reload."""
import signal
import time

import pytest
from certs import CA

from harness import http_listener, reload, rewrite, simple_routes, static_cluster, to_yaml, wait_for_log
from tls_harness import client_context, get_over, tls_client

ROUTES = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
DOWNSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"


@pytest.fixture(scope="module")
def ca():
    return CA()


def tls_config(upstream_port, cert_path, key_path, tag="one"):
    listener = http_listener("https", "listen", ROUTES, {"server_name": tag})
    listener["filter_chains"][0]["transport_socket"] = {"name": "tls", "typed_config": {
        "@type": DOWNSTREAM_TLS, "common_tls_context": {"tls_certificates": [{
            "certificate_chain": {"filename": str(cert_path)}, "private_key": {"filename": str(key_path)}}]}}}
    return to_yaml({"static_resources": {"listeners": [listener],
                                         "clusters": [static_cluster("backend", upstream_port)]}})


def test_an_idle_tls_connection_stays_and_closes_after_its_next_response(proxy_factory, upstream, ca, tmp_path):
    cert_path, key_path = ca.issue("a", dns=["a.example.com"]).write(tmp_path, "server")
    proxy = proxy_factory(tls_config(upstream.port, cert_path, key_path), extra_args=["--concurrency", "2"])
    clients = [tls_client(proxy.port("listen"), ca, "a.example.com") for _ in range(6)]
    for client in clients:
        status, headers, _ = get_over(client)
        assert status == 200 and headers["server"] == "one"
    rewrite(proxy, tls_config(upstream.port, cert_path, key_path, tag="two"))
    reload(proxy, 1)
    time.sleep(0.5)
    for client in clients:  # still open, still the old generation: one more answer, then closed
        status, headers, _ = get_over(client)
        assert (status, headers["server"], headers["connection"]) == (200, "one", "close")
        assert client.recv(1) == b""
    with tls_client(proxy.port("listen"), ca, "a.example.com") as fresh:
        assert get_over(fresh)[1]["server"] == "two"


def test_a_reload_picks_up_rotated_certificate_files(proxy_factory, upstream, ca, tmp_path):
    cert_path, key_path = ca.issue("old", dns=["a.example.com"]).write(tmp_path, "server")
    proxy = proxy_factory(tls_config(upstream.port, cert_path, key_path))

    def served_common_name():
        with tls_client(proxy.port("listen"), ca, "a.example.com") as sock:
            return sock.getpeercert()["subject"][0][0][1]

    assert served_common_name() == "old"
    ca.issue("new", dns=["a.example.com"]).write(tmp_path, "server")  # rotated in place
    proxy.process.send_signal(signal.SIGHUP)
    wait_for_log(proxy, "serving (", count=1)
    assert served_common_name() == "new"


def test_a_certificate_that_does_not_load_leaves_the_old_config_serving(proxy_factory, upstream, ca, tmp_path):
    cert_path, key_path = ca.issue("a", dns=["a.example.com"]).write(tmp_path, "server")
    proxy = proxy_factory(tls_config(upstream.port, cert_path, key_path))
    other_key = tmp_path / "other.key"
    other_key.write_bytes(ca.issue("b").key_pem())
    rewrite(proxy, tls_config(upstream.port, cert_path, other_key, tag="two"))
    proxy.process.send_signal(signal.SIGHUP)
    wait_for_log(proxy, "reload failed, the running configuration keeps serving")
    assert (f"transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key: "
            f"'{other_key}': the private key does not match the certificate") in proxy.log()
    with tls_client(proxy.port("listen"), ca, "a.example.com") as sock:
        assert get_over(sock)[1]["server"] == "one"


def test_sessions_resume_on_every_worker_and_after_a_reload(proxy_factory, upstream, ca, tmp_path):
    cert_path, key_path = ca.issue("a", dns=["a.example.com"]).write(tmp_path, "server")
    proxy = proxy_factory(tls_config(upstream.port, cert_path, key_path), extra_args=["--concurrency", "2"])
    port = proxy.port("listen")
    context = client_context(ca)
    first = tls_client(port, server_name="a.example.com", context=context)
    get_over(first)  # TLS 1.3 tickets arrive after the handshake
    session = first.session
    first.close()
    resumed = []
    for _ in range(12):  # both workers accept from the one socket: each gets some
        with tls_client(port, server_name="a.example.com", session=session, context=context) as sock:
            get_over(sock)
            resumed.append(sock.session_reused)
    assert all(resumed)
    rewrite(proxy, tls_config(upstream.port, cert_path, key_path, tag="two"))
    reload(proxy, 1)
    with tls_client(port, server_name="a.example.com", session=session, context=context) as sock:
        assert get_over(sock)[1]["server"] == "two" and sock.session_reused
