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
    b"x-envoy-force-trace",     # honoured from internal peers only, and every peer is external
))

#: What a proxied request loses on its way upstream.
NOT_FORWARDED = HOP_BY_HOP | ENVOY_CONTROL_HEADERS


#: Headers that frame a message. They are never hop-by-hop, whatever a Connection header says:
#: dropping one would leave the next hop to find the message's end on its own (request
#: smuggling, response injection). ``transfer-encoding`` is regenerated from the parse instead.
FRAMING = frozenset((b"content-length", b"transfer-encoding"))


def connection_tokens(connection_value):
    """Every token of a ``Connection`` header value, lower-cased, in order (bytes)."""
    tokens = []
    for token in connection_value.split(b","):
        token = token.strip().lower()
        if token:
            tokens.append(token)
    return tokens


def nominated_headers(connection_value):
    """The header names a ``Connection`` header makes hop-by-hop: its tokens but ``close``,
    ``keep-alive`` and the framing headers."""
    if not connection_value or connection_value in PLAIN_CONNECTION_VALUES:
        return ()
    return {token for token in connection_tokens(connection_value)
            if token not in NOT_HEADER_NAMES and token not in FRAMING}


#: ``Connection`` tokens that are options, not header names.
NOT_HEADER_NAMES = frozenset((b"close", b"keep-alive"))
#: The ``Connection`` values almost every message has: they nominate no header.
PLAIN_CONNECTION_VALUES = frozenset((b"keep-alive", b"Keep-Alive", b"close", b"Close"))


def strip_hop_by_hop(headers, nominated=(), removed=HOP_BY_HOP):
    """Drop hop-by-hop headers (``removed``) and the ``nominated`` ones; keeps ``te: trailers``."""
    kept = []
    for item in headers:
        name = item[0]
        if name in removed or name in nominated:
            if name == b"te" and item[1].strip().lower() == b"trailers":
                kept.append(item)
            continue
        kept.append(item)
    return kept


def header_index(headers, name):
    """The index of the first ``name`` header (lower-case bytes) in ``headers``, or -1."""
    for index, item in enumerate(headers):
        if item[0] == name:
            return index
    return -1
