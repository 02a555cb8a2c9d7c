"""The request headers as the upstream gets them: what Envoy's connection manager adds and
replaces before the filters run (docs/envoy-reference.md rules 3-9)."""
from __future__ import annotations

from . import xfcc
from .headers import NOT_FORWARDED, header_index, strip_hop_by_hop
from .request_id import new_request_id
from .xfcc import XFCC

#: the headers ``forwarded_headers`` edits
_LOOKED_FOR = frozenset((b"x-forwarded-proto", XFCC, b"x-request-id", b"x-forwarded-for"))


def forwarded_headers(conn, stream):
    """The request headers of ``stream`` as the upstream gets them, decorated on ``conn``.

    Edited in place: what Envoy changes keeps its position, what it adds goes last.
    """
    hcm = conn.hcm
    head = stream.head
    headers = head.headers
    if head.hop_by_hop:
        headers = head.headers = strip_hop_by_hop(headers, head.nominated, NOT_FORWARDED)
    if headers and headers[0][0] != b"host":
        headers.sort(key=_host_first)
    if head.expect_continue:
        # answered here already: the upstream must not be asked again. Dropped before the
        # positions below are taken, as it moves those after it.
        expect_at = header_index(headers, b"expect")
        if expect_at >= 0:
            del headers[expect_at]
    xfp_at = request_id_at = xff_at = xfcc_at = -1
    for index, (name, value) in enumerate(headers):
        if name not in _LOOKED_FOR:     # most headers: one set lookup instead of four compares
            continue
        if name == b"x-forwarded-proto":
            xfp_at = index
        elif name == XFCC:
            xfcc_at = index
        elif name == b"x-request-id":
            request_id_at = index if value else -1
        elif name == b"x-forwarded-for":
            xff_at = index
    if hcm.use_remote_address:
        # Every peer is external: hotproxy has no internal_address_config (nor has Envoy 1.40
        # an internal range by default, loopback included).
        remote = conn.remote_ip.encode()
        if xff_at >= 0:
            prior = headers[xff_at][1]
            headers[xff_at] = (b"x-forwarded-for", prior + b"," + remote)
            trusted = _trusted_client(prior, hcm.xff_num_trusted_hops, remote)
        else:
            headers.append((b"x-forwarded-for", remote))
            trusted = remote
        if xfp_at >= 0:
            headers[xfp_at] = (b"x-forwarded-proto", conn.scheme)
        else:
            headers.append((b"x-forwarded-proto", conn.scheme))
        headers.append((b"x-envoy-external-address", trusted))
        if hcm.generate_request_id:
            if request_id_at >= 0:
                headers[request_id_at] = (b"x-request-id", new_request_id())
            else:
                headers.append((b"x-request-id", new_request_id()))
    else:
        if xfp_at < 0:
            headers.append((b"x-forwarded-proto", conn.scheme))
        if hcm.generate_request_id and request_id_at < 0:
            headers.append((b"x-request-id", new_request_id()))
    if xfcc_at >= 0 or (conn.tls is not None and conn.tls.peer is not None):
        headers = head.headers = xfcc.apply(hcm.config.forward_client_cert_details, headers,
                                            client_certificate(conn), hcm.client_cert_details)
    return headers


def client_certificate(conn):
    """The client's certificate as x-forwarded-client-cert describes it, None when the
    connection is not mutual TLS."""
    tls = conn.tls
    if tls is None or tls.peer is None:
        return None
    if conn.client_cert is None:
        peer = tls.peer
        conn.client_cert = xfcc.ClientCertificate(
            sha256=peer.sha256, subject=peer.subject, uris=peer.uris, dns=peer.dns, pem=tls.peer_pem,
            chain_pem=tls.peer_chain_pem or tls.peer_pem, local_uris=tls.local_uris)
    return conn.client_cert


def _host_first(item):
    return item[0] != b"host"


def _trusted_client(prior_xff, trusted_hops, remote):
    """The client address Envoy trusts: the peer, or the Nth XFF entry from the right."""
    if not trusted_hops:
        return remote
    entries = [entry.strip() for entry in prior_xff.split(b",")]
    return entries[-trusted_hops] if len(entries) >= trusted_hops else remote
