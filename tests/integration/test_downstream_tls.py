"""TLS on listeners through real processes: certificates chosen by SNI, filter chains chosen by
tls_inspector, a plain default chain on the same port, mutual TLS with x-forwarded-client-cert,
TLS passthrough, the access-log operators, and the ssl counters."""
import json
import ssl
import urllib.request

import pytest
from certs import CA

from harness import TCP_PROXY_TYPE, RawClient, admin_stats, http_listener, simple_routes, static_cluster, to_yaml
from tls_harness import TlsUpstream, downstream_tls, echoed, get_over, tls_client, upstream_tls

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}
ROUTES = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture(scope="module")
def certs(ca):
    return {"a": ca.issue("a", dns=["a.example.com"]), "b": ca.issue("b", dns=["*.b.example.com"]),
            "client": ca.issue("edge", uris=["spiffe://example.com/edge"], client=True, server=False)}


def hcm_chain(transport_socket=None, match=None, hcm_extra=None, stat_prefix="ingress_http"):
    chain = http_listener("x", "listen", ROUTES, hcm_extra, stat_prefix)["filter_chains"][0]
    if transport_socket is not None:
        chain["transport_socket"] = transport_socket
    if match is not None:
        chain["filter_chain_match"] = match
    return chain


def listener(*chains, default=None, filters=(TLS_INSPECTOR,)):
    config = {"name": "edge", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
              "listener_filters": list(filters), "filter_chains": list(chains)}
    if default is not None:
        config["default_filter_chain"] = default
    return config


def config(listeners, upstream_port, clusters=()):
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": listeners, "clusters": [static_cluster("backend", upstream_port), *clusters]}})


def stats(proxy, pattern):
    return admin_stats(proxy.port("admin"), pattern)


def served_names(sock):
    from hotproxy.tls.certificates import describe
    return describe(sock.getpeercert(binary_form=True)).dns


def test_sni_chooses_the_chain_and_its_certificate(proxy_factory, upstream, ca, certs):
    text = config([listener(
        hcm_chain(downstream_tls(certs["a"]), {"server_names": ["a.example.com"]}, stat_prefix="a"),
        hcm_chain(downstream_tls(certs["b"]), {"server_names": ["*.b.example.com"]}, stat_prefix="b"),
        default=hcm_chain(stat_prefix="plain"))], upstream.port)
    proxy = proxy_factory(text)
    port = proxy.port("listen")
    with tls_client(port, ca, "a.example.com") as sock:
        assert served_names(sock) == ("a.example.com",)
        status, headers, body = get_over(sock)
        assert status == 200
        assert dict(echoed(body)["headers"])["x-forwarded-proto"] == "https"
    with tls_client(port, ca, "x.b.example.com") as sock:
        assert served_names(sock) == ("*.b.example.com",)
        assert get_over(sock)[0] == 200
    # plain text on the same port takes the default chain
    response = RawClient(port).request(path="/echo")
    assert response.status == 200 and dict(response.json()["headers"])["x-forwarded-proto"] == "http"
    counted = stats(proxy, "(ssl|downstream_rq_2xx|tls_inspector)")
    assert counted["listener.127.0.0.1_{}.ssl.handshake".format(port)] == 2
    assert counted["http.a.downstream_rq_2xx"] == 1 and counted["http.b.downstream_rq_2xx"] == 1
    ssl_total = stats(proxy, "downstream_cx_ssl")
    assert (ssl_total["http.a.downstream_cx_ssl_total"], ssl_total["http.plain.downstream_cx_ssl_total"]) == (1, 0)
    assert counted["http.plain.downstream_rq_2xx"] == 1
    # the inspector's counters sit at the root, as Envoy's do
    assert (counted["tls_inspector.tls_found"], counted["tls_inspector.tls_not_found"]) == (2, 1)
    assert counted["tls_inspector.sni_found"] == 2


def test_no_chain_matches_the_connection_is_closed_and_counted(proxy_factory, upstream, ca, certs):
    proxy = proxy_factory(config([listener(
        hcm_chain(downstream_tls(certs["a"]), {"server_names": ["a.example.com"]}))], upstream.port))
    port = proxy.port("listen")
    with pytest.raises((ssl.SSLError, OSError)):
        tls_client(port, ca, "other.example.com")
    assert stats(proxy, "no_filter_chain_match")[f"listener.127.0.0.1_{port}.no_filter_chain_match"] == 1


def test_mutual_tls_with_x_forwarded_client_cert(proxy_factory, upstream, ca, certs, tmp_path):
    tls = downstream_tls(certs["a"], ca=ca, require_client_certificate=True)
    proxy = proxy_factory(config([listener(hcm_chain(tls, hcm_extra={
        "forward_client_cert_details": "SANITIZE_SET",
        "set_current_client_cert_details": {"uri": True, "subject": True}}), filters=())], upstream.port))
    port = proxy.port("listen")
    with tls_client(port, ca, "a.example.com", certificate=certs["client"], tmp_path=tmp_path) as sock:
        status, _, body = get_over(sock, extra=b"X-Forwarded-Client-Cert: By=spoofed\r\n")
    xfcc = dict(echoed(body)["headers"])["x-forwarded-client-cert"]
    from hotproxy.tls.certificates import describe
    assert xfcc == (f'Hash={describe(certs["client"].der).sha256};Subject="CN=edge";'
                    f'URI=spiffe://example.com/edge')
    for certificate in (None, CA("another CA").issue("x", client=True, server=False)):
        with pytest.raises((ssl.SSLError, OSError, ConnectionError)):
            with tls_client(port, ca, "a.example.com", certificate=certificate, tmp_path=tmp_path) as sock:
                get_over(sock)  # TLS 1.2 fails in the handshake, 1.3 at the first read
    counted = stats(proxy, "ssl")
    assert counted[f"listener.127.0.0.1_{port}.ssl.fail_verify_no_cert"] == 1
    assert counted[f"listener.127.0.0.1_{port}.ssl.fail_verify_error"] == 1
    # the group and the client certificate's signature algorithm, by Envoy's names (checked on 1.40)
    assert counted[f"listener.127.0.0.1_{port}.ssl.curves.X25519"] == 1
    assert counted[f"listener.127.0.0.1_{port}.ssl.sigalgs.ecdsa_secp256r1_sha256"] == 1


def test_a_client_supplied_xfcc_is_removed_by_default(proxy_factory, upstream):
    proxy = proxy_factory(config([listener(hcm_chain(), filters=())], upstream.port))
    response = RawClient(proxy.port("listen")).request(
        path="/echo", headers=(("Host", "a"), ("X-Forwarded-Client-Cert", "By=spoofed")))
    assert "x-forwarded-client-cert" not in dict(response.json()["headers"])


def test_tls_passthrough_by_sni(proxy_factory, upstream, ca, certs, tmp_path):
    backend = TlsUpstream(certs["a"], tmp_path=tmp_path)
    try:
        passthrough = {"filter_chain_match": {"server_names": ["a.example.com"]},
                       "filters": [{"name": "tcp", "typed_config": {
                           "@type": TCP_PROXY_TYPE, "stat_prefix": "passthrough", "cluster": "tls_backend"}}]}
        proxy = proxy_factory(config([listener(passthrough)], upstream.port,
                                     [static_cluster("tls_backend", backend.port)]))
        with tls_client(proxy.port("listen"), ca, "a.example.com") as sock:
            assert get_over(sock)[0] == 200
        assert backend.handshakes == 1  # the client's own handshake, untouched by the proxy
    finally:
        backend.stop()


def test_tls_access_log_operators(proxy_factory, upstream, ca, certs, tmp_path):
    log_path = tmp_path / "access.log"
    access_log = [{"name": "file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": str(log_path), "log_format": {"text_format_source": {"inline_string":
            "%REQUESTED_SERVER_NAME% %DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_PEER_SUBJECT%\n"}}}}]
    tls = downstream_tls(certs["a"], ca=ca)
    proxy = proxy_factory(config([listener(hcm_chain(tls, hcm_extra={"access_log": access_log}))], upstream.port))
    with tls_client(proxy.port("listen"), ca, "a.example.com", certificate=certs["client"], tmp_path=tmp_path) as sock:
        get_over(sock)
    with tls_client(proxy.port("listen"), ca, "a.example.com") as sock:
        get_over(sock)
    import time
    deadline = time.monotonic() + 10
    while len(log_path.read_text().splitlines() if log_path.exists() else []) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert log_path.read_text().splitlines() == [
        "a.example.com TLSv1.3 spiffe://example.com/edge CN=edge", "a.example.com TLSv1.3 - -"]


def test_upstream_tls_behind_downstream_tls(proxy_factory, ca, certs, tmp_path):
    backend = TlsUpstream(ca.issue("up"), client_ca=ca, tmp_path=tmp_path)
    try:
        text = to_yaml({"static_resources": {
            "listeners": [listener(hcm_chain(downstream_tls(certs["a"])), filters=())],
            "clusters": [static_cluster("backend", backend.port,
                                        extra={"transport_socket": upstream_tls(ca, client=certs["client"])})]}})
        proxy = proxy_factory(text)
        with tls_client(proxy.port("listen"), ca, "a.example.com") as sock:
            for _ in range(3):
                assert get_over(sock)[0] == 200
        assert backend.peers == [{"commonName": "edge"}] * 3
    finally:
        backend.stop()


def test_admin_certs_lists_every_tls_context(proxy_factory, upstream, ca, certs, tmp_path):
    cert_path, key_path = certs["a"].write(tmp_path, "a")
    tls = downstream_tls(certs["a"])
    tls["typed_config"]["common_tls_context"]["tls_certificates"] = [
        {"certificate_chain": {"filename": str(cert_path)}, "private_key": {"filename": str(key_path)}}]
    text = config([listener(hcm_chain(tls), filters=())], upstream.port,
                  [static_cluster("secure", upstream.port,
                                  extra={"transport_socket": upstream_tls(ca, client=certs["client"])})])
    proxy = proxy_factory(text)
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('admin')}/certs") as response:
        listed = json.load(response)["certificates"]
    assert [[c["path"] for c in context["ca_cert"]] for context in listed] == [[], ["<inline>"]]
    server, client = listed[0]["cert_chain"][0], listed[1]["cert_chain"][0]
    assert server["path"] == str(cert_path) and server["subject_alt_names"] == [{"dns": "a.example.com"}]
    assert client["subject_alt_names"] == [{"uri": "spiffe://example.com/edge"}]
    assert server["days_until_expiration"] in ("364", "365")
