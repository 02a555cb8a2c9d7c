"""The key-exchange group and the peer's signature algorithm of a handshake, by Envoy's names:
read from OpenSSL through ctypes, since Python 3.11's ssl does not say."""
import ssl

import pytest
from certs import CA

from hotproxy.tls.openssl import available, negotiated

pytestmark = pytest.mark.skipif(not available, reason="no ctypes access to this Python's OpenSSL")


def handshake(tmp_path, kind, maximum=None, client_certificate=False):
    ca = CA(kind=kind)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*ca.issue("server", kind=kind).write(tmp_path, "server"))
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    if maximum:
        client.maximum_version = maximum
    if client_certificate:
        client.load_cert_chain(*ca.issue("client", kind=kind, client=True).write(tmp_path, "client"))
        server.load_verify_locations(cadata=ca.pem.decode())
        server.verify_mode = ssl.CERT_REQUIRED
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    ends = (client.wrap_bio(client_in, client_out, server_hostname="x"),
            server.wrap_bio(server_in, server_out, server_side=True))
    for _ in range(6):
        for end, out, into in ((ends[0], client_out, server_in), (ends[1], server_out, client_in)):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pass
            into.write(out.read())
    return ends


@pytest.mark.parametrize("maximum", [None, ssl.TLSVersion.TLSv1_2])
def test_an_ecdsa_server_signs_with_ecdsa_secp256r1_sha256_over_x25519(tmp_path, maximum):
    client, server = handshake(tmp_path, "ec", maximum)
    assert negotiated(client) == ("X25519", "ecdsa_secp256r1_sha256")
    assert negotiated(server) == ("X25519", None)      # no client certificate: the peer signed nothing


def test_an_rsa_server_signs_with_pss(tmp_path):
    client, _ = handshake(tmp_path, "rsa")
    assert negotiated(client) == ("X25519", "rsa_pss_rsae_sha256")


def test_a_client_certificates_signature_is_the_servers_peer_signature(tmp_path):
    _, server = handshake(tmp_path, "ec", client_certificate=True)
    assert negotiated(server) == ("X25519", "ecdsa_secp256r1_sha256")


def test_an_object_without_an_ssl_connection_gives_nothing():
    assert negotiated(object()) == (None, None)
