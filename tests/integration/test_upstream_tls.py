"""TLS to upstreams (a cluster's UpstreamTlsContext) through real processes: verification only as
configured, mutual TLS, pooled and resumed TLS connections, handshake failures as connect
failures with Envoy's 503 and counters, and TLS origination by the TCP proxy."""
import pytest
from certs import CA

from harness import TCP_PROXY_TYPE, RawClient, admin_stats, http_listener, simple_routes, static_cluster, to_yaml
from tls_harness import TlsUpstream, upstream_tls

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture
def tls_upstream_factory(tmp_path):
    started = []

    def start(certificate, client_ca=None, by_server_name=None):
        server = TlsUpstream(certificate, client_ca, tmp_path, by_server_name)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def config(port, transport_socket):
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "secure"}})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", routes)],
        "clusters": [static_cluster("secure", port, extra={"transport_socket": transport_socket})]}})


def stats(proxy, pattern):
    return admin_stats(proxy.port("admin"), pattern)


def test_a_verified_upstream_serves_over_pooled_and_resumed_tls(proxy_factory, tls_upstream_factory, ca, tmp_path):
    server = tls_upstream_factory(ca.issue("up", dns=["up.example.com"]))
    proxy = proxy_factory(config(server.port, upstream_tls(ca, sni="up.example.com", auto_sni_san_validation=True)),
                          extra_args=["--concurrency", "1"])
    client = RawClient(proxy.port("listen"))
    for _ in range(3):
        assert client.request(path="/echo").status == 200
    assert server.handshakes == 1  # one pooled TLS connection served all three
    # a second, concurrent exchange needs a second connection: it resumes the first's session
    other = RawClient(proxy.port("listen"))
    client.send(b"GET /sleep/500 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert other.request(path="/echo").status == 200
    assert client.read_response().status == 200
    assert (server.handshakes, server.resumed) == (2, 1)
    counted = stats(proxy, "cluster.secure.ssl")
    assert counted["cluster.secure.ssl.handshake"] == 2 and counted["cluster.secure.ssl.session_reused"] == 1
    assert counted["cluster.secure.ssl.versions.TLSv1.2"] == 2
    # the full handshake's server signature is counted; the resumed one signs nothing
    assert counted["cluster.secure.ssl.curves.X25519"] == 2
    assert counted["cluster.secure.ssl.sigalgs.ecdsa_secp256r1_sha256"] == 1


@pytest.mark.parametrize("case, stat", [("wrong CA", "fail_verify_error"), ("wrong SAN", "fail_verify_san")])
def test_a_failed_verification_is_a_connect_failure(proxy_factory, tls_upstream_factory, ca, case, stat):
    server = tls_upstream_factory(ca.issue("up", dns=["up.example.com"]))
    if case == "wrong CA":
        socket_config = upstream_tls(CA("another CA"))
    else:
        socket_config = upstream_tls(ca)
        socket_config["typed_config"]["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] = [
            {"san_type": "DNS", "matcher": {"exact": "other.example.com"}}]
    proxy = proxy_factory(config(server.port, socket_config))
    response = RawClient(proxy.port("listen")).request(path="/echo")
    assert response.status == 503
    assert response.body == (b"upstream connect error or disconnect/reset before headers. "
                             b"reset reason: remote connection failure")
    counted = stats(proxy, "cluster.secure")
    assert counted[f"cluster.secure.ssl.{stat}"] == 1
    assert counted["cluster.secure.upstream_cx_connect_fail"] == 1
    assert server.requests == []


def test_without_trusted_ca_nothing_is_verified(proxy_factory, tls_upstream_factory):
    server = tls_upstream_factory(CA("unknown").issue("up"))
    proxy = proxy_factory(config(server.port, upstream_tls()))
    assert RawClient(proxy.port("listen")).request(path="/echo").status == 200


def test_mutual_tls_to_the_upstream(proxy_factory, tls_upstream_factory, ca):
    server = tls_upstream_factory(ca.issue("up", dns=["up.example.com"]), client_ca=ca)
    edge = ca.issue("edge", uris=["spiffe://edge"], client=True, server=False)
    proxy = proxy_factory(config(server.port, upstream_tls(ca, client=edge)))
    assert RawClient(proxy.port("listen")).request(path="/echo").status == 200
    assert server.peers == [{"commonName": "edge"}]
    no_cert = proxy_factory(config(server.port, upstream_tls(ca)))
    assert RawClient(no_cert.port("listen")).request(path="/echo").status == 503


def test_the_tcp_proxy_originates_tls(proxy_factory, tls_upstream_factory, ca):
    server = tls_upstream_factory(ca.issue("up"))
    text = to_yaml({"static_resources": {
        "listeners": [{"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1",
                                                                     "port_value": "{port:listen}"}},
                       "filter_chains": [{"filters": [{"name": "tcp", "typed_config": {
                           "@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "secure"}}]}]}],
        "clusters": [static_cluster("secure", server.port, extra={"transport_socket": upstream_tls(ca)})]}})
    proxy = proxy_factory(text)
    response = RawClient(proxy.port("listen")).request(path="/echo")
    assert response.status == 200 and [r["path"] for r in server.requests] == ["/echo"]


def hosts_received(server):
    return [dict(request["headers"])["host"] for request in server.requests]


def auto_sni_config(port, transport_socket, **names):
    options = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "upstream_http_protocol_options": names,
        "explicit_http_config": {"http_protocol_options": {}}}}
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "secure"}})
    cluster = static_cluster("secure", port, extra={"transport_socket": transport_socket,
                                                    "typed_extension_protocol_options": options})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", routes)], "clusters": [cluster]}})


def test_auto_sni_sends_each_requests_host_and_pools_them_apart(proxy_factory, tls_upstream_factory, ca):
    server = tls_upstream_factory(ca.issue("up", dns=["*.example.com"]))
    proxy = proxy_factory(auto_sni_config(server.port, upstream_tls(ca, sni="configured.example.com"),
                                          auto_sni=True),
                          extra_args=["--concurrency", "1"])
    client = RawClient(proxy.port("listen"))
    for host in ("a.example.com:8443", "b.example.com", "a.example.com", "127.0.0.1:8443", "[::1]:80"):
        response = client.request(path="/echo", headers=[("Host", host)])
        assert response.status == 200
    # a and b each got a connection of their own, and a's was reused; an IP address is never
    # sent as SNI, so those requests used the cluster's own SNI, on the cluster's own pool
    assert server.server_names == ["a.example.com", "b.example.com", "configured.example.com"]
    assert hosts_received(server)[:2] == ["a.example.com:8443", "b.example.com"]


def test_override_auto_sni_header_names_the_sni_when_the_request_has_it(proxy_factory, tls_upstream_factory, ca):
    server = tls_upstream_factory(ca.issue("up", dns=["up.example.com"]))
    proxy = proxy_factory(auto_sni_config(server.port, upstream_tls(ca), auto_sni=True,
                                          override_auto_sni_header="X-Upstream-Sni"))
    client = RawClient(proxy.port("listen"))
    assert client.request(path="/echo", headers=[("Host", "front.example.com"),
                                                 ("X-Upstream-Sni", "up.example.com")]).status == 200
    assert client.request(path="/echo", headers=[("Host", "front.example.com")]).status == 200
    assert server.server_names == ["up.example.com", "front.example.com"]


def test_auto_san_validation_verifies_the_upstream_against_the_requests_host(proxy_factory, tls_upstream_factory, ca):
    server = tls_upstream_factory(ca.issue("up", dns=["*.good.example.com"]),
                                  by_server_name={"second.example.com": ca.issue("second", dns=["second.example.com"])})
    proxy = proxy_factory(auto_sni_config(server.port, upstream_tls(ca), auto_sni=True, auto_san_validation=True))
    client = RawClient(proxy.port("listen"))
    assert client.request(path="/echo", headers=[("Host", "api.good.example.com")]).status == 200
    # a name the upstream has a certificate of its own for (chosen by the SNI sent) passes too
    assert client.request(path="/echo", headers=[("Host", "second.example.com")]).status == 200
    # a name the upstream has no certificate for gets the default one, whose SAN does not match
    refused = client.request(path="/echo", headers=[("Host", "other.example.com")])
    assert refused.status == 503 and refused.body.endswith(b"reset reason: remote connection failure")
    assert stats(proxy, "cluster.secure.ssl")["cluster.secure.ssl.fail_verify_san"] == 1
    assert hosts_received(server) == ["api.good.example.com", "second.example.com"]


def test_without_auto_san_validation_the_requests_host_is_not_verified(proxy_factory, tls_upstream_factory, ca):
    server = tls_upstream_factory(ca.issue("up", dns=["up.example.com"]))
    proxy = proxy_factory(auto_sni_config(server.port, upstream_tls(ca), auto_sni=True))
    assert RawClient(proxy.port("listen")).request(path="/echo", headers=[("Host", "else.example.com")]).status == 200
    assert server.server_names == ["else.example.com"]
