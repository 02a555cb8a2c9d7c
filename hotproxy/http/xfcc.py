"""``x-forwarded-client-cert`` as Envoy writes it (``forward_client_cert_details`` and
``set_current_client_cert_details``). Sans-IO: the connection's TLS facts in, header values out.

An element describes one hop's client certificate: ``By`` (the proxy's own URI SANs), ``Hash``
(the client certificate's SHA-256), then what ``set_current_client_cert_details`` asks for:
``Cert`` and ``Chain`` (URL-encoded PEM), ``Subject``, ``URI`` and ``DNS`` (the client's SANs).
Hops are separated by commas, an element's keys by semicolons.
"""
from __future__ import annotations

from dataclasses import dataclass

XFCC = b"x-forwarded-client-cert"
SANITIZE, FORWARD_ONLY, APPEND_FORWARD, SANITIZE_SET, ALWAYS_FORWARD_ONLY = (
    "SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY")
_PEM_ESCAPES = {"\n": "%0A", " ": "%20", "+": "%2B", "/": "%2F", "=": "%3D"}


@dataclass(frozen=True)
class CertDetails:
    """``set_current_client_cert_details``: which optional keys an element carries."""
    subject: bool = False
    cert: bool = False
    chain: bool = False
    dns: bool = False
    uri: bool = False


@dataclass(frozen=True)
class ClientCertificate:
    """What the TLS handshake established about the client (and this proxy's own certificate)."""
    sha256: str
    subject: str
    uris: tuple[str, ...]
    dns: tuple[str, ...]
    pem: str
    chain_pem: str
    local_uris: tuple[str, ...]


def url_encoded_pem(pem: str) -> str:
    return "".join(_PEM_ESCAPES.get(char, char) for char in pem)


def element(client: ClientCertificate, details: CertDetails) -> bytes:
    parts = [f"By={uri}" for uri in client.local_uris]
    parts.append(f"Hash={client.sha256}")
    if details.cert:
        parts.append(f'Cert="{url_encoded_pem(client.pem)}"')
    if details.chain:
        parts.append(f'Chain="{url_encoded_pem(client.chain_pem)}"')
    if details.subject:
        parts.append(f'Subject="{client.subject}"')
    if details.uri:
        parts.extend(f"URI={uri}" for uri in client.uris)
    if details.dns:
        parts.extend(f"DNS={name}" for name in client.dns)
    return ";".join(parts).encode()


def apply(mode: str, headers: list, client: ClientCertificate | None, details: CertDetails) -> list:
    """``headers`` with x-forwarded-client-cert as ``mode`` wants it for a connection whose client
    presented ``client`` (None: not mutual TLS)."""
    if mode == ALWAYS_FORWARD_ONLY or (mode == FORWARD_ONLY and client is not None):
        return headers
    kept = [header for header in headers if header[0] != XFCC]
    if client is None or mode in (SANITIZE, FORWARD_ONLY):
        return kept
    value = element(client, details)
    if mode == APPEND_FORWARD:
        previous = [v for name, v in headers if name == XFCC]
        if previous:
            value = b",".join(previous) + b"," + value
    kept.append((XFCC, value))
    return kept
