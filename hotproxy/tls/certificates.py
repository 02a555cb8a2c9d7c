"""Certificates and keys as TLS contexts need them: read from their data sources, checked the way
Envoy checks them at config time (a chain that parses, a key that parses with its password and
belongs to the certificate, a CA list that parses), and described for SNI selection, stats, the
admin ``/certs`` endpoint, access logs and ``x-forwarded-client-cert``.

Errors are ``CertificateError`` with the problem in words; the caller adds the field path.

``cryptography`` is imported by the functions that use it, not with the module: it adds about
15 MB to a process's resident memory, which a worker whose config has no TLS never needs.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509


class CertificateError(ValueError):
    """Certificate material that cannot be used."""


def load_chain(pem: bytes) -> list[x509.Certificate]:
    from cryptography import x509
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        chain = []
    if not chain:
        raise CertificateError("no PEM certificate in it")
    return chain


def load_key(pem: bytes, password: bytes | None):
    from cryptography.hazmat.primitives import serialization
    try:
        return serialization.load_pem_private_key(pem, password=password or None)
    except TypeError:
        raise CertificateError("the private key is encrypted: a password is needed" if not password
                               else "the private key is not encrypted, but a password was given") from None
    except ValueError:
        raise CertificateError("the private key cannot be read (not PEM, or a wrong password)") from None


def check_pair(chain, key) -> None:
    """The key must be the leaf certificate's, as OpenSSL's SSL_CTX_check_private_key says."""
    from cryptography.hazmat.primitives import serialization
    public = chain[0].public_key()
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise CertificateError("the private key does not match the certificate")


def key_type(key) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ecdsa"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CertificateError(f"keys of type {type(key).__name__} are not supported")


@dataclass(frozen=True)
class CertificateInfo:
    """What one certificate says, in the forms Envoy prints."""
    subject: str                  # RFC 2253, as Envoy's DOWNSTREAM_PEER_SUBJECT
    common_name: str | None
    issuer: str
    serial: str                   # lower-case hex
    dns: tuple[str, ...]
    uris: tuple[str, ...]
    ips: tuple[str, ...]
    emails: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    sha256: str                   # hex of the DER
    sha1: str
    spki_sha256: str              # base64 of the SubjectPublicKeyInfo's SHA-256

    def days_until_expiration(self, now=None) -> int:
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return max(0, (self.not_after - now).days)


@lru_cache(maxsize=4096)
def describe(der: bytes) -> CertificateInfo:
    """A DER certificate described (cached: peers present the same few certificates)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID
    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = None
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        common_name=str(common_names[0].value) if common_names else None,
        serial=_hex_bytes(cert.serial_number),
        dns=tuple(names.get_values_for_type(x509.DNSName)) if names else (),
        uris=tuple(names.get_values_for_type(x509.UniformResourceIdentifier)) if names else (),
        ips=tuple(str(ip) for ip in names.get_values_for_type(x509.IPAddress)) if names else (),
        emails=tuple(names.get_values_for_type(x509.RFC822Name)) if names else (),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        sha256=hashlib.sha256(der).hexdigest(), sha1=hashlib.sha1(der).hexdigest(),
        spki_sha256=base64.b64encode(hashlib.sha256(spki).digest()).decode())


def der_of(certificate: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return certificate.public_bytes(serialization.Encoding.DER)


def pem_of(der: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def server_names(info: CertificateInfo) -> tuple[str, ...]:
    """The names a server certificate answers for (its DNS SANs, else its common name), lower-case."""
    if info.dns:
        return tuple(name.lower() for name in info.dns)
    return (info.common_name.lower(),) if info.common_name else ()


def load_crl(pem: bytes) -> list[x509.CertificateRevocationList]:
    """The PEM CRLs in ``pem`` (at least one)."""
    from cryptography import x509
    crls = []
    for block in pem.split(b"-----END X509 CRL-----")[:-1]:
        try:
            crls.append(x509.load_pem_x509_crl(block + b"-----END X509 CRL-----\n"))
        except ValueError:
            raise CertificateError("a CRL in it cannot be read") from None
    if not crls:
        raise CertificateError("no PEM CRL in it")
    return crls


def _hex_bytes(number: int) -> str:
    """Lower-case hex in whole bytes (0xabc is "0abc"), as Envoy prints a serial number."""
    digits = format(number, "x")
    return digits.zfill(len(digits) + len(digits) % 2)
