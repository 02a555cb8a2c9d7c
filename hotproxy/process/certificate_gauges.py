"""Envoy's certificate expiry gauges, computed by the arbiter from the serving config:
``listener.<address>.ssl.certificate.<name>.expiration_unix_time_seconds`` for the certificates a
listener serves and ``cluster.<name>.ssl.certificate.<name>.expiration_unix_time_seconds`` for the
client certificates a cluster presents, so that dashboards that watch expiries (the
``envoy_tls_certificate`` tag) see them.

Envoy names a certificate by its SDS secret; hotproxy does not keep that name, so every
certificate is ``unnamed_cert_e3b0c442``, the name Envoy gives one read from a file or inline. A
listener with several certificates reports the earliest expiry."""
from __future__ import annotations

from ..tls.certificates import der_of, describe, load_chain

UNNAMED = "unnamed_cert_e3b0c442"


def certificate_expirations(bootstrap) -> dict[str, int]:
    gauges: dict[str, int] = {}
    for listener in bootstrap.listeners:
        for chain in listener.all_filter_chains():
            if chain.transport_socket is not None:
                _add(gauges, f"listener.{listener.stat_name}", chain.transport_socket.common)
    for cluster in bootstrap.clusters:
        for context in cluster.tls_contexts():
            _add(gauges, f"cluster.{cluster.stat_name}", context.common)
    return gauges


def _add(gauges, scope, common):
    name = f"{scope}.ssl.certificate.{UNNAMED}.expiration_unix_time_seconds"
    for certificate in common.tls_certificates:
        expires = int(describe(der_of(load_chain(certificate.chain_pem)[0])).not_after.timestamp())
        gauges[name] = min(gauges.get(name, expires), expires)
