"""``tls_params`` applied to an ``SSLContext`` with Envoy's defaults: TLS 1.2 to 1.3 for servers,
1.2 only for clients, Envoy's cipher list and the curves X25519 and P-256.

``cipher_suites`` may use BoringSSL's equal-preference groups (``[A|B]``), which Envoy's own
defaults do: OpenSSL has no such groups, so a group's members keep their order, each preferred
over the next.
"""
from __future__ import annotations

import ssl

from ..config.tls import TLS1_2, TLS1_3, TLS_AUTO, TlsParams
from . import openssl

DEFAULT_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305",
                   "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305",
                   "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384")
DEFAULT_CURVES = ("X25519", "P-256")
_VERSIONS = {TLS1_2: ssl.TLSVersion.TLSv1_2, TLS1_3: ssl.TLSVersion.TLSv1_3}


def cipher_names(suites) -> list[str]:
    """``cipher_suites`` as OpenSSL cipher names, equal-preference groups flattened."""
    return [name for suite in suites for name in suite.strip("[]").split("|") if name]


def check(params: TlsParams) -> list[tuple[str, str]]:
    """(field, reason) for each cipher suite or curve this OpenSSL does not know."""
    problems = []
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for index, name in enumerate(cipher_names(params.cipher_suites)):
        try:
            probe.set_ciphers(name)
        except ssl.SSLError:
            problems.append((f"cipher_suites[{index}]", f"Failed to initialize cipher suites {name}"))
    for index, curve in enumerate(params.ecdh_curves):
        try:
            openssl.set_groups(probe, [curve])
        except ssl.SSLError:
            problems.append((f"ecdh_curves[{index}]", f"Failed to initialize ECDH curves {curve}"))
        except openssl.OpenSSLUnavailable as error:
            problems.append((f"ecdh_curves[{index}]", str(error)))
    return problems


def apply(context: ssl.SSLContext, params: TlsParams, server: bool) -> None:
    minimum = TLS1_2 if params.minimum_version == TLS_AUTO else params.minimum_version
    maximum = params.maximum_version
    if maximum == TLS_AUTO:
        maximum = TLS1_3 if server else TLS1_2
    context.minimum_version = _VERSIONS[minimum]
    context.maximum_version = _VERSIONS[maximum]
    context.set_ciphers(":".join(cipher_names(params.cipher_suites) or DEFAULT_CIPHERS))
    if openssl.available:
        openssl.set_groups(context, list(params.ecdh_curves or DEFAULT_CURVES))
