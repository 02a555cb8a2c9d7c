"""x-forwarded-client-cert: Envoy's element format and its five forwarding modes."""
import pytest

from hotproxy.http.xfcc import (ALWAYS_FORWARD_ONLY, APPEND_FORWARD, FORWARD_ONLY, SANITIZE, SANITIZE_SET,
                                CertDetails, ClientCertificate, apply, element, url_encoded_pem)

CLIENT = ClientCertificate(
    sha256="aa" * 32, subject="CN=edge,O=acme", uris=("spiffe://cluster.local/ns/edge/sa/edge",),
    dns=("edge.example.com", "edge2.example.com"), pem="-----BEGIN CERTIFICATE-----\nMIIB+/=\n-----END CERTIFICATE-----\n",
    chain_pem="chain", local_uris=("spiffe://cluster.local/ns/inner/sa/inner",))
INCOMING = (b"x-forwarded-client-cert", b"By=spiffe://earlier;Hash=00")


def test_the_element_has_envoys_keys_in_envoys_order():
    assert element(CLIENT, CertDetails()) == (
        b"By=spiffe://cluster.local/ns/inner/sa/inner;Hash=" + b"aa" * 32)
    assert element(CLIENT, CertDetails(subject=True, uri=True, dns=True)) == (
        b"By=spiffe://cluster.local/ns/inner/sa/inner;Hash=" + b"aa" * 32
        + b';Subject="CN=edge,O=acme";URI=spiffe://cluster.local/ns/edge/sa/edge'
        + b";DNS=edge.example.com;DNS=edge2.example.com")


def test_pem_is_url_encoded_as_envoy_does():
    assert url_encoded_pem("-----BEGIN CERTIFICATE-----\nMIIB+/=\n") == (
        "-----BEGIN%20CERTIFICATE-----%0AMIIB%2B%2F%3D%0A")
    assert b'Cert="-----BEGIN%20CERTIFICATE' in element(CLIENT, CertDetails(cert=True))


@pytest.mark.parametrize("mode, mtls, expected", [
    (SANITIZE, True, []),
    (SANITIZE, False, []),
    (FORWARD_ONLY, True, [INCOMING[1]]),
    (FORWARD_ONLY, False, []),
    (ALWAYS_FORWARD_ONLY, False, [INCOMING[1]]),
    (APPEND_FORWARD, True, [INCOMING[1] + b"," + element(CLIENT, CertDetails())]),
    (APPEND_FORWARD, False, []),
    (SANITIZE_SET, True, [element(CLIENT, CertDetails())]),
    (SANITIZE_SET, False, []),
])
def test_modes(mode, mtls, expected):
    headers = [(b"host", b"a"), INCOMING]
    out = apply(mode, headers, CLIENT if mtls else None, CertDetails())
    assert [value for name, value in out if name == b"x-forwarded-client-cert"] == expected
    assert out[0] == (b"host", b"a")
