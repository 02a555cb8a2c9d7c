"""``/certs``: the certificates of every TLS context the serving config has (listener filter chains
first, then clusters), as Envoy lists them: the CA and the leaf of each certificate chain, with the
days until each expires."""
from __future__ import annotations

import datetime

from ..tls.certificates import der_of, describe, load_chain


def certificates(bootstrap, now=None) -> dict:
    contexts = [chain.transport_socket.common for listener in bootstrap.listeners
                for chain in listener.all_filter_chains() if chain.transport_socket is not None]
    contexts += [context.common for cluster in bootstrap.clusters for context in cluster.tls_contexts()]
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {"certificates": [_context(common, now) for common in contexts]}


def _context(common, now) -> dict:
    validation = common.validation
    ca = []
    if validation is not None and validation.trusted_ca_pem is not None:
        ca = [_details(load_chain(validation.trusted_ca_pem)[0], validation.trusted_ca_source, now)]
    return {"ca_cert": ca,
            "cert_chain": [_details(load_chain(certificate.chain_pem)[0], certificate.source, now)
                           for certificate in common.tls_certificates]}


def _details(certificate, source, now) -> dict:
    info = describe(der_of(certificate))
    names = ([{"dns": name} for name in info.dns] + [{"uri": uri} for uri in info.uris]
             + [{"ip_address": ip} for ip in info.ips] + [{"email": email} for email in info.emails])
    return {"path": source or "<inline>", "serial_number": info.serial, "subject_alt_names": names,
            "days_until_expiration": str(info.days_until_expiration(now)),
            "valid_from": _time(info.not_before), "expiration_time": _time(info.not_after)}


def _time(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
