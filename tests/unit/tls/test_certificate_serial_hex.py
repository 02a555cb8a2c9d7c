"""A certificate's serial number as /certs and %DOWNSTREAM_PEER_SERIAL% print it: Envoy 1.40 prints
whole bytes in lower-case hex (serial 0xabc is "0abc", as `openssl x509 -serial` gives 0ABC)."""
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certs import CA
from hotproxy.tls.certificates import der_of, describe


def with_serial(number):
    ca = CA()
    issued = ca.issue("serial.example.com")
    cert = issued.cert
    return (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
            .public_key(issued.key.public_key()).serial_number(number)
            .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc)
            .sign(ca.key, hashes.SHA256()))


def test_serial_numbers_are_printed_in_whole_bytes():
    assert describe(der_of(with_serial(0xabc))).serial == "0abc"
    assert describe(der_of(with_serial(0xab))).serial == "ab"
    assert describe(der_of(with_serial(0x1f00))).serial == "1f00"
