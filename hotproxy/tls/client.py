"""The client side of a TLS transport socket, for a cluster's upstream connections:
``ClientTls(UpstreamTlsContext)`` wraps a connected socket and runs the handshake.

As in Envoy, the server is verified only as far as the config asks: against ``trusted_ca`` when
one is given, and against the SAN matchers and pins of the validation context; there is no
implicit hostname check. ``auto_sni_san_validation`` replaces the SAN matchers with a DNS SAN that
must match the SNI sent. A request may name its own SNI and SAN (``options``, from the
cluster's ``upstream_http_protocol_options``): they take the place of the configured ones.

Sessions are kept per SNI, at most ``max_session_keys`` of them (0: no resumption), so that a
pool's next connection to the same host resumes instead of running a full handshake.
"""
from __future__ import annotations

import ssl
from collections import OrderedDict

from gevent import ssl as gevent_ssl

from ..config.core import StringMatcher
from ..config.tls import SanMatcher, UpstreamTlsContext, ValidationContext
from . import data_socket, params
from .material import load_certificate, load_trust
from .verify import PeerCheck


class HandshakeFailure(Exception):
    """The upstream TLS handshake failed; ``reason`` is what Envoy's 503 body says of it, and
    ``stat`` the cluster's ``ssl.*`` counter."""

    def __init__(self, reason, stat="connection_error"):
        super().__init__(reason)
        self.reason = reason
        self.stat = stat


class ClientTls:
    def __init__(self, config: UpstreamTlsContext, alpn_fallback=()):
        """``alpn_fallback``: the protocols offered by ALPN when the context names none (an
        auto_config cluster's h2 and http/1.1, as Envoy's mixed pool offers them)."""
        self.config = config
        common = config.common
        context = gevent_ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        data_socket.configure(context, server=False)
        context.check_hostname = False
        params.apply(context, common.tls_params, server=False)
        validation = common.validation or ValidationContext()
        if validation.trusted_ca_pem is not None:
            load_trust(context, validation)
            context.verify_mode = ssl.CERT_REQUIRED
        else:
            context.verify_mode = ssl.CERT_NONE
        for certificate in common.tls_certificates[:1]:
            load_certificate(context, certificate)
        alpn = common.alpn_protocols or alpn_fallback
        if alpn:
            context.set_alpn_protocols(list(alpn))
        self.context = context
        self.peer_check = PeerCheck(validation) if validation.checks_peer else None
        self.max_sessions = config.max_session_keys
        self._sessions = OrderedDict()  # SNI → the last session the server gave us

    def server_name(self, hostname: str, options=None) -> str | None:
        """The SNI for a host resolved from ``hostname`` (empty for a STATIC host), for a
        request that asked for ``options`` (or None)."""
        if options is not None and options.sni:
            return options.sni
        if self.config.auto_host_sni and hostname:
            return hostname
        return self.config.sni or None

    def wrap(self, sock, hostname: str = "", options=None):
        """``sock`` (connected) as a TLS socket after a completed, verified handshake. Raises
        ``HandshakeFailure``; ``sock`` is then closed."""
        sni = self.server_name(hostname, options)
        session = self._sessions.get(sni) if self.max_sessions else None
        try:
            tls = self.context.wrap_socket(sock, server_hostname=sni, session=session,
                                           do_handshake_on_connect=False)
            tls.do_handshake()
        except ssl.SSLCertVerificationError as error:
            sock.close()
            raise HandshakeFailure(f"TLS_error:|{error.verify_message}:TLS_error_end", "fail_verify_error") from None
        except (ssl.SSLError, OSError) as error:
            sock.close()
            raise HandshakeFailure(f"TLS_error:|{_reason(error)}:TLS_error_end") from None
        failure = self._check_peer(tls, sni, options.san if options is not None else None)
        if failure is not None:
            tls.close()
            raise HandshakeFailure("TLS_error:|CERTIFICATE_VERIFY_FAILED:TLS_error_end", failure)
        return tls

    def _check_peer(self, tls, sni, san):
        check = self.peer_check
        if san is None and self.config.auto_sni_san_validation and sni:
            san = sni
        if san is not None:
            # Envoy's override list: a DNS SAN matches with wildcards, any other SAN exactly.
            check = PeerCheck(ValidationContext(
                verify_certificate_hash=check.hashes if check else (),
                verify_certificate_spki=check.spkis if check else (),
                match_typed_subject_alt_names=tuple(
                    SanMatcher(kind, StringMatcher("exact", san))
                    for kind in ("DNS", "URI", "IP_ADDRESS", "EMAIL"))))
        if check is None:
            return None
        return check.failure(tls.getpeercert(binary_form=True))

    def remember(self, tls, hostname: str = "", options=None) -> None:
        """Keep ``tls``'s session for the next connection to the same SNI (called once the
        connection has carried an exchange: a TLS 1.3 server sends its tickets after the
        handshake)."""
        if not self.max_sessions:
            return
        session = tls.session
        if session is None:
            return
        sni = self.server_name(hostname, options)
        sessions = self._sessions
        sessions[sni] = session
        sessions.move_to_end(sni)
        while len(sessions) > self.max_sessions:
            sessions.popitem(last=False)


def _reason(error) -> str:
    reason = getattr(error, "reason", None)
    return reason or str(error) or type(error).__name__
