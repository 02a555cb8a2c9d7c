"""The tags Envoy puts on a connection manager's span when its stream ends, on the router's
egress span, and the operator's custom tags; all values are strings, as Envoy sets them."""
from __future__ import annotations

import os

from ..accesslog.response_flags import short_string
from .local_info import LOCAL


def request_header(headers, name):
    for key, value in headers:
        if key == name:
            return value
    return None


#: the request headers the ingress span's tags read, found in one pass over the headers
_TAGGED = frozenset((b"host", b"x-request-id", b"x-client-trace-id",
                     b"x-envoy-downstream-service-cluster", b"user-agent"))


def downstream_tags(span, info, max_path_length):
    """The ingress span's tags from the stream's StreamInfo, at its end."""
    found = {}
    for name, value in info.request_headers or ():
        if name in _TAGGED and name not in found:
            found[name] = value.decode("latin-1")
    url = "%s://%s%s" % ((info.scheme or b"http").decode(), found.get(b"host", ""),
                         (info.path or b"").decode("latin-1"))
    remote = info.downstream_remote_address or ""
    tags = span.tags
    tags.update((
        ("component", "proxy"), ("node_id", LOCAL.node_id), ("zone", LOCAL.zone),
        ("http.url", url[:max_path_length]),
        ("http.method", (info.method or b"").decode("latin-1")),
        ("downstream_cluster", found.get(b"x-envoy-downstream-service-cluster", "-")),
        ("user_agent", found.get(b"user-agent", "-")),
        ("http.protocol", info.protocol or "HTTP/1.1"),
        ("peer.address", remote.rsplit(":", 1)[0].strip("[]") if remote else ""),
        ("request_size", str(info.bytes_received)),
        ("response_size", str(info.bytes_sent))))
    request_id = found.get(b"x-request-id")
    if request_id is not None:
        tags["guid:x-request-id"] = request_id
    client_trace_id = found.get(b"x-client-trace-id")
    if client_trace_id is not None:
        tags["guid:x-client-trace-id"] = client_trace_id
    if info.upstream_cluster is not None:
        tags["upstream_cluster"] = tags["upstream_cluster.name"] = info.upstream_cluster
    _response_tags(tags, info)


def upstream_tags(span, info):
    """The router's egress span: the upstream it reached and how it answered."""
    tags = span.tags
    tags["component"] = "proxy"
    tags["http.protocol"] = info.protocol or "HTTP/1.1"
    if info.upstream_host:
        tags["upstream_address"] = tags["peer.address"] = info.upstream_host
    if info.upstream_cluster is not None:
        tags["upstream_cluster"] = tags["upstream_cluster.name"] = info.upstream_cluster
    _response_tags(tags, info)


def _response_tags(tags, info):
    code = info.response_code
    tags["http.status_code"] = str(code)
    tags["response_flags"] = short_string(info.response_flags).decode()
    if not code or code >= 500:
        tags["error"] = "true"


def custom_tags(span, tags, info):
    """``custom_tags`` (config/tracing.py's CustomTag) as the stream's end sees them."""
    for tag in tags:
        kind = tag.kind
        if kind == "literal":
            value = tag.value
        elif kind == "request_header":
            found = request_header(info.request_headers or (), tag.name.encode())
            value = found.decode("latin-1") if found is not None else tag.default
        elif kind == "environment":
            value = os.environ.get(tag.name, tag.default)
        else:
            value = _metadata_value(info, tag)
        if value is not None and value != "":
            span.tags[tag.tag] = value


def _metadata_value(info, tag):
    value = info.metadata(tag.name)
    for key in tag.path:
        if not isinstance(value, dict) or key not in value:
            return tag.default
        value = value[key]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)
