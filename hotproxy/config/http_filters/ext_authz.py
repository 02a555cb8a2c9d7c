"""Parser for the ext_authz HTTP filter (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz) with
an HTTP or a gRPC (``envoy_grpc``) authorization service, and for its per-route ExtAuthzPerRoute."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..core import StringMatcher
from ..fields import Enum, Fields, Node, present
from .. import parse_side_service as side_service
from ..parse_core import string_matcher
from ..runtime import RuntimeFraction
from .runtime_fraction import keyed_runtime_fraction

EXT_AUTHZ = Fields(
    "http_service grpc_service failure_mode_allow failure_mode_allow_header_add with_request_body "
    "clear_route_cache status_on_error include_peer_certificate stat_prefix filter_enabled "
    "deny_at_disable allowed_headers transport_api_version",
    unsupported="metadata_context_namespaces typed_metadata_context_namespaces "
                "route_metadata_context_namespaces route_typed_metadata_context_namespaces "
                "filter_enabled_metadata bootstrap_metadata_labels_key disallowed_headers "
                "include_tls_session charge_cluster_response_stats encode_raw_headers "
                "decoder_header_mutation_rules enable_dynamic_metadata_ingestion filter_metadata "
                "emit_filter_state_stats validate_mutations max_denied_response_body_bytes "
                "enforce_response_header_limits")
HTTP_SERVICE = Fields("server_uri path_prefix authorization_request authorization_response",
                      unsupported="retry_policy")
AUTHORIZATION_REQUEST = Fields("allowed_headers headers_to_add")
AUTHORIZATION_RESPONSE = Fields(
    "allowed_upstream_headers allowed_upstream_headers_to_append allowed_client_headers "
    "allowed_client_headers_on_success dynamic_metadata_from_headers")
LIST_STRING_MATCHER = Fields("patterns")
BUFFER_SETTINGS = Fields("max_request_bytes allow_partial_message pack_as_bytes")
HTTP_STATUS = Fields("code")
RUNTIME_FEATURE_FLAG = Fields("default_value runtime_key")
BOOL_VALUE = Fields("value")
API_VERSION = Enum("V3", unsupported="AUTO V2")
PER_ROUTE = Fields("disabled check_settings")
CHECK_SETTINGS = Fields("context_extensions disable_request_body_buffering",
                        unsupported="with_request_body service_override")

DEFAULT_TIMEOUT_S = 0.2


@dataclass(frozen=True)
class HttpService:
    cluster: str
    uri: str = ""
    timeout: float = DEFAULT_TIMEOUT_S
    path_prefix: str = ""
    headers_to_add: tuple = ()                    # (name, value) str pairs, names lower-case
    allowed_upstream_headers: tuple = ()          # StringMatchers, each list empty when unset
    allowed_upstream_headers_to_append: tuple = ()
    allowed_client_headers: tuple = ()
    allowed_client_headers_on_success: tuple = ()
    dynamic_metadata_from_headers: tuple = ()


@dataclass(frozen=True)
class GrpcService:
    """envoy.config.core.v3.GrpcService with envoy_grpc: the cluster must speak HTTP/2."""
    cluster: str
    authority: str = ""                           # empty: the cluster's name, as Envoy sends it
    timeout: float = DEFAULT_TIMEOUT_S
    initial_metadata: tuple = ()                  # (name, value) str pairs, names lower-case


@dataclass(frozen=True)
class BufferSettings:
    max_request_bytes: int
    allow_partial_message: bool = False
    pack_as_bytes: bool = False


@dataclass(frozen=True)
class ExtAuthz:
    runtime: ClassVar[str] = "ext_authz"
    http_service: HttpService | None = None       # exactly one of the two services
    grpc_service: GrpcService | None = None
    allowed_headers: tuple[StringMatcher, ...] = ()
    failure_mode_allow: bool = False
    failure_mode_allow_header_add: bool = False
    with_request_body: BufferSettings | None = None
    clear_route_cache: bool = False
    status_on_error: int = 403
    include_peer_certificate: bool = False
    stat_prefix: str = ""
    #: (numerator, denominator), or a RuntimeFraction when a runtime_key is set; None: always
    filter_enabled: tuple[int, int] | RuntimeFraction | None = None
    deny_at_disable: bool = False
    #: the runtime key whose boolean replaces deny_at_disable's default_value ("": none)
    deny_at_disable_runtime_key: str = ""


@dataclass(frozen=True)
class ExtAuthzPerRoute:
    runtime: ClassVar[str] = "ext_authz"
    disabled: bool = False
    context_extensions: tuple = ()
    disable_request_body_buffering: bool = False


def parse(node: Node) -> ExtAuthz | None:
    m = node.message(EXT_AUTHZ)
    if m is None:
        return None
    kind = m.one_of("http_service", "grpc_service")
    m.enum("transport_api_version", API_VERSION)
    service = m.nested("http_service", http_service)
    grpc = m.nested("grpc_service", grpc_service)
    request_allowed = service[1] if service is not None else None
    allowed = m.nested("allowed_headers", list_string_matcher)
    if allowed is not None and request_allowed:
        m.at("allowed_headers").fail("allowed_headers and http_service.authorization_request."
                                     "allowed_headers are mutually exclusive")
    status = m.nested("status_on_error", _http_status)
    deny = m.nested("deny_at_disable", _feature_flag)
    deny, deny_key = deny if deny is not None else (None, None)
    values = present(
        allowed_headers=allowed if allowed is not None else request_allowed,
        failure_mode_allow=m.boolean("failure_mode_allow"),
        failure_mode_allow_header_add=m.boolean("failure_mode_allow_header_add"),
        with_request_body=m.nested("with_request_body", buffer_settings),
        clear_route_cache=m.boolean("clear_route_cache"),
        status_on_error=status,
        include_peer_certificate=m.boolean("include_peer_certificate"),
        stat_prefix=m.string("stat_prefix"),
        filter_enabled=m.nested("filter_enabled", keyed_runtime_fraction),
        deny_at_disable=deny,
        deny_at_disable_runtime_key=deny_key or None)
    if kind == "http_service" and service is not None:
        return ExtAuthz(http_service=service[0], **values)
    if kind == "grpc_service" and grpc is not None:
        return ExtAuthz(grpc_service=grpc, **values)
    return None


def grpc_service(node: Node) -> GrpcService | None:
    target = side_service.grpc_service(node)
    if target is None:
        return None
    return GrpcService(cluster=target.cluster, **present(
        authority=target.authority, timeout=target.timeout,
        initial_metadata=target.initial_metadata or None))


def http_service(node: Node):
    """(HttpService, the deprecated authorization_request.allowed_headers or None)."""
    m = node.message(HTTP_SERVICE)
    if m is None:
        return None
    uri = m.nested("server_uri", side_service.http_uri, required=True)
    request = m.nested("authorization_request", lambda n: n.message(AUTHORIZATION_REQUEST))
    allowed, to_add = None, ()
    if request is not None:
        allowed = request.nested("allowed_headers", list_string_matcher)
        to_add = request.repeated("headers_to_add", side_service.header_value)
    response = m.nested("authorization_response", lambda n: n.message(AUTHORIZATION_RESPONSE))
    lists = {}
    if response is not None:
        for name in AUTHORIZATION_RESPONSE.supported:
            lists[name] = response.nested(name, list_string_matcher)
    path_prefix = m.string("path_prefix", http_safe=True)
    if path_prefix and not path_prefix.startswith("/"):
        m.at("path_prefix").fail(f"must start with '/', got {path_prefix!r}")
    if uri is None:
        return None
    cluster, text, timeout = uri
    return HttpService(cluster=cluster, uri=text, timeout=timeout,
                       **present(path_prefix=path_prefix, headers_to_add=to_add or None,
                                 **lists)), allowed


def list_string_matcher(node: Node) -> tuple | None:
    m = node.message(LIST_STRING_MATCHER)
    if m is None:
        return None
    patterns = m.repeated("patterns", string_matcher)
    if not m.items("patterns"):
        m.at("patterns").fail("must contain at least 1 item")
    return patterns


def buffer_settings(node: Node) -> BufferSettings | None:
    m = node.message(BUFFER_SETTINGS)
    if m is None:
        return None
    limit = m.uint32("max_request_bytes", minimum=1)
    if not m.has("max_request_bytes"):
        m.at("max_request_bytes").fail("must be greater than 0")
    if limit is None:
        return None
    return BufferSettings(max_request_bytes=limit,
                          **present(allow_partial_message=m.boolean("allow_partial_message"),
                                    pack_as_bytes=m.boolean("pack_as_bytes")))


def _http_status(node: Node) -> int | None:
    """envoy.type.v3.HttpStatus: a StatusCode enum, by name or number; Empty (0) is refused."""
    m = node.message(HTTP_STATUS)
    if m is None:
        return None
    code = m.at("code")
    value = code.value
    if isinstance(value, str) and value in _STATUS_NAMES:
        return _STATUS_NAMES[value]
    if value is None:
        return code.fail("required field is missing")
    number = code.uint32()
    if number is not None and number not in _STATUS_CODES:
        return code.fail(f"must be one of envoy.type.v3.StatusCode's values, got {number}")
    return number


def _feature_flag(node: Node) -> tuple[bool | None, str] | None:
    """A RuntimeFeatureFlag: (default_value, runtime_key); the filter reads the key's boolean in
    the runtime, the default_value when it has none (Envoy's Runtime::FeatureFlag)."""
    m = node.message(RUNTIME_FEATURE_FLAG)
    if m is None:
        return None
    key = m.string("runtime_key", "")
    return m.nested("default_value", _bool_value, required=True), key


def _bool_value(node: Node) -> bool | None:
    """A google.protobuf.BoolValue: a bare boolean, or Envoy's also accepted ``{value: ...}``."""
    if isinstance(node.value, dict):
        m = node.message(BOOL_VALUE)
        return None if m is None else bool(m.boolean("value"))
    return node.boolean()


def parse_per_route(node: Node) -> ExtAuthzPerRoute | None:
    m = node.message(PER_ROUTE)
    if m is None:
        return None
    kind = m.one_of("disabled", "check_settings")
    disabled = m.boolean("disabled")
    if kind == "disabled" and disabled is False:
        m.at("disabled").fail("must be true when set (Envoy: value must equal true)")
    settings = m.nested("check_settings", lambda n: n.message(CHECK_SETTINGS))
    if kind is None:
        return None
    if settings is None:
        return ExtAuthzPerRoute(disabled=bool(disabled))
    extensions = settings.at("context_extensions")
    if extensions.value is not None and not (isinstance(extensions.value, dict) and all(
            isinstance(v, str) for v in extensions.value.values())):
        extensions.fail("expected a mapping of strings to strings")
    pairs = tuple(sorted(extensions.value.items())) if isinstance(extensions.value, dict) else ()
    return ExtAuthzPerRoute(context_extensions=pairs,
                            **present(disable_request_body_buffering=settings.boolean(
                                "disable_request_body_buffering")))


# envoy.type.v3.StatusCode names Envoy's JSON reader accepts for status_on_error.code
_STATUS_NAMES = {
    "Continue": 100, "OK": 200, "Created": 201, "Accepted": 202, "NonAuthoritativeInformation": 203,
    "NoContent": 204, "ResetContent": 205, "PartialContent": 206, "MultiStatus": 207,
    "AlreadyReported": 208, "IMUsed": 226, "MultipleChoices": 300, "MovedPermanently": 301,
    "Found": 302, "SeeOther": 303, "NotModified": 304, "UseProxy": 305, "TemporaryRedirect": 307,
    "PermanentRedirect": 308, "BadRequest": 400, "Unauthorized": 401, "PaymentRequired": 402,
    "Forbidden": 403, "NotFound": 404, "MethodNotAllowed": 405, "NotAcceptable": 406,
    "ProxyAuthenticationRequired": 407, "RequestTimeout": 408, "Conflict": 409, "Gone": 410,
    "LengthRequired": 411, "PreconditionFailed": 412, "PayloadTooLarge": 413, "URITooLong": 414,
    "UnsupportedMediaType": 415, "RangeNotSatisfiable": 416, "ExpectationFailed": 417,
    "MisdirectedRequest": 421, "UnprocessableEntity": 422, "Locked": 423, "FailedDependency": 424,
    "UpgradeRequired": 426, "PreconditionRequired": 428, "TooManyRequests": 429,
    "RequestHeaderFieldsTooLarge": 431, "InternalServerError": 500, "NotImplemented": 501,
    "BadGateway": 502, "ServiceUnavailable": 503, "GatewayTimeout": 504,
    "HTTPVersionNotSupported": 505, "VariantAlsoNegotiates": 506, "InsufficientStorage": 507,
    "LoopDetected": 508, "NotExtended": 510, "NetworkAuthenticationRequired": 511,
}

_STATUS_CODES = frozenset(_STATUS_NAMES.values())
