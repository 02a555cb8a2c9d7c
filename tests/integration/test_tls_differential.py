"""TLS against hotproxy and, where installed, Envoy 1.40 on the same config and client: which
certificate each SNI gets, what a name no chain serves gets, mutual TLS refusals, and exactly what
the upstream receives in x-forwarded-proto and x-forwarded-client-cert in each forwarding mode."""
import ssl
import urllib.parse

import pytest
from certs import CA

from harness import http_listener, simple_routes, static_cluster, to_yaml
from raw_upstream import RecordingUpstream
from tls_harness import client_context, get_over, tls_client

TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}
DOWNSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
MODES = ["SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = CA()
    files = {"ca": ca.write(directory)}
    for name, issued in (("a", ca.issue("a", dns=["a.example.com"], uris=["spiffe://example.com/a"])),
                         ("b", ca.issue("b", dns=["*.b.example.com"])),
                         ("client", ca.issue("edge", dns=["edge.example.com"], uris=["spiffe://example.com/edge"],
                                             client=True, server=False, organization="example"))):
        files[name] = issued.write(directory, name)
    return ca, files, directory


def tls_socket(files, name, ca_file, validation=True, require=False):
    common = {"tls_certificates": [{"certificate_chain": {"filename": str(files[name][0])},
                                    "private_key": {"filename": str(files[name][1])}}]}
    if validation:
        common["validation_context"] = {"trusted_ca": {"filename": str(ca_file)}}
    context = {"common_tls_context": common}
    if require:
        context["require_client_certificate"] = True
    return {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": DOWNSTREAM_TLS, **context}}


def config(pki, upstream_port, mode="SANITIZE_SET", require=False, chain=False):
    _ca, files, _ = pki
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    hcm = {"forward_client_cert_details": mode,
           "set_current_client_cert_details": {"subject": True, "uri": True, "dns": True,
                                               **({"chain": True} if chain else {})}}
    chains = []
    for name, server_names in (("a", ["a.example.com"]), ("b", ["*.b.example.com"])):
        chain = http_listener("x", "listen", routes, hcm)["filter_chains"][0]
        chain["filter_chain_match"] = {"server_names": server_names}
        chain["transport_socket"] = tls_socket(files, name, files["ca"], require=require)
        chains.append(chain)
    listener = {"name": "tls", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                "listener_filters": [TLS_INSPECTOR], "filter_chains": chains}
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [listener], "clusters": [static_cluster("backend", upstream_port)]}})


def served(sock):
    return sock.getpeercert()["subject"][0][0][1]


def test_sni_chooses_the_certificate_and_an_unknown_name_is_closed(peer_factory, pki):
    ca, _files, _ = pki
    upstream = RecordingUpstream()
    peer = peer_factory(config(pki, upstream.port))
    context = client_context(ca)
    for sni, expected in (("a.example.com", "a"), ("x.b.example.com", "b")):
        with tls_client(peer.port("listen"), server_name=sni, context=context) as sock:
            assert served(sock) == expected
            assert get_over(sock, "/", host=sni)[0] == 200
    with pytest.raises((ssl.SSLError, OSError)):
        tls_client(peer.port("listen"), server_name="other.example.com", context=context)
    assert peer.counter(f"listener.127.0.0.1_{peer.port('listen')}.no_filter_chain_match") == 1


@pytest.mark.parametrize("mode", MODES)
def test_what_the_upstream_receives_in_x_forwarded_client_cert(peer_factory, pki, mode):
    ca, files, _ = pki
    upstream = RecordingUpstream()
    peer = peer_factory(config(pki, upstream.port, mode))
    with_cert = client_context(ca)
    with_cert.load_cert_chain(*files["client"])
    incoming = b"X-Forwarded-Client-Cert: By=spiffe://earlier;Hash=00\r\n"
    with tls_client(peer.port("listen"), server_name="a.example.com", context=with_cert) as sock:
        assert get_over(sock, "/mtls", host="a", extra=incoming)[0] == 200
    with tls_client(peer.port("listen"), server_name="a.example.com", context=client_context(ca)) as sock:
        assert get_over(sock, "/one-way", host="a", extra=incoming)[0] == 200
    seen = {}
    for request in upstream.requests:
        xfcc = request.header(b"x-forwarded-client-cert")
        seen[request.target.decode()] = (xfcc.decode() if xfcc else None, request.header(b"x-forwarded-proto"))
    assert seen["/mtls"][1] == seen["/one-way"][1] == b"https"
    with_certificate, without = EXPECTED[mode]
    assert seen["/mtls"][0] == (with_certificate.format(hash=_hash(files["client"][0])) if with_certificate else None)
    assert seen["/one-way"][0] == without


ELEMENT = ('By=spiffe://example.com/a;Hash={hash};Subject="CN=edge,O=example";URI=spiffe://example.com/edge;'
           'DNS=edge.example.com')
EARLIER = "By=spiffe://earlier;Hash=00"
EXPECTED = {  # mode: (with a client certificate, without one)
    "SANITIZE": (None, None),
    "FORWARD_ONLY": (EARLIER, None),
    "APPEND_FORWARD": (EARLIER + "," + ELEMENT, None),
    "SANITIZE_SET": (ELEMENT, None),
    "ALWAYS_FORWARD_ONLY": (EARLIER, EARLIER),
}


def _hash(cert_path):
    from hotproxy.tls.certificates import der_of, describe, load_chain
    return describe(der_of(load_chain(cert_path.read_bytes())[0])).sha256


def test_a_required_client_certificate(peer_factory, pki, tmp_path):
    ca, files, _ = pki
    upstream = RecordingUpstream()
    peer = peer_factory(config(pki, upstream.port, require=True))
    stranger = client_context(ca)
    stranger.load_cert_chain(*CA("another CA").issue("x", client=True, server=False).write(tmp_path, "stranger"))
    for context in (client_context(ca), stranger):
        with pytest.raises((ssl.SSLError, OSError, ConnectionError)):
            with tls_client(peer.port("listen"), server_name="a.example.com", context=context) as sock:
                get_over(sock, "/", host="a")
    assert upstream.requests == []


def test_the_forwarded_chain_is_the_one_the_client_presented(peer_factory, pki):
    """XFCC's Chain: the client's certificate and the issuer it sent with it, in that order."""
    ca, files, _ = pki
    upstream = RecordingUpstream()
    peer = peer_factory(config(pki, upstream.port, "SANITIZE_SET", chain=True))
    with_cert = client_context(ca)
    with_cert.load_cert_chain(*files["client"])
    with tls_client(peer.port("listen"), server_name="a.example.com", context=with_cert) as sock:
        assert get_over(sock, "/mtls", host="a")[0] == 200
    xfcc = upstream.requests[-1].header(b"x-forwarded-client-cert").decode()
    chain = urllib.parse.unquote(xfcc.split('Chain="')[1].split('"')[0]).encode()
    assert chain == files["client"][0].read_bytes()      # the leaf and the CA certificate it sent
