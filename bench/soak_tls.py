"""The soak's TLS mode (``--tls``): the listener terminates TLS with a certificate made by
deploy/double-proxy/gen-certs.sh, and every client speaks TLS, verifying it against that CA.
A TLS connection cannot move to the next generation, so a reload answers its next request with
``Connection: close``; ``http.client`` then opens a new connection for the request after, as any
client does: it never retries a failed request."""
from __future__ import annotations

import http.client
import ssl
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def transport_socket(workdir: Path) -> tuple[str, object]:
    """(the filter chain's transport_socket as a YAML flow line, an ``ssl.SSLContext`` for clients)."""
    certs = workdir / "certs"
    subprocess.run(["bash", str(ROOT / "deploy/double-proxy/gen-certs.sh"), str(certs)], check=True,
                   capture_output=True)
    yaml = ('transport_socket: {{ name: envoy.transport_sockets.tls, typed_config: {{ "@type": '
            'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext, '
            'common_tls_context: {{ tls_certificates: [{{ certificate_chain: {{ filename: {cert} }}, '
            'private_key: {{ filename: {key} }} }}] }} }} }}').format(cert=certs / "edge-server.pem",
                                                                      key=certs / "edge-server.key")
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.check_hostname = False
    return yaml, context


def connection_factory(context):
    """``connect(port, timeout)`` for plain text (``context`` None) or TLS."""
    if context is None:
        return lambda port, timeout: http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    return lambda port, timeout: http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
