"""Certificates made at test time (cryptography): a CA, and leaf certificates signed by it with the
SANs a test needs (DNS, URI such as SPIFFE ids, IP), for servers and clients, RSA or ECDSA.
Nothing here is committed as a file: tests write what they need into their tmp_path."""
from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_NOW = datetime.datetime.now(datetime.timezone.utc)


def _key(kind):
    return rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())


@dataclass
class Issued:
    cert: x509.Certificate
    key: object
    chain: tuple = ()          # the issuers' certificates, leaf's issuer first

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        return self.cert_pem + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self, password: bytes | None = None) -> bytes:
        encryption = (serialization.BestAvailableEncryption(password) if password
                      else serialization.NoEncryption())
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def write(self, directory: Path, name: str, password: bytes | None = None) -> tuple[Path, Path]:
        """Write ``<name>.pem`` (the chain) and ``<name>.key``; returns both paths."""
        cert_path, key_path = Path(directory) / f"{name}.pem", Path(directory) / f"{name}.key"
        cert_path.write_bytes(self.chain_pem)
        key_path.write_bytes(self.key_pem(password))
        return cert_path, key_path


class CA:
    def __init__(self, name="hotproxy test CA", kind="ec"):
        self.key = _key(kind)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(_NOW - datetime.timedelta(days=1))
                     .not_valid_after(_NOW + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, directory: Path, name="ca") -> Path:
        path = Path(directory) / f"{name}.pem"
        path.write_bytes(self.pem)
        return path

    def issue(self, common_name, dns=(), uris=(), ips=(), kind="ec", client=False, server=True,
              days=365, not_before_days=-1, organization=None) -> Issued:
        key = _key(kind)
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        names = ([x509.DNSName(name) for name in dns] + [x509.UniformResourceIdentifier(uri) for uri in uris]
                 + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips])
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        builder = (x509.CertificateBuilder().subject_name(x509.Name(attributes)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(_NOW + datetime.timedelta(days=not_before_days))
                   .not_valid_after(_NOW + datetime.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return Issued(builder.sign(self.key, hashes.SHA256()), key, (self.cert,))

    def crl(self, revoked: list[Issued]) -> bytes:
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
                   .last_update(_NOW - datetime.timedelta(days=1)).next_update(_NOW + datetime.timedelta(days=30)))
        for issued in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(issued.cert.serial_number)
                .revocation_date(_NOW - datetime.timedelta(hours=1)).build())
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
