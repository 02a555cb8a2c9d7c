"""SDS: a listener's certificate from the control plane, the listener warming until it comes,
and a rotation that new handshakes see without a new generation."""
from __future__ import annotations

import json
import os
import re
import socket
import ssl

import pytest
from certs import CA

from harness import free_port, wait_for_log, wait_for_port
from test_xds_dynamic import NODE, start_proxy, wait_until
from tls_harness import DOWNSTREAM_TLS, transport_socket
from xds_configs import ADS, assignment, eds_cluster, rds_listener, route_config, serve
from xds_control import XdsServer


@pytest.fixture
def xds(tmp_path):
    with XdsServer.start(tmp_path / "xds") as server:
        yield server


@pytest.fixture(scope="module")
def ca():
    return CA()


def secret(name, issued):
    return {"name": name, "tls_certificate": {
        "certificate_chain": {"inline_string": issued.chain_pem.decode()},
        "private_key": {"inline_string": issued.key_pem().decode()}}}


#: the listener warms until its secret comes, and the first generation waits that long at most
QUICK = {**ADS, "initial_fetch_timeout": "1s"}


def tls_listener(name, port, secret_name, source=QUICK):
    listener = rds_listener(name, port, "routes")
    listener["filter_chains"][0]["transport_socket"] = transport_socket(DOWNSTREAM_TLS, {
        "common_tls_context": {"tls_certificate_sds_secret_configs": [
            {"name": secret_name, "sds_config": source}]}})
    return listener


def served_certificate(port, ca):
    """The serial number of the certificate a fresh TLS handshake with ``port`` gets."""
    context = ssl.create_default_context(cadata=ca.pem.decode())
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="web.example.com") as tls:
            return x509_serial(tls.getpeercert(binary_form=True))


def x509_serial(der):
    from cryptography import x509
    return x509.load_der_x509_certificate(der).serial_number


def get_over(tls):
    """The status of one GET over ``tls``, whose response is read whole (keep-alive)."""
    tls.sendall(b"GET /echo HTTP/1.1\r\nHost: web\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += tls.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += tls.recv(65536)
    return head.split(b" ", 2)[1]


def test_a_listener_waits_for_its_secret_and_a_rotation_needs_no_reload(proxy_factory, upstream, xds, ca):
    first, second = ca.issue("web-1", dns=["web.example.com"]), ca.issue("web-2", dns=["web.example.com"])
    port = free_port()
    serve(xds, listeners=[tls_listener("web", port, "web-cert")], clusters=[eds_cluster("svc")],
          endpoints=[assignment("svc", upstream.port)], routes=[route_config("routes", "svc")])
    xds.set("secrets", [])
    proxy = start_proxy(proxy_factory, xds)
    xds.wait_for_ack("listeners", xds.version("listeners"), node=NODE)
    assert not _listening(port)                 # warming: no certificate yet
    xds.set("secrets", [secret("web-cert", first)])
    wait_for_port(port, process=proxy.process)
    assert served_certificate(port, ca) == first.cert.serial_number
    context = ssl.create_default_context(cadata=ca.pem.decode())
    kept = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="web.example.com")
    assert get_over(kept) == b"200"
    wait_for_log(proxy, "serving (")        # the reload that brought the listener in
    generations = proxy.log().count("serving (")
    xds.set("secrets", [secret("web-cert", second)])
    xds.wait_for_ack("secrets", xds.version("secrets"), node=NODE)
    wait_until(lambda: served_certificate(port, ca) == second.cert.serial_number,
               what="new handshakes getting the rotated certificate")
    assert get_over(kept) == b"200"             # the connection made before goes on
    assert proxy.log().count("serving (") == generations
    kept.close()
    assert listed_serials(proxy) == [second.cert.serial_number]     # /certs shows what serves


def listed_serials(proxy):
    """The serial numbers of the certificate chains /certs lists."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.ports['admin']}/certs", timeout=10) as answer:
        listed = json.loads(answer.read())["certificates"]
    return [int(cert["serial_number"], 16) for context in listed for cert in context["cert_chain"]]


def test_a_secret_from_a_file_is_rotated_by_a_move(proxy_factory, upstream, xds, ca, tmp_path):
    first, second = ca.issue("file-1", dns=["web.example.com"]), ca.issue("file-2", dns=["web.example.com"])
    path = tmp_path / "secrets.json"

    def write(issued):
        staged = tmp_path / ".secrets.tmp"
        staged.write_text(json.dumps({"version_info": str(issued.cert.serial_number), "resources": [
            {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
             **secret("file-cert", issued)}]}))
        os.replace(staged, path)

    write(first)
    port = free_port()
    source = {"path_config_source": {"path": str(path), "watched_directory": {"path": str(tmp_path)}}}
    serve(xds, listeners=[tls_listener("web", port, "file-cert", source)], clusters=[eds_cluster("svc")],
          endpoints=[assignment("svc", upstream.port)], routes=[route_config("routes", "svc")])
    proxy = start_proxy(proxy_factory, xds)
    wait_for_port(port, process=proxy.process)
    assert served_certificate(port, ca) == first.cert.serial_number
    write(second)
    wait_until(lambda: served_certificate(port, ca) == second.cert.serial_number,
               what="the moved file's certificate being served")


def test_a_secret_that_is_no_certificate_is_nacked(proxy_factory, upstream, xds, ca):
    port = free_port()
    serve(xds, listeners=[tls_listener("web", port, "web-cert")], clusters=[eds_cluster("svc")],
          endpoints=[assignment("svc", upstream.port)], routes=[route_config("routes", "svc")])
    xds.set("secrets", [secret("web-cert", ca.issue("ok", dns=["web.example.com"]))])
    start_proxy(proxy_factory, xds)
    wait_for_port(port)
    broken = {"name": "web-cert", "tls_certificate": {
        "certificate_chain": {"inline_string": "not a certificate"},
        "private_key": {"inline_string": "nor a key"}}}
    xds.set("secrets", [broken])
    error = xds.wait_for_nack("secrets", node=NODE)
    assert error.startswith("secret 'web-cert': tls_certificate.certificate_chain")


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False
