"""Envoy's ``ssl.*`` counters, kept per listener (``listener.<address>.ssl.``) and per cluster
(``cluster.<name>.ssl.``); the per-cipher and per-version ones are a ``CounterMap`` beside them."""
from .schema import stat_set

TlsStats = stat_set("TlsStats", (
    "handshake", "connection_error", "no_certificate", "session_reused", "fail_verify_no_cert",
    "fail_verify_error", "fail_verify_san", "fail_verify_cert_hash"))
