"""ext_authz's gRPC messages, sans-IO: the ``envoy.service.auth.v3.CheckRequest`` Envoy 1.40 builds
for a request, and what a ``CheckResponse`` (or a failed call) decides.

The request carries the connection's addresses (``attributes.source`` / ``destination``) and
``attributes.request.http``: a random ``id``, the method, the headers as a map (lower-case names,
the pseudo-headers ``:method``, ``:path``, ``:scheme`` and ``:authority`` in the place of Host,
repeated names joined by a comma; ``allowed_headers`` selects them when set), the path with its
query, the host, the scheme and the protocol. With ``with_request_body``: the (possibly partial)
body as ``body`` or, with ``pack_as_bytes``, ``raw_body``, its ``size`` (the request's
content-length, else what was buffered), and ``x-envoy-auth-partial-body`` in the map. A route's
``context_extensions`` go in ``attributes.context_extensions``; ``metadata_context`` and
``route_metadata_context`` are empty.

The response decides as Envoy 1.40's does:

- status OK: allowed. ``ok_response.headers`` are set on the request (each replacing the
  request's values), or joined to its value with a comma when ``append`` is true
  (``append_action`` is not looked at, as Envoy 1.40 does not), ``headers_to_remove`` removed,
  ``response_headers_to_add`` added to the client's response, ``dynamic_metadata`` kept;
- another status with an ``error_response``: an error, answered (unless ``failure_mode_allow``)
  with the error response's status (``status_on_error`` when it has none), headers and body;
- another status: denied, with ``denied_response``'s status (403 when it has none), headers and
  body;
- no response (the call failed, timed out, or ended with a gRPC status other than OK): an error.

The xds-protos modules are imported on the first check, so that a config without a gRPC
authorization service does not load protobuf.
"""
from __future__ import annotations

import random

OK, DENIED, ERROR = "ok", "denied", "error"
PARTIAL_BODY = "x-envoy-auth-partial-body"


def _messages():
    from envoy.service.auth.v3 import external_auth_pb2
    return external_auth_pb2


class Decision:
    """What the service decided. ``status`` is None for an error without a response of its own;
    header lists hold (lower-case name, value) byte pairs."""

    __slots__ = ("kind", "status", "body", "headers", "to_set", "to_append", "to_remove",
                 "to_client", "metadata")

    def __init__(self, kind, status=None, body=b"", headers=()):
        self.kind = kind
        self.status = status
        self.body = body
        self.headers = list(headers)       # a denial's or an error's, for the client
        self.to_set = []
        self.to_append = []
        self.to_remove = []
        self.to_client = []
        self.metadata = {}


FAILED = Decision(ERROR)


def check_request(stream, allowed, context_extensions=(), body=None, partial=False,
                  pack_as_bytes=False):
    """The serialized CheckRequest for ``stream``'s request. ``allowed``: a test of a header
    name (bytes), or None for all; ``body``: the buffered body under with_request_body, else
    None."""
    message = _messages().CheckRequest()
    attributes = message.attributes
    connection = stream.connection
    _socket_address(attributes.source.address, connection.remote_ip, connection.remote_port)
    local_ip, _, local_port = connection.local_address.rpartition(":")
    _socket_address(attributes.destination.address, local_ip.strip("[]"), int(local_port or 0))
    request = stream.request
    attributes.request.time.GetCurrentTime()
    http = attributes.request.http
    http.id = str(random.getrandbits(63))
    http.method = request.method.decode("latin-1")
    http.path = request.target.decode("latin-1")
    http.host = (request.host or b"").decode("latin-1")
    http.scheme = connection.scheme.decode("latin-1")
    http.protocol = connection.protocol
    headers = http.headers
    for name, value in _header_map(request, http):
        if allowed is None or allowed(name.encode("latin-1")):
            headers[name] = value
    if body is not None:
        length = _content_length(request.headers)
        http.size = length if length is not None else len(body)
        if pack_as_bytes:
            http.raw_body = body
        else:
            http.body = body.decode("utf-8", "replace")
        headers[PARTIAL_BODY] = "true" if partial else "false"
    for key, value in context_extensions:
        attributes.context_extensions[key] = value
    attributes.metadata_context.SetInParent()
    attributes.route_metadata_context.SetInParent()
    return message.SerializeToString()


def _socket_address(address, ip, port):
    address.socket_address.address = ip
    address.socket_address.port_value = port


def _header_map(request, http):
    joined = {":method": http.method, ":path": http.path, ":scheme": http.scheme,
              ":authority": http.host}
    for name, value in request.headers:
        if name == b"host":
            continue
        key, text = name.decode("latin-1"), value.decode("latin-1")
        joined[key] = joined[key] + "," + text if key in joined else text
    return joined.items()


def _content_length(headers):
    for name, value in headers:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


def decide(payload):
    """The Decision of a serialized CheckResponse; raises ValueError when it does not parse."""
    try:
        response = _messages().CheckResponse.FromString(payload)
    except Exception as error:      # protobuf's DecodeError, not importable before the modules
        raise ValueError(f"bad CheckResponse: {error}") from None
    if response.status.code == 0:
        return _allowed(response)
    if response.HasField("error_response"):
        error = response.error_response
        return Decision(ERROR, error.status.code or None, error.body.encode(),
                        _pairs(error.headers))
    denied = response.denied_response
    return Decision(DENIED, denied.status.code or 403, denied.body.encode(),
                    _pairs(denied.headers))


def _allowed(response):
    decision = Decision(OK)
    ok = response.ok_response
    for option in ok.headers:
        pair = _pair(option)
        (decision.to_append if option.append.value else decision.to_set).append(pair)
    decision.to_remove = [name.lower().encode() for name in ok.headers_to_remove]
    decision.to_client = _pairs(ok.response_headers_to_add)
    if response.HasField("dynamic_metadata"):
        from google.protobuf.json_format import MessageToDict
        decision.metadata = MessageToDict(response.dynamic_metadata)
    return decision


def _pair(option):
    header = option.header
    value = header.raw_value if header.raw_value else header.value.encode()
    return header.key.lower().encode(), value


def _pairs(options):
    return [_pair(option) for option in options]
