"""The access-log operators of a downstream TLS connection (``%REQUESTED_SERVER_NAME%``,
``%DOWNSTREAM_TLS_VERSION%``, ``%DOWNSTREAM_PEER_SUBJECT%``, ``%DOWNSTREAM_PEER_URI_SAN%`` and
their siblings). Each reads ``info.downstream_tls`` (listener/tls_transport.py's DownstreamTls),
and prints ``-`` on a plain-text connection or when the peer sent no certificate, as Envoy does."""
from __future__ import annotations

from ..http.xfcc import url_encoded_pem


def _tls(read):
    """``read(downstream_tls)`` (str or None) as the bytes a log line holds, from ``info``."""
    def field(info):
        tls = info.downstream_tls
        value = read(tls) if tls is not None else None
        return value.encode() if value else None
    return field


def _peer(read):
    """``read(peer certificate info, downstream_tls)`` when the client presented a certificate."""
    return _tls(lambda tls: read(tls.peer, tls) if tls.peer is not None else None)


def _time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


#: operator → ``read(info)``
TLS_READERS = {
    "REQUESTED_SERVER_NAME": _tls(lambda tls: tls.server_name),
    "DOWNSTREAM_TLS_VERSION": _tls(lambda tls: tls.version),
    "DOWNSTREAM_TLS_CIPHER": _tls(lambda tls: tls.cipher),
    "DOWNSTREAM_LOCAL_URI_SAN": _tls(lambda tls: ",".join(tls.local_uris)),
    "DOWNSTREAM_PEER_SUBJECT": _peer(lambda peer, tls: peer.subject),
    "DOWNSTREAM_PEER_ISSUER": _peer(lambda peer, tls: peer.issuer),
    "DOWNSTREAM_PEER_URI_SAN": _peer(lambda peer, tls: ",".join(peer.uris)),
    "DOWNSTREAM_PEER_DNS_SAN": _peer(lambda peer, tls: ",".join(peer.dns)),
    "DOWNSTREAM_PEER_IP_SAN": _peer(lambda peer, tls: ",".join(peer.ips)),
    "DOWNSTREAM_PEER_EMAIL_SAN": _peer(lambda peer, tls: ",".join(peer.emails)),
    "DOWNSTREAM_PEER_SERIAL": _peer(lambda peer, tls: peer.serial),
    "DOWNSTREAM_PEER_FINGERPRINT_256": _peer(lambda peer, tls: peer.sha256),
    "DOWNSTREAM_PEER_FINGERPRINT_1": _peer(lambda peer, tls: peer.sha1),
    "DOWNSTREAM_PEER_CERT": _peer(lambda peer, tls: url_encoded_pem(tls.peer_pem)),
    "DOWNSTREAM_PEER_CERT_V_START": _peer(lambda peer, tls: _time(peer.not_before)),
    "DOWNSTREAM_PEER_CERT_V_END": _peer(lambda peer, tls: _time(peer.not_after)),
}
