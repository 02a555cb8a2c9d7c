"""TLS transport sockets (envoy.extensions.transport_sockets.tls.v3) as frozen dataclasses.

Certificate material is kept as the bytes read at validation time (``pem``), so that every
worker of a generation serves exactly what was checked, and a reload re-reads rotated files.
"""
from __future__ import annotations

from dataclasses import dataclass

from .core import StringMatcher
from .xds import ConfigSource

TLS_AUTO, TLS1_0, TLS1_1, TLS1_2, TLS1_3 = "TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"


@dataclass(frozen=True)
class TlsCertificate:
    """A certificate chain (leaf first) and its private key, PEM, as read and checked."""
    chain_pem: bytes
    key_pem: bytes
    password: bytes | None = None
    source: str = ""      # where the chain came from: a file name, or "<inline>" (for /certs)


@dataclass(frozen=True)
class TlsParams:
    minimum_version: str = TLS_AUTO
    maximum_version: str = TLS_AUTO
    cipher_suites: tuple[str, ...] = ()
    ecdh_curves: tuple[str, ...] = ()


@dataclass(frozen=True)
class SanMatcher:
    """SubjectAltNameMatcher: ``san_type`` is EMAIL, DNS, URI or IP_ADDRESS."""
    san_type: str
    matcher: StringMatcher


@dataclass(frozen=True)
class ValidationContext:
    """CertificateValidationContext. ``trusted_ca_pem`` None: a peer certificate is not verified
    against a CA (and, downstream, not asked for unless something below needs it)."""
    trusted_ca_pem: bytes | None = None
    trusted_ca_source: str = ""
    crl_pem: bytes | None = None
    only_verify_leaf_cert_crl: bool = False
    match_typed_subject_alt_names: tuple[SanMatcher, ...] = ()
    verify_certificate_hash: tuple[str, ...] = ()   # lower-case hex, no colons
    verify_certificate_spki: tuple[str, ...] = ()   # base64 of the SPKI's SHA-256
    allow_expired_certificate: bool = False
    max_verify_depth: int | None = None

    @property
    def checks_peer(self) -> bool:
        """Whether anything is asked of a peer's certificate beyond the CA."""
        return bool(self.match_typed_subject_alt_names or self.verify_certificate_hash
                    or self.verify_certificate_spki)


@dataclass(frozen=True)
class CommonTlsContext:
    """``tls_certificates`` and ``validation`` include what the context's SDS secrets hold;
    ``sds_secrets`` names those fetched from a control plane (its rotation rebuilds the
    context), ``missing_secrets`` those not fetched yet (the listener or cluster warms)."""
    tls_certificates: tuple[TlsCertificate, ...] = ()
    tls_params: TlsParams = TlsParams()
    alpn_protocols: tuple[str, ...] = ()
    validation: ValidationContext | None = None
    sds_secrets: tuple[tuple[str, ConfigSource], ...] = ()     # (name, where it comes from)
    missing_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class DownstreamTlsContext:
    common: CommonTlsContext
    require_client_certificate: bool = False
    session_ticket_keys: tuple[bytes, ...] = ()     # 80 bytes each; the first issues tickets
    disable_stateless_session_resumption: bool = False
    disable_stateful_session_resumption: bool = False
    session_timeout: float | None = None
    full_scan_certs_on_sni_mismatch: bool = False
    prefer_client_ciphers: bool = False


@dataclass(frozen=True)
class UpstreamTlsContext:
    common: CommonTlsContext = CommonTlsContext()
    sni: str = ""
    auto_host_sni: bool = False
    auto_sni_san_validation: bool = False
    max_session_keys: int = 1
