"""The command operators: every name Envoy 1.40 knows, and those hotproxy can fill from a
StreamInfo, each built into a ``Field``.

A Field is a Python expression over ``info`` (the StreamInfo), ``req`` and ``resp`` (header name →
first value, for the request and the response) that evaluates to bytes, to an int for ``numeric``
fields (which JSON prints as numbers), or to None when the value is missing (printed "-", or null
in JSON). Formats are compiled into one function from these expressions (see format.py); the
objects an expression needs besides those three are bound into its namespace by ``bind``.
"""
from __future__ import annotations

import re
import socket
import time

from . import response_flags
from .start_time import compile_start_time
from .state_commands import filter_state_readers, metadata_readers
from .syntax import Command, FormatError
from .tls_commands import TLS_READERS

#: Every command operator Envoy 1.40 accepts without a ``formatters`` extension (probed against
#: the binary). Those outside SUPPORTED are refused as not supported yet, others as unknown.
ENVOY_COMMANDS = frozenset("""
    ACCESS_LOG_TYPE BYTES_RECEIVED BYTES_RETRANSMITTED BYTES_SENT CEL CLUSTER_METADATA COALESCE
    COMMON_DURATION CONNECTION_ID CONNECTION_TERMINATION_DETAILS CUSTOM_FLAGS DOWNSTREAM_CX_RTT
    DOWNSTREAM_DECOMPRESSED_HEADER_BYTES_RECEIVED DOWNSTREAM_DECOMPRESSED_HEADER_BYTES_SENT
    DOWNSTREAM_DETECTED_CLOSE_TYPE DOWNSTREAM_DIRECT_LOCAL_ADDRESS
    DOWNSTREAM_DIRECT_LOCAL_ADDRESS_ENDPOINT_ID DOWNSTREAM_DIRECT_LOCAL_ADDRESS_WITHOUT_PORT
    DOWNSTREAM_DIRECT_LOCAL_PORT DOWNSTREAM_DIRECT_REMOTE_ADDRESS
    DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT DOWNSTREAM_DIRECT_REMOTE_PORT
    DOWNSTREAM_HANDSHAKE_DURATION DOWNSTREAM_HEADER_BYTES_RECEIVED DOWNSTREAM_HEADER_BYTES_SENT
    DOWNSTREAM_LOCAL_ADDRESS DOWNSTREAM_LOCAL_ADDRESS_ENDPOINT_ID
    DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT DOWNSTREAM_LOCAL_CLOSE_REASON DOWNSTREAM_LOCAL_DNS_SAN
    DOWNSTREAM_LOCAL_EMAIL_SAN DOWNSTREAM_LOCAL_IP_SAN DOWNSTREAM_LOCAL_OTHERNAME_SAN
    DOWNSTREAM_LOCAL_PORT DOWNSTREAM_LOCAL_SUBJECT DOWNSTREAM_LOCAL_URI_SAN DOWNSTREAM_PEER_CERT
    DOWNSTREAM_PEER_CERT_V_END DOWNSTREAM_PEER_CERT_V_START DOWNSTREAM_PEER_CHAIN_FINGERPRINTS_1
    DOWNSTREAM_PEER_CHAIN_FINGERPRINTS_256 DOWNSTREAM_PEER_CHAIN_SERIALS DOWNSTREAM_PEER_DNS_SAN
    DOWNSTREAM_PEER_EMAIL_SAN DOWNSTREAM_PEER_FINGERPRINT_1 DOWNSTREAM_PEER_FINGERPRINT_256
    DOWNSTREAM_PEER_IP_SAN DOWNSTREAM_PEER_ISSUER DOWNSTREAM_PEER_ISSUER_FINGERPRINT_256
    DOWNSTREAM_PEER_ISSUER_SERIAL DOWNSTREAM_PEER_OTHERNAME_SAN DOWNSTREAM_PEER_SERIAL
    DOWNSTREAM_PEER_SUBJECT DOWNSTREAM_PEER_URI_SAN DOWNSTREAM_REMOTE_ADDRESS
    DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT DOWNSTREAM_REMOTE_PORT DOWNSTREAM_TLS_CIPHER
    DOWNSTREAM_TLS_GROUP DOWNSTREAM_TLS_SESSION_ID DOWNSTREAM_TLS_VERSION
    DOWNSTREAM_TRANSPORT_FAILURE_REASON DOWNSTREAM_WIRE_BYTES_RECEIVED DOWNSTREAM_WIRE_BYTES_SENT
    DURATION DYNAMIC_METADATA EMIT_TIME EMIT_TIME_LOCAL ENVIRONMENT FILTER_CHAIN_NAME FILTER_STATE
    GRPC_STATUS GRPC_STATUS_NUMBER HOSTNAME LISTENER_NAME LOCAL_REPLY_BODY METADATA
    PACKETS_RETRANSMITTED PATH PROTOCOL QUERY_PARAM QUERY_PARAMS REQ REQUESTED_SERVER_NAME
    REQUEST_DURATION REQUEST_HEADER REQUEST_HEADERS_BYTES REQUEST_TX_DURATION RESP RESPONSE_CODE
    RESPONSE_CODE_DETAILS RESPONSE_DURATION RESPONSE_FLAGS RESPONSE_FLAGS_LONG RESPONSE_HEADER
    RESPONSE_HEADERS_BYTES RESPONSE_TRAILER RESPONSE_TRAILERS_BYTES RESPONSE_TX_DURATION
    ROUNDTRIP_DURATION ROUTE_NAME ROUTE_RESOLUTION_COUNT ROUTE_RESOLUTION_TIME_US SPAN_ID
    START_TIME START_TIME_LOCAL STREAM_ID STREAM_INFO_REQ TLS_JA3_FINGERPRINT TLS_JA4_FINGERPRINT
    TRACE_ID TRAILER UNIQUE_ID UPSTREAM_CLUSTER UPSTREAM_CLUSTER_RAW UPSTREAM_CONNECTION_ID
    UPSTREAM_CONNECTION_IDS_ATTEMPTED UPSTREAM_CONNECTION_POOL_READY_DURATION
    UPSTREAM_DECOMPRESSED_HEADER_BYTES_RECEIVED UPSTREAM_DECOMPRESSED_HEADER_BYTES_SENT
    UPSTREAM_DETECTED_CLOSE_TYPE UPSTREAM_FILTER_STATE UPSTREAM_HEADER_BYTES_RECEIVED
    UPSTREAM_HEADER_BYTES_SENT UPSTREAM_HOST UPSTREAM_HOSTS_ATTEMPTED
    UPSTREAM_HOSTS_ATTEMPTED_WITHOUT_PORT UPSTREAM_HOST_NAME UPSTREAM_HOST_NAMES_ATTEMPTED
    UPSTREAM_HOST_NAMES_ATTEMPTED_WITHOUT_PORT UPSTREAM_HOST_NAME_WITHOUT_PORT
    UPSTREAM_LOCAL_ADDRESS UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT UPSTREAM_LOCAL_CLOSE_REASON
    UPSTREAM_LOCAL_DNS_SAN UPSTREAM_LOCAL_IP_SAN UPSTREAM_LOCAL_PORT UPSTREAM_LOCAL_URI_SAN
    UPSTREAM_METADATA UPSTREAM_PEER_CERT UPSTREAM_PEER_CERT_V_END UPSTREAM_PEER_CERT_V_START
    UPSTREAM_PEER_DNS_SAN UPSTREAM_PEER_IP_SAN UPSTREAM_PEER_ISSUER UPSTREAM_PEER_SUBJECT
    UPSTREAM_PEER_URI_SAN UPSTREAM_PROTOCOL UPSTREAM_REMOTE_ADDRESS
    UPSTREAM_REMOTE_ADDRESS_ENDPOINT_ID UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT UPSTREAM_REMOTE_PORT
    UPSTREAM_SERVER_NAME UPSTREAM_TLS_CIPHER UPSTREAM_TLS_GROUP
    UPSTREAM_TLS_SESSION_ID UPSTREAM_TLS_VERSION UPSTREAM_TRANSPORT_FAILURE_REASON
    UPSTREAM_WIRE_BYTES_RECEIVED UPSTREAM_WIRE_BYTES_SENT VIRTUAL_CLUSTER_NAME XFCC_VALUE
""".split())

# Envoy's CommandSyntaxChecker flags, as the syntax each supported command takes.
_BARE = "bare"                  # COMMAND_ONLY: %X% only
_OPTIONAL = "optional"          # PARAMS_OPTIONAL: %X% or %X(...)%
_HEADER = "header"              # PARAMS_REQUIRED | LENGTH_ALLOWED: %X(A?B):N%
_PARAMS = "params"              # PARAMS_REQUIRED | LENGTH_ALLOWED: %X(A:B):N%

# RFC 9110 token characters: what Envoy accepts in a header name. A pseudo-header is ":" and a
# non-empty lower-case token.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]*|:[!#$%&'*+\-.^_`|~0-9a-z]+")
_WHITESPACE = re.compile(rb"[ \t\n\v\f\r]")


class Field:
    __slots__ = ("expr", "numeric", "optional", "headers", "json", "or_missing")

    def __init__(self, expr: str, numeric=False, optional=True, headers=None, json=None,
                 or_missing=None):
        self.expr = expr            # a Python expression (temporaries: _s, _t, _c)
        self.numeric = numeric
        self.optional = optional    # False: never None
        self.headers = headers      # None, "req" or "resp": the header map ``expr`` reads
        self.json = json            # the value as JSON bytes (or None), for values of any JSON
                                    # type; None: ``expr`` is a string (or ``numeric``)
        self.or_missing = or_missing    # None, or a cheaper text expression for ``expr`` whose
                                        # value is _MISSING_ (a name the caller replaces) where
                                        # ``expr``'s is None


def build(command: Command, tcp: bool, bind) -> Field:
    """The Field for ``command`` in an HTTP (``tcp`` false) or TCP proxy access log. ``bind(value)``
    puts a value in the namespace the expression runs in and returns its name. Raises
    FormatError for an unknown, unsupported or malformed operator."""
    entry = _SUPPORTED.get(command.name)
    if entry is None:
        if command.name in ENVOY_COMMANDS:
            raise FormatError(f"command operator %{command.name}% is not supported by hotproxy yet")
        raise FormatError(f"unknown command operator %{command.name}%")
    syntax, make = entry
    _check_syntax(command, syntax)
    return make(command, tcp, bind)


def _check_syntax(command: Command, syntax: str) -> None:
    name = command.name
    if syntax == _BARE and (command.parameters or command.length is not None):
        raise FormatError(f"{command.written}: %{name}% takes no parameters and no length")
    if syntax == _HEADER and not command.parameters:
        raise FormatError(f"{command.written}: %{name}% requires a header name: %{name}(NAME)%")
    if syntax == _PARAMS and not command.parameters:
        raise FormatError(f"{command.written}: %{name}% requires parameters")
    if syntax not in (_HEADER, _PARAMS) and command.length is not None:
        raise FormatError(f"{command.written}: %{name}% takes no length")


# --- Field makers: make(command, tcp, bind) -> Field ------------------------------------------

def _plain(expr, numeric=False, optional=True):
    return lambda command, tcp, bind: Field(expr, numeric, optional)


def _call(function, numeric=False, optional=True):
    """A Field computed by ``function(info)``."""
    return lambda command, tcp, bind: Field(f"{bind(function)}(info)", numeric, optional)


def _apply(function, attribute, numeric=False, optional=True):
    """A Field computed by ``function(info.<attribute>)``."""
    return lambda command, tcp, bind: Field(f"{bind(function)}(info.{attribute})", numeric,
                                            optional)


# --- Headers -------------------------------------------------------------------------------------

def _header(lookup, header_map):
    """%REQ(A?B):N% and its kin. ``lookup(name)`` returns the expression of one header and
    whether it reads ``header_map`` ("req" or "resp") rather than another fact."""
    def make(command: Command, tcp: bool, bind) -> Field:
        names = command.parameters.lower().split("?")
        if len(names) > 2:
            raise FormatError(f"{command.written}: only one alternative header may follow '?'")
        for name in names:
            if not _HEADER_NAME.fullmatch(name):
                raise FormatError(f"{command.written}: invalid header name '{name}'")
        if tcp:
            return Field("None")
        lookups = [lookup(name.encode()) for name in names]
        expr = lookups[0][0]
        if len(lookups) == 2:
            expr = f"(_t if (_t := {expr}) is not None else {lookups[1][0]})"
        if command.length is not None:
            expr = f"(_c[:{command.length}] if (_c := {expr}) is not None else None)"
        reads_map = any(reads for _, reads in lookups)
        # one header of the map: its values are bytes, never None
        or_missing = (f"{expr[:-1]}, _MISSING_)" if len(lookups) == 1 and lookups[0][1]
                      and command.length is None else None)
        return Field(expr, headers=header_map if reads_map else None, or_missing=or_missing)
    return make


def _request_header(name: bytes) -> tuple[str, bool]:
    # HTTP/1 has no pseudo-headers on the wire: Envoy's come from the request line, and its
    # :authority is the Host header (which Envoy's header map also answers "host" with).
    if name == b":authority":
        name = b"host"
    elif name in _REQUEST_LINE:
        return _REQUEST_LINE[name], False
    elif name.startswith(b":"):
        return "None", False
    return f"req.get({name!r})", True


_REQUEST_LINE = {b":method": "info.method", b":path": "info.path", b":scheme": "info.scheme"}


def _response_header(name: bytes) -> tuple[str, bool]:
    if name == b":status":
        return "(b'%d' % info.response_code if info.response_headers is not None else None)", False
    if name.startswith(b":"):
        return "None", False
    return f"resp.get({name!r})", True


def _trailer(name: bytes) -> tuple[str, bool]:
    return "None", False        # hotproxy records no trailers


# --- Times ---------------------------------------------------------------------------------------

def _start_time(command: Command, tcp: bool, bind) -> Field:
    try:
        print_time = compile_start_time(command.parameters)
    except FormatError as error:
        raise FormatError(f"{command.written}: {error.reason}") from None
    return Field(f"{bind(print_time)}(info.start_time)", optional=False)


def _duration(info):
    # Envoy's currentDuration(): up to the end of the stream, or up to now if it has not ended.
    ms = info.response_complete_ms
    if ms is None:
        ms = (time.monotonic() - info.start_monotonic) * 1000
    return int(ms)


_duration.reads = ("response_complete_ms", "start_monotonic")   # format.py notes what it reads

def _duration_field(command: Command, tcp: bool, bind) -> Field:
    # _duration, called only for a stream that has not ended
    return Field(f"(int(_s) if (_s := info.response_complete_ms) is not None else {bind(_duration)}(info))",
                 numeric=True, optional=False)


def _response_flags(command: Command, tcp: bool, bind) -> Field:
    # short_string, called only when a flag is set
    return Field(f"({bind(response_flags.short_string)}(_s) if (_s := info.response_flags) else b'-')",
                 optional=False)


def _response_tx_duration(info):
    first, last = info.first_upstream_rx_ms, info.response_complete_ms
    return None if first is None or last is None else int(last - first)


def _milliseconds(attribute):
    """A duration attribute in float ms, truncated to whole ms as Envoy does."""
    return _plain(f"(int(_s) if (_s := info.{attribute}) is not None else None)", numeric=True)


# --- Addresses and names -------------------------------------------------------------------------

def _text(attribute, empty_is_missing=False):
    """A str attribute as UTF-8 bytes. ``empty_is_missing``: "" prints as missing, as Envoy does
    for the names it keeps as empty strings."""
    test = "" if empty_is_missing else " is not None"
    expr = f"(_s.encode() if (_s := info.{attribute}){test} else None)"
    return lambda command, tcp, bind: Field(expr, or_missing=f"{expr[:-5]}_MISSING_)")


# The socket's own address: set only where a listener filter (original_dst, proxy_protocol)
# restored another local address, else the local address itself.
_DIRECT_LOCAL = "downstream_direct_local_address or info.downstream_local_address"


def _without_port(address):
    if address is None:
        return None
    host = address.rpartition(":")[0]
    return (host[1:-1] if host.startswith("[") else host).encode()


def _port(address):
    return None if address is None else int(address.rpartition(":")[2])


def _response_code_details(command: Command, tcp: bool, bind) -> Field:
    # Envoy replaces whitespace by "_" unless asked not to; other parameters are ignored.
    if command.parameters == "ALLOW_WHITESPACES":
        return _text("response_code_details")(command, tcp, bind)
    return Field(f"{bind(_details_without_whitespace)}(info.response_code_details)")


def _details_without_whitespace(details):
    return None if details is None else _WHITESPACE.sub(b"_", details.encode())


def _upstream_transport_failure_reason(reason):
    return reason.replace(" ", "_").encode() if reason else None


def _hostname(command: Command, tcp: bool, bind) -> Field:
    return Field(repr(socket.gethostname().encode()), optional=False)   # read once, as in Envoy


def _access_log_type(command: Command, tcp: bool, bind) -> Field:
    # hotproxy logs once, when the stream (or TCP connection) ends.
    return Field(repr(b"TcpConnectionEnd" if tcp else b"DownstreamEnd"), optional=False)


def _state(readers):
    """%DYNAMIC_METADATA% and %FILTER_STATE%: ``readers(command)`` gives (text(info),
    json(info))."""
    def make(command: Command, tcp: bool, bind) -> Field:
        text, json = readers(command)
        return Field(f"{bind(text)}(info)", json=f"{bind(json)}(info)")
    return make


_SUPPORTED = {
    "START_TIME": (_OPTIONAL, _start_time),
    "REQ": (_HEADER, _header(_request_header, "req")),
    "REQUEST_HEADER": (_HEADER, _header(_request_header, "req")),
    "RESP": (_HEADER, _header(_response_header, "resp")),
    "RESPONSE_HEADER": (_HEADER, _header(_response_header, "resp")),
    "TRAILER": (_HEADER, _header(_trailer, None)),
    "RESPONSE_TRAILER": (_HEADER, _header(_trailer, None)),
    "PROTOCOL": (_BARE, _text("protocol")),
    "RESPONSE_CODE": (_BARE, _plain("info.response_code", numeric=True, optional=False)),
    "RESPONSE_CODE_DETAILS": (_OPTIONAL, _response_code_details),
    "RESPONSE_FLAGS": (_BARE, _response_flags),
    "RESPONSE_FLAGS_LONG": (_BARE, _apply(response_flags.long_string, "response_flags",
                                          optional=False)),
    "BYTES_RECEIVED": (_BARE, _plain("info.bytes_received", numeric=True, optional=False)),
    "BYTES_SENT": (_BARE, _plain("info.bytes_sent", numeric=True, optional=False)),
    "DURATION": (_BARE, _duration_field),
    "REQUEST_DURATION": (_BARE, _milliseconds("request_complete_ms")),
    "RESPONSE_DURATION": (_BARE, _milliseconds("first_upstream_rx_ms")),
    "RESPONSE_TX_DURATION": (_BARE, _call(_response_tx_duration, numeric=True)),
    "UPSTREAM_HOST": (_BARE, _text("upstream_host")),
    "UPSTREAM_REQUEST_ATTEMPT_COUNT": (_BARE, _plain("info.upstream_request_attempt_count",
                                                     numeric=True, optional=False)),
    "UPSTREAM_CLUSTER": (_BARE, _text("upstream_cluster", empty_is_missing=True)),
    "UPSTREAM_CLUSTER_RAW": (_BARE, _text("upstream_cluster", empty_is_missing=True)),
    "UPSTREAM_LOCAL_ADDRESS": (_BARE, _text("upstream_local_address")),
    "UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": (
        _BARE, _apply(_without_port, "upstream_local_address")),
    "UPSTREAM_LOCAL_PORT": (_BARE, _apply(_port, "upstream_local_address", numeric=True)),
    "UPSTREAM_TRANSPORT_FAILURE_REASON": (_BARE, _apply(
        _upstream_transport_failure_reason, "upstream_transport_failure_reason")),
    "DOWNSTREAM_REMOTE_ADDRESS": (_BARE, _text("downstream_remote_address")),
    "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": (
        _BARE, _apply(_without_port, "downstream_remote_address")),
    "DOWNSTREAM_REMOTE_PORT": (
        _BARE, _apply(_port, "downstream_remote_address", numeric=True)),
    "DOWNSTREAM_DIRECT_REMOTE_ADDRESS": (_BARE, _text("downstream_direct_remote_address")),
    "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": (
        _BARE, _apply(_without_port, "downstream_direct_remote_address")),
    "DOWNSTREAM_DIRECT_REMOTE_PORT": (
        _BARE, _apply(_port, "downstream_direct_remote_address", numeric=True)),
    "DOWNSTREAM_LOCAL_ADDRESS": (_BARE, _text("downstream_local_address")),
    "DOWNSTREAM_DIRECT_LOCAL_ADDRESS": (_BARE, _text(_DIRECT_LOCAL)),
    "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": (
        _BARE, _apply(_without_port, "downstream_local_address")),
    "DOWNSTREAM_DIRECT_LOCAL_ADDRESS_WITHOUT_PORT": (
        _BARE, _apply(_without_port, _DIRECT_LOCAL)),
    "DOWNSTREAM_LOCAL_PORT": (
        _BARE, _apply(_port, "downstream_local_address", numeric=True)),
    "DOWNSTREAM_DIRECT_LOCAL_PORT": (
        _BARE, _apply(_port, _DIRECT_LOCAL, numeric=True)),
    "ROUTE_NAME": (_BARE, _text("route_name", empty_is_missing=True)),
    "VIRTUAL_CLUSTER_NAME": (_BARE, _text("virtual_cluster_name")),
    "CONNECTION_ID": (_BARE, _plain("info.connection_id", numeric=True, optional=False)),
    "CONNECTION_TERMINATION_DETAILS": (_BARE, _text("connection_termination_details")),
    "HOSTNAME": (_BARE, _hostname),
    "ACCESS_LOG_TYPE": (_BARE, _access_log_type),
    "DYNAMIC_METADATA": (_PARAMS, _state(metadata_readers)),
    "FILTER_STATE": (_PARAMS, _state(filter_state_readers)),
    **{name: (_BARE, _call(read)) for name, read in TLS_READERS.items()},
}
