"""Header rules shared by both directions of the HTTP connection manager.

Headers travel as lists of ``(name, value)`` bytes pairs with lower-case names.
"""

#: Connection-level headers a proxy never forwards (RFC 9110 §7.6.1), plus the framing headers
#: hotproxy regenerates for the next hop.
HOP_BY_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                        b"upgrade", b"te", b"trailer", b"proxy-authenticate"))


#: Request headers that steer Envoy's router. hotproxy does not obey them from clients and, like
#: Envoy, never forwards them.
ENVOY_CONTROL_HEADERS = frozenset((
    b"x-envoy-upstream-rq-timeout-ms", b"x-envoy-upstream-rq-per-try-timeout-ms",
    b"x-envoy-expected-rq-timeout-ms", b"x-envoy-internal", b"x-envoy-retry-on",
    b"x-envoy-retry-grpc-on", b"x-envoy-max-retries", b"x-envoy-retriable-status-codes",
    b"x-envoy-retriable-header-names", b"x-envoy-hedge-on-per-try-timeout",
    b"x-envoy-upstream-alt-stat-name", b"x-envoy-upstream-rq-timeout-alt-response",
    b"x-envoy-external-address",
))

#: What a proxied request loses on its way upstream.
NOT_FORWARDED = HOP_BY_HOP | ENVOY_CONTROL_HEADERS


def connection_tokens(connection_value):
    """The header names a ``Connection`` header nominates as hop-by-hop (lower-case bytes)."""
    tokens = set()
    if connection_value:
        for token in connection_value.split(b","):
            token = token.strip().lower()
            if token and token not in (b"close", b"keep-alive"):
                tokens.add(token)
    return tokens


def strip_hop_by_hop(headers, connection_value, removed=HOP_BY_HOP):
    """Drop hop-by-hop headers (``removed``) and those the Connection header names; keeps
    ``te: trailers``."""
    extra = connection_tokens(connection_value) if connection_value else ()
    kept = []
    for item in headers:
        name = item[0]
        if name in removed or name in extra:
            if name == b"te" and item[1].strip().lower() == b"trailers":
                kept.append(item)
            continue
        kept.append(item)
    return kept

