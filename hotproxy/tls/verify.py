"""What a validation context asks of a peer's certificate beyond the CA chain, which OpenSSL
checks during the handshake: its SANs (``match_typed_subject_alt_names``), its hash
(``verify_certificate_hash``) and its key (``verify_certificate_spki``). Envoy passes a
certificate that satisfies any listed SAN matcher and, when pins are listed, any one pin.

``PeerCheck(validation).failure(der)`` is None for a certificate that passes, else the ``ssl.*``
stat Envoy counts for it.
"""
from __future__ import annotations

from ..config.tls import ValidationContext
from ..matching import compile_string_matcher
from .certificates import describe

FAIL_SAN, FAIL_HASH, FAIL_NO_CERT = "fail_verify_san", "fail_verify_cert_hash", "fail_verify_no_cert"
_SAN_FIELDS = {"DNS": "dns", "URI": "uris", "IP_ADDRESS": "ips", "EMAIL": "emails"}


def dns_name_matches(pattern: str, name: str) -> bool:
    """A DNS SAN ``name`` (maybe ``*.example.com``) against an exact ``pattern``: a wildcard
    stands for exactly one left-most label, as in Envoy's dnsNameMatch."""
    pattern, name = pattern.lower(), name.lower()
    if name == pattern:
        return True
    if name.startswith("*."):
        first_dot = pattern.find(".")
        return first_dot > 0 and pattern[first_dot:] == name[1:]
    return False


class PeerCheck:
    def __init__(self, validation: ValidationContext, where: str = "validation_context"):
        self.hashes = frozenset(validation.verify_certificate_hash)
        self.spkis = frozenset(validation.verify_certificate_spki)
        self.san_tests = [self._san_test(m, f"{where}.match_typed_subject_alt_names[{i}].matcher")
                          for i, m in enumerate(validation.match_typed_subject_alt_names)]

    @staticmethod
    def _san_test(san_matcher, where):
        field = _SAN_FIELDS[san_matcher.san_type]
        matcher = san_matcher.matcher
        if san_matcher.san_type == "DNS" and matcher.kind == "exact" and not matcher.ignore_case:
            return lambda info: any(dns_name_matches(matcher.value, name) for name in info.dns)
        test = compile_string_matcher(matcher, where)
        return lambda info: any(test(value.encode()) for value in getattr(info, field))

    @property
    def active(self) -> bool:
        return bool(self.hashes or self.spkis or self.san_tests)

    def failure(self, der: bytes | None) -> str | None:
        if der is None:
            return FAIL_NO_CERT
        info = describe(der)
        if self.san_tests and not any(test(info) for test in self.san_tests):
            return FAIL_SAN
        if (self.hashes or self.spkis) and info.sha256 not in self.hashes and info.spki_sha256 not in self.spkis:
            return FAIL_HASH
        return None
