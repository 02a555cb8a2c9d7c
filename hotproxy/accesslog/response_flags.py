"""Envoy's response flags: the short codes ``StreamInfo.response_flags`` holds, their long names,
and how %RESPONSE_FLAGS% / %RESPONSE_FLAGS_LONG% print a set of them."""

#: Short code → long name, in Envoy 1.40's table order (StreamInfo::ResponseFlagUtils
#: CORE_RESPONSE_FLAGS; UDO is the 1.40 addition seen in the binary).
RESPONSE_FLAGS = {
    "LH": "FailedLocalHealthCheck",
    "UH": "NoHealthyUpstream",
    "UT": "UpstreamRequestTimeout",
    "LR": "LocalReset",
    "UR": "UpstreamRemoteReset",
    "UF": "UpstreamConnectionFailure",
    "UC": "UpstreamConnectionTermination",
    "UO": "UpstreamOverflow",
    "NR": "NoRouteFound",
    "DI": "DelayInjected",
    "FI": "FaultInjected",
    "RL": "RateLimited",
    "UAEX": "UnauthorizedExternalService",
    "RLSE": "RateLimitServiceError",
    "DC": "DownstreamConnectionTermination",
    "URX": "UpstreamRetryLimitExceeded",
    "SI": "StreamIdleTimeout",
    "IH": "InvalidEnvoyRequestHeaders",
    "DPE": "DownstreamProtocolError",
    "UMSDR": "UpstreamMaxStreamDurationReached",
    "RFCF": "ResponseFromCacheFilter",
    "NFCF": "NoFilterConfigFound",
    "DT": "DurationTimeout",
    "UPE": "UpstreamProtocolError",
    "NC": "NoClusterFound",
    "OM": "OverloadManagerTerminated",
    "DF": "DnsResolutionFailed",
    "DO": "DropOverload",
    "DR": "DownstreamRemoteReset",
    "UDO": "UnconditionalDropOverload",
}

_RANK = {code: rank for rank, code in enumerate(RESPONSE_FLAGS)}


def short_string(flags) -> bytes:
    """``URX,UF``; ``-`` when no flag is set (a value, not a missing one: Envoy prints "-" in JSON
    too). Envoy 1.40 joins the flags in the order they were set: ``flags`` in that order (a dict
    or a list), or a set, which has none and is joined in table order."""
    if not flags:
        return b"-"
    return ",".join(_ordered(flags)).encode()


def long_string(flags) -> bytes:
    """``UpstreamRetryLimitExceeded,UpstreamConnectionFailure``; ``-`` when no flag is set."""
    if not flags:
        return b"-"
    return ",".join(RESPONSE_FLAGS[code] for code in _ordered(flags)).encode()


def _ordered(flags):
    if isinstance(flags, (set, frozenset)):
        return sorted(flags, key=_RANK.__getitem__)
    return flags
