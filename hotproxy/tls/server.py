"""The server side of a TLS transport socket: ``ServerTls(DownstreamTlsContext)`` builds the
``SSLContext`` objects once per worker and picks one per handshake.

Certificate selection follows Envoy's: the certificates are grouped by the names they answer
for (DNS SANs, else the common name), and a group holds at most one certificate per key type
(RSA, ECDSA), all loaded into one context so that OpenSSL picks the type the client can verify.
On a handshake the client's SNI chooses the group, an exact name before a wildcard one; no SNI, or
an SNI no certificate names, gets the first certificate's group (``full_scan_certs_on_sni_mismatch``
widens that to every certificate, so that the client's key types decide).

Tickets: every context of every worker encrypts with the same ticket key (the configured
``session_ticket_keys``, else the key the arbiter generated for all generations), so that a
session issued by one worker resumes on any other and after a reload.
"""
from __future__ import annotations

import ssl

from gevent import ssl as gevent_ssl

from ..config.tls import DownstreamTlsContext, TlsCertificate
from . import data_socket, openssl, params
from .certificates import describe, der_of, key_type, load_chain, load_key, server_names
from .material import load_certificate, load_trust
from .verify import PeerCheck


class ServerTls:
    def __init__(self, config: DownstreamTlsContext, ticket_key: bytes | None = None):
        self.config = config
        validation = config.common.validation
        self.peer_check = PeerCheck(validation) if validation is not None else None
        self.require_client_certificate = config.require_client_certificate
        groups = _group_by_names(config.common.tls_certificates)
        if config.full_scan_certs_on_sni_mismatch:
            groups.append(((), _first_per_key_type(config.common.tls_certificates)))
        self._exact, self._wildcard = {}, {}
        contexts = []
        for names, certificates in groups:
            context = self._context(certificates, ticket_key)
            contexts.append(context)
            for name in names:
                table = self._wildcard if name.startswith("*.") else self._exact
                table.setdefault(name[1:] if name.startswith("*.") else name, context)
        self.default = contexts[-1] if config.full_scan_certs_on_sni_mismatch else contexts[0]
        self.contexts = contexts
        for context in contexts:
            context.sni_callback = self._select
        self.certificates = [describe(der_of(load_chain(c.chain_pem)[0])) for c in config.common.tls_certificates]
        self._local_uris = {id(context): _uris(certificates) for context, (_names, certificates)
                            in zip(contexts, groups)}

    def _context(self, certificates, ticket_key):
        config = self.config
        context = gevent_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        data_socket.configure(context, server=True)
        params.apply(context, config.common.tls_params, server=True)
        for certificate in certificates:
            load_certificate(context, certificate)
        if config.common.alpn_protocols:
            context.set_alpn_protocols(list(config.common.alpn_protocols))
        validation = config.common.validation
        if validation is not None and validation.trusted_ca_pem is not None:
            load_trust(context, validation)
            context.verify_mode = ssl.CERT_REQUIRED if config.require_client_certificate else ssl.CERT_OPTIONAL
        options = context.options
        if config.disable_stateless_session_resumption:
            options |= ssl.OP_NO_TICKET
        if config.prefer_client_ciphers:
            options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        else:
            options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        context.options = options
        if openssl.available:
            keys = config.session_ticket_keys or ((ticket_key,) if ticket_key else ())
            if keys and not config.disable_stateless_session_resumption:
                openssl.set_ticket_keys(context, list(keys))
            if config.session_timeout is not None:
                openssl.set_session_timeout(context, int(config.session_timeout))
            if config.disable_stateful_session_resumption:
                openssl.disable_session_cache(context)
        return context

    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        """The context whose certificates answer for ``server_name``."""
        if server_name:
            name = server_name.lower().rstrip(".")
            context = self._exact.get(name)
            if context is not None:
                return context
            dot = name.find(".")
            if dot > 0:
                context = self._wildcard.get(name[dot:])
                if context is not None:
                    return context
        return self.default

    def _select(self, ssl_socket, server_name, _context):
        ssl_socket.requested_server_name = server_name
        chosen = self.context_for(server_name)
        if ssl_socket.context is not chosen:
            ssl_socket.context = chosen
        return None

    @staticmethod
    def requested_name(ssl_socket) -> str | None:
        """The SNI the client sent on ``ssl_socket`` (after its handshake), or None."""
        return getattr(ssl_socket, "requested_server_name", None)

    def local_uris(self, context) -> tuple[str, ...]:
        """The URI SANs of the certificates ``context`` serves (``By`` in x-forwarded-client-cert)."""
        return self._local_uris.get(id(context), ())


def _group_by_names(certificates: tuple[TlsCertificate, ...]):
    """[(names, [certificate, ...])] in config order, one certificate per key type in a group."""
    groups = []
    for certificate in certificates:
        names = server_names(describe(der_of(load_chain(certificate.chain_pem)[0])))
        for group_names, members in groups:
            if group_names == names and _first_per_key_type(members + [certificate])[-1] is certificate:
                members.append(certificate)
                break
        else:
            groups.append((names, [certificate]))
    return groups


def _first_per_key_type(certificates):
    """The first certificate of each key type, in order."""
    chosen, kinds = [], set()
    for certificate in certificates:
        kind = key_type(load_key(certificate.key_pem, certificate.password))
        if kind not in kinds:
            kinds.add(kind)
            chosen.append(certificate)
    return chosen


def _uris(certificates) -> tuple[str, ...]:
    return tuple(uri for certificate in certificates
                 for uri in describe(der_of(load_chain(certificate.chain_pem)[0])).uris)
