"""Parser for the TLS transport socket's contexts (DownstreamTlsContext, UpstreamTlsContext) into
tls.py's dataclasses. Certificates, keys, CAs and CRLs are read and checked here, at validation,
as Envoy checks them when it loads a config: a missing file, a key that is not the certificate's,
a wrong password or an unreadable CA is a config error with its field path."""
from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re

from .fields import NOT_SUPPORTED, UINT32_MAX, Enum, Fields, Node, present
from .parse_core import string_matcher
from .parse_xds import config_source
from .tls import (TLS1_2, TLS1_3, TLS_AUTO, CommonTlsContext, DownstreamTlsContext, SanMatcher,
                  TlsCertificate, TlsParams, UpstreamTlsContext, ValidationContext)

DOWNSTREAM_TLS_TYPE = ("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"
                       ".DownstreamTlsContext")
UPSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"

DOWNSTREAM = Fields(
    "common_tls_context require_client_certificate session_ticket_keys "
    "disable_stateless_session_resumption disable_stateful_session_resumption session_timeout "
    "full_scan_certs_on_sni_mismatch prefer_client_ciphers",
    unsupported="require_sni session_ticket_keys_sds_secret_config ocsp_staple_policy")
UPSTREAM = Fields("common_tls_context sni auto_host_sni auto_sni_san_validation max_session_keys",
                  unsupported="allow_renegotiation enforce_rsa_key_usage")
COMMON = Fields(
    "tls_params tls_certificates validation_context alpn_protocols "
    "tls_certificate_sds_secret_configs validation_context_sds_secret_config "
    "combined_validation_context",
    unsupported="tls_certificate_provider_instance "
                "custom_tls_certificate_selector tls_certificate_certificate_provider "
                "tls_certificate_certificate_provider_instance validation_context_certificate_provider "
                "validation_context_certificate_provider_instance custom_handshaker key_log")
SDS_SECRET_CONFIG = Fields("name sds_config")
COMBINED_VALIDATION = Fields("default_validation_context validation_context_sds_secret_config",
                             unsupported="validation_context_certificate_provider "
                                         "validation_context_certificate_provider_instance")
SECRET = Fields("name tls_certificate validation_context",
                unsupported="session_ticket_keys generic_secret")
TLS_PARAMS = Fields("tls_minimum_protocol_version tls_maximum_protocol_version cipher_suites ecdh_curves",
                    unsupported="signature_algorithms compliance_policies")
TLS_PROTOCOLS = Enum("TLS_AUTO TLSv1_2 TLSv1_3", unsupported="TLSv1_0 TLSv1_1")
TLS_CERTIFICATE = Fields("certificate_chain private_key password",
                         unsupported="pkcs12 watched_directory private_key_provider ocsp_staple "
                                     "signed_certificate_timestamp")
SESSION_TICKET_KEYS = Fields("keys")
VALIDATION = Fields(
    "trusted_ca crl only_verify_leaf_cert_crl match_typed_subject_alt_names verify_certificate_hash "
    "verify_certificate_spki allow_expired_certificate trust_chain_verification max_verify_depth",
    unsupported="ca_certificate_provider_instance watched_directory match_subject_alt_names "
                "require_signed_certificate_timestamp custom_validator_config system_root_certs")
TRUST_CHAIN = Enum("VERIFY_TRUST_CHAIN", unsupported="ACCEPT_UNTRUSTED")
SAN_MATCHER = Fields("san_type matcher", unsupported="oid")
SAN_TYPES = Enum("EMAIL DNS URI IP_ADDRESS")
DATA_SOURCE = Fields("filename inline_bytes inline_string environment_variable",
                     unsupported="watched_directory")

_TICKET_KEY_SIZE = 80
_HEX_HASH = re.compile(r"([0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2}|[0-9a-fA-F]{64}")


def data_source(node: Node) -> tuple[bytes, str] | None:
    """(the bytes of a config.core.v3.DataSource, where they came from)."""
    m = node.message(DATA_SOURCE)
    if m is None:
        return None
    kind = m.one_of("filename", "inline_bytes", "inline_string", "environment_variable")
    value = kind and m.string(kind, required=True)
    if value is None:
        return None
    if kind == "filename":
        try:
            with open(value, "rb") as file:
                return file.read(), value
        except OSError as error:
            return m.at(kind).fail(f"cannot read '{value}': {error.strerror}")
    if kind == "inline_bytes":
        try:
            return base64.b64decode(value, validate=True), "<inline>"
        except (binascii.Error, ValueError):
            return m.at(kind).fail("inline_bytes must be base64")
    if kind == "environment_variable":
        if value not in os.environ:
            return m.at(kind).fail(f"environment variable '{value}' is not set")
        return os.environ[value].encode(), f"${value}"
    return value.encode(), "<inline>"


def downstream_tls_context(node: Node) -> DownstreamTlsContext | None:
    m = node.message(DOWNSTREAM)
    if m is None:
        return None
    common = m.nested("common_tls_context", lambda n: common_tls_context(n, server=True))
    written = m.get("common_tls_context")
    if written is None or not (isinstance(written.value, dict) and (
            written.value.get("tls_certificates") or written.value.get("tls_certificate_sds_secret_configs"))):
        m.node.child("common_tls_context").child("tls_certificates").fail("a server context needs a certificate")
    if common is None:
        return None
    require = m.boolean("require_client_certificate")
    validation = common.validation
    if require and (validation is None or validation.trusted_ca_pem is None) and not common.missing_secrets:
        m.at("require_client_certificate").fail(
            "requires a validation_context with a trusted_ca to verify the client certificate against")
    if validation is not None and validation.checks_peer and validation.trusted_ca_pem is None:
        m.node.child("common_tls_context").child("validation_context").fail(
            f"SAN matchers and certificate pins on a server context without a trusted_ca are {NOT_SUPPORTED}: "
            "hotproxy asks clients for a certificate only to verify it against a trusted_ca")
    m.one_of("session_ticket_keys", "disable_stateless_session_resumption", required=False)
    timeout = m.duration("session_timeout")
    if timeout is not None and timeout >= 2 ** 32:
        m.at("session_timeout").fail("must be less than 4294967296s")
    return DownstreamTlsContext(
        common=common,
        **present(require_client_certificate=require,
                  session_ticket_keys=m.nested("session_ticket_keys", session_ticket_keys),
                  disable_stateless_session_resumption=m.boolean("disable_stateless_session_resumption"),
                  disable_stateful_session_resumption=m.boolean("disable_stateful_session_resumption"),
                  session_timeout=timeout,
                  full_scan_certs_on_sni_mismatch=m.boolean("full_scan_certs_on_sni_mismatch"),
                  prefer_client_ciphers=m.boolean("prefer_client_ciphers")))


def upstream_tls_context(node: Node) -> UpstreamTlsContext | None:
    m = node.message(UPSTREAM)
    if m is None:
        return None
    common = m.nested("common_tls_context", lambda n: common_tls_context(n, server=False))
    if common is not None and len(common.tls_certificates) > 1:
        m.at("common_tls_context").child("tls_certificates").fail(
            "Multiple TLS certificates are not supported for client contexts")
    sni = m.string("sni")
    if sni is not None and len(sni.encode()) > 255:
        m.at("sni").fail("must be at most 255 bytes")
    return UpstreamTlsContext(**present(
        common=common, sni=sni, auto_host_sni=m.boolean("auto_host_sni"),
        auto_sni_san_validation=m.boolean("auto_sni_san_validation"),
        max_session_keys=m.nested("max_session_keys", wrapped_uint32)))


def common_tls_context(node: Node, server: bool) -> CommonTlsContext | None:
    m = node.message(COMMON)
    if m is None:
        return None
    alpn = [n.string() for n in m.items("alpn_protocols")]
    sds, missing = [], []
    certificates = [*m.repeated("tls_certificates", tls_certificate),
                    *(_secret(n, TlsCertificate, sds, missing)
                      for n in m.items("tls_certificate_sds_secret_configs"))]
    kind = m.one_of("validation_context", "validation_context_sds_secret_config",
                    "combined_validation_context", required=False)
    if kind == "validation_context":
        validation = m.nested(kind, validation_context)
    elif kind == "validation_context_sds_secret_config":
        validation = _secret(m.get(kind), ValidationContext, sds, missing)
    else:
        validation = m.nested("combined_validation_context",
                              lambda n: _combined_validation(n, sds, missing))
    return CommonTlsContext(**present(
        tls_certificates=tuple(c for c in certificates if c is not None),
        tls_params=m.nested("tls_params", lambda n: tls_params(n, server)),
        alpn_protocols=tuple(a for a in alpn if a is not None) or None,
        validation=validation, sds_secrets=tuple(sds) or None, missing_secrets=tuple(missing) or None))


def _secret(node: Node, kind, sds: list, missing: list):
    """What the SdsSecretConfig at ``node`` names: a static secret (no sds_config), or one SDS
    sent (noted in ``sds``; in ``missing`` while it has not come)."""
    m = node.message(SDS_SECRET_CONFIG)
    if m is None:
        return None
    name = m.string("name", required=True)
    source = m.nested("sds_config", config_source)
    if not name:
        return None
    if not m.has("sds_config"):
        found = node.ctx.secrets.get(name)
        if found is None:
            return m.at("name").fail(f"Unknown static secret: {name}")
    elif source is None:
        return None
    else:
        sds.append((name, source))
        found = node.ctx.sds_secrets.get(name)
        if found is None:
            missing.append(name)
            return None
    if not isinstance(found, kind):
        wanted = "a tls_certificate" if kind is TlsCertificate else "a validation_context"
        return m.at("name").fail(f"secret '{name}' does not hold {wanted}")
    return found


def _combined_validation(node: Node, sds: list, missing: list) -> ValidationContext | None:
    """Envoy merges the SDS secret's validation context into the default one."""
    m = node.message(COMBINED_VALIDATION)
    if m is None:
        return None
    default = m.nested("default_validation_context", validation_context) or ValidationContext()
    ref = m.get("validation_context_sds_secret_config")
    if ref is None:
        return m.at("validation_context_sds_secret_config").fail("required field is missing")
    dynamic = _secret(ref, ValidationContext, sds, missing)
    if dynamic is None:
        return None
    merged = {}
    for item in dataclasses.fields(ValidationContext):
        mine, theirs = getattr(default, item.name), getattr(dynamic, item.name)
        if isinstance(mine, tuple):
            merged[item.name] = mine + theirs
        elif theirs != item.default:
            merged[item.name] = theirs
    return dataclasses.replace(default, **merged)


def secret(node: Node):
    """A Secret (static_resources.secrets, or from SDS): (name, TlsCertificate or
    ValidationContext)."""
    m = node.message(SECRET)
    if m is None:
        return None
    name = m.string("name", required=True)
    kind = m.one_of("tls_certificate", "validation_context")
    value = (m.nested(kind, tls_certificate) if kind == "tls_certificate" else
             m.nested(kind, validation_context) if kind else None)
    return (name, value) if name and value is not None else None


def tls_params(node: Node, server: bool) -> TlsParams | None:
    m = node.message(TLS_PARAMS)
    if m is None:
        return None
    minimum = m.enum("tls_minimum_protocol_version", TLS_PROTOCOLS)
    maximum = m.enum("tls_maximum_protocol_version", TLS_PROTOCOLS)
    order = (TLS1_2, TLS1_3)
    low = TLS1_2 if minimum in (None, TLS_AUTO) else minimum
    high = (TLS1_3 if server else TLS1_2) if maximum in (None, TLS_AUTO) else maximum
    if order.index(low) > order.index(high):
        m.node.fail(f"tls_minimum_protocol_version {low} is above tls_maximum_protocol_version {high}")
    suites = tuple(s for s in (n.string() for n in m.items("cipher_suites")) if s)
    curves = tuple(c for c in (n.string() for n in m.items("ecdh_curves")) if c)
    parsed = TlsParams(**present(minimum_version=minimum, maximum_version=maximum,
                                 cipher_suites=suites or None, ecdh_curves=curves or None))
    from ..tls import params as tls_parameters     # ssl: imported only where TLS is configured
    for field, reason in tls_parameters.check(parsed):
        m.node.child(field).fail(reason)
    return parsed


def tls_certificate(node: Node) -> TlsCertificate | None:
    m = node.message(TLS_CERTIFICATE)
    if m is None:
        return None
    chain = m.nested("certificate_chain", data_source, required=True)
    key = m.nested("private_key", data_source, required=True)
    password = m.nested("password", data_source)
    if chain is None or key is None:
        return None
    password_bytes = password[0] if password else None
    from ..tls.certificates import CertificateError, check_pair, load_chain, load_key
    try:
        certificates = load_chain(chain[0])
    except CertificateError as error:
        return m.at("certificate_chain").fail(f"{_named(chain)}{error}")
    try:
        private_key = load_key(key[0], password_bytes)
        check_pair(certificates, private_key)
    except CertificateError as error:
        return m.at("private_key").fail(f"{_named(key)}{error}")
    return TlsCertificate(chain_pem=chain[0], key_pem=key[0], password=password_bytes, source=chain[1])


def validation_context(node: Node) -> ValidationContext | None:
    m = node.message(VALIDATION)
    if m is None:
        return None
    m.enum("trust_chain_verification", TRUST_CHAIN)
    from ..tls.certificates import CertificateError, load_chain, load_crl
    ca = m.nested("trusted_ca", data_source)
    if ca is not None:
        try:
            load_chain(ca[0])
        except CertificateError as error:
            m.at("trusted_ca").fail(f"{_named(ca)}{error}")
    crl = m.nested("crl", data_source)
    if crl is not None:
        if ca is None:
            m.at("crl").fail("a crl needs a trusted_ca")
        try:
            load_crl(crl[0])
        except CertificateError as error:
            m.at("crl").fail(f"{_named(crl)}{error}")
    hashes = []
    for item in m.items("verify_certificate_hash"):
        text = item.string()
        if text is not None and not _HEX_HASH.fullmatch(text):
            item.fail("invalid hex-encoded SHA-256 " + repr(text))
        elif text is not None:
            hashes.append(text.replace(":", "").lower())
    pins = []
    for item in m.items("verify_certificate_spki"):
        text = item.string()
        try:
            if text is not None and len(base64.b64decode(text, validate=True)) != 32:
                raise ValueError
            pins.append(text)
        except (ValueError, binascii.Error):
            item.fail(f"invalid base64-encoded SHA-256 {text!r}")
    return ValidationContext(**present(
        trusted_ca_pem=ca and ca[0], trusted_ca_source=ca and ca[1], crl_pem=crl and crl[0],
        only_verify_leaf_cert_crl=m.boolean("only_verify_leaf_cert_crl"),
        match_typed_subject_alt_names=m.repeated("match_typed_subject_alt_names", san_matcher) or None,
        verify_certificate_hash=tuple(hashes) or None, verify_certificate_spki=tuple(pins) or None,
        allow_expired_certificate=m.boolean("allow_expired_certificate"),
        max_verify_depth=m.nested("max_verify_depth", wrapped_uint32)))


def san_matcher(node: Node) -> SanMatcher | None:
    m = node.message(SAN_MATCHER)
    if m is None:
        return None
    san_type = m.enum("san_type", SAN_TYPES)
    if not m.has("san_type"):
        m.at("san_type").fail("required field is missing")
    matcher = m.nested("matcher", string_matcher, required=True)
    if san_type is None or matcher is None:
        return None
    return SanMatcher(san_type, matcher)


def session_ticket_keys(node: Node) -> tuple[bytes, ...] | None:
    m = node.message(SESSION_TICKET_KEYS)
    if m is None:
        return None
    keys = []
    for item in m.items("keys"):
        source = data_source(item)
        if source is None:
            continue
        if len(source[0]) != _TICKET_KEY_SIZE:
            item.fail(f"{_named(source)}a session ticket key must be {_TICKET_KEY_SIZE} bytes, "
                      f"not {len(source[0])}")
        else:
            keys.append(source[0])
    if not m.items("keys"):
        m.at("keys").fail("at least one key is required")
    return tuple(keys)


def wrapped_uint32(node: Node, minimum=0, maximum=UINT32_MAX) -> int | None:
    """A google.protobuf.UInt32Value: the number, or proto3 JSON's ``{value: N}``."""
    if isinstance(node.value, dict):
        return node.child("value", node.value.get("value", 0)).uint32(minimum, maximum)
    return node.uint32(minimum, maximum)


def _named(source) -> str:
    return f"'{source[1]}': " if source[1] != "<inline>" else ""
