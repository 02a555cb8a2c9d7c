"""The SNI an upstream TLS connection sends, and the SAN it verifies, taken from each request's
Host header, or from the header ``override_auto_sni_header`` names when the request has it
(Envoy's ``upstream_http_protocol_options``: ``auto_sni``, ``auto_san_validation``). As in Envoy,
an IP address is never sent as SNI, and connections made for different names are pooled apart."""
from __future__ import annotations

import ipaddress

from .connect import ConnectOptions


class NamesFromRequest:
    def __init__(self, cluster_config):
        self.auto_sni = cluster_config.auto_sni
        self.auto_san = cluster_config.auto_san_validation
        self.header = cluster_config.override_auto_sni_header.encode()

    def __call__(self, host: bytes | None, headers) -> ConnectOptions | None:
        """The names for a request with Host ``host`` and ``headers``; None when it asks for
        nothing beyond the cluster's own TLS settings."""
        value = host
        if self.header:
            for name, header_value in headers:
                if name == self.header:
                    value = header_value
                    break
        if not value:
            return None
        name, is_ip = authority_host(value.decode("latin-1"))
        if not name:
            return None
        names = ConnectOptions(sni=name if self.auto_sni and not is_ip else None,
                             san=name if self.auto_san else None)
        return names if names.sni or names.san else None


def authority_host(authority: str) -> tuple[str, bool]:
    """The host of ``authority`` (``host``, ``host:port``, ``[v6]:port``), and whether it is an
    IP address."""
    if authority.startswith("["):
        end = authority.find("]")
        host = authority[1:end] if end > 0 else authority
        return host, _is_ip(host)
    if _is_ip(authority):       # an IPv6 address without brackets, or IPv4 without a port
        return authority, True
    host, colon, port = authority.rpartition(":")
    if colon and port.isdigit():
        return host, _is_ip(host)
    return authority, False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
