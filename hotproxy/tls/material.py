"""Certificates, keys, CAs and CRLs loaded into an ``SSLContext`` from the PEM bytes the config
read at validation (the ``ssl`` module loads them from files only: they go through an anonymous
memory file, so that a private key never touches a disk)."""
from __future__ import annotations

import os
import ssl

from ..config.tls import TlsCertificate


def load_certificate(context: ssl.SSLContext, certificate: TlsCertificate) -> None:
    with _private_file(certificate.chain_pem) as chain, _private_file(certificate.key_pem) as key:
        context.load_cert_chain(chain, key, password=certificate.password)


def load_trust(context: ssl.SSLContext, validation) -> None:
    if validation.crl_pem is None:
        context.load_verify_locations(cadata=validation.trusted_ca_pem.decode("ascii", "replace"))
        return
    # CRLs load only from a file (``cadata`` takes certificates alone)
    with _private_file(validation.trusted_ca_pem + b"\n" + validation.crl_pem) as bundle:
        context.load_verify_locations(cafile=bundle)
    context.verify_flags |= (ssl.VERIFY_CRL_CHECK_LEAF if validation.only_verify_leaf_cert_crl
                             else ssl.VERIFY_CRL_CHECK_CHAIN)


class _private_file:
    """A path that reads ``data`` for as long as the ``with`` block runs: an anonymous memory
    file, so that a private key never touches a disk."""

    def __init__(self, data: bytes):
        self.data = data

    def __enter__(self) -> str:
        self.descriptor = os.memfd_create("hotproxy-tls", os.MFD_CLOEXEC)
        os.write(self.descriptor, self.data)
        return f"/proc/self/fd/{self.descriptor}"

    def __exit__(self, *_exc):
        os.close(self.descriptor)
