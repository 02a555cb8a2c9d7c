"""A filter chain's TLS transport socket in a worker: the handshake of an accepted connection,
counted in the listener's ``ssl.*`` stats as Envoy counts it, and the facts it established for the
connection manager (``x-forwarded-proto``, ``x-forwarded-client-cert``) and the access logs.

A client certificate is checked against the CA during the handshake (OpenSSL); the SAN matchers
and pins of the validation context are checked right after it, and a certificate that fails them
closes the connection before any byte of it is read.
"""
from __future__ import annotations

import ssl
import _ssl
from dataclasses import dataclass

from gevent import Timeout

from ..config.tls import DownstreamTlsContext
from ..stats.counter_map import CounterMap
from ..stats.tls import TlsStats
from ..tls.certificates import CertificateInfo, describe, pem_of
from ..tls.openssl import count_negotiated
from ..tls.server import ServerTls

#: An accepted connection that has not finished its handshake by then is closed.
HANDSHAKE_TIMEOUT_S = 10.0
_VERSION_NAMES = {"TLSv1.2": "TLSv1.2", "TLSv1.3": "TLSv1.3"}


@dataclass(frozen=True)
class DownstreamTls:
    """What a connection's handshake established."""
    server_name: str | None
    version: str
    cipher: str
    alpn: str | None
    session_reused: bool
    peer: CertificateInfo | None      # the client's certificate, when it presented one
    peer_pem: str | None
    local_uris: tuple[str, ...]       # this proxy's own certificate's URI SANs
    peer_chain_pem: str | None = None   # the chain the client presented, its certificate first


class TlsTransport:
    def __init__(self, config: DownstreamTlsContext, ticket_key: bytes | None = None):
        self.server = ServerTls(config, ticket_key)
        self._ticket_key = ticket_key
        self.stats = TlsStats()
        self.dynamic = CounterMap()   # ciphers.<name>, versions.<name>, curves.*, sigalgs.*

    def use(self, config: DownstreamTlsContext):
        """SDS rotated a secret: handshakes from now on use ``config``'s certificates (built
        first, swapped in one assignment; connections already up keep theirs)."""
        self.server = ServerTls(config, self._ticket_key)

    def handshake(self, sock):
        """``(tls socket, DownstreamTls)`` after a handshake that succeeded and passed every
        check, else None (``sock`` is closed)."""
        stats = self.stats
        tls = self.server.default.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            with Timeout(HANDSHAKE_TIMEOUT_S):
                tls.do_handshake()
        except ssl.SSLCertVerificationError:
            stats.fail_verify_error += 1
            return _closed(tls)
        except ssl.SSLError as error:
            if error.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
                stats.fail_verify_no_cert += 1
            else:
                stats.connection_error += 1
            return _closed(tls)
        except (OSError, Timeout):
            stats.connection_error += 1
            return _closed(tls)
        der = tls.getpeercert(binary_form=True)
        check = self.server.peer_check
        if der is not None and check is not None and check.active:
            failure = check.failure(der)
            if failure is not None:
                setattr(stats, failure, getattr(stats, failure) + 1)
                return _closed(tls)
        if der is None:
            stats.no_certificate += 1
        stats.handshake += 1
        reused = tls.session_reused
        if reused:
            stats.session_reused += 1
        cipher, version, _bits = tls.cipher()
        self.dynamic.add(f"ciphers.{cipher}")
        self.dynamic.add(f"versions.{version}")
        count_negotiated(self.dynamic, tls)
        peer = describe(der) if der is not None else None
        return tls, DownstreamTls(
            server_name=self.server.requested_name(tls),
            version=version, cipher=cipher, alpn=tls.selected_alpn_protocol(), session_reused=reused,
            peer=peer, peer_pem=pem_of(der).decode() if der is not None else None,
            local_uris=self.server.local_uris(tls.context),
            peer_chain_pem=_presented_chain(tls) if der is not None else None)


def _presented_chain(tls) -> str | None:
    """The certificates the client sent, as PEM, its own first (for XFCC's ``Chain``). Python
    3.11 reads them only on the private SSL object (public from 3.13); None where it cannot."""
    read = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if read is None:
        return None
    return "".join(certificate.public_bytes(_ssl.ENCODING_PEM) for certificate in read() or ())


def _closed(tls):
    try:
        tls.close()
    except OSError:
        pass
    return None

