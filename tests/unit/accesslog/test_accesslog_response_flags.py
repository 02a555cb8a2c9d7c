"""%RESPONSE_FLAGS% and %RESPONSE_FLAGS_LONG%: Envoy 1.40's codes, names and order."""
import pytest

from hotproxy.accesslog.response_flags import RESPONSE_FLAGS, long_string, short_string


def test_the_table_is_envoys_in_envoys_order():
    assert list(RESPONSE_FLAGS.items()) == [
        ("LH", "FailedLocalHealthCheck"), ("UH", "NoHealthyUpstream"),
        ("UT", "UpstreamRequestTimeout"), ("LR", "LocalReset"), ("UR", "UpstreamRemoteReset"),
        ("UF", "UpstreamConnectionFailure"), ("UC", "UpstreamConnectionTermination"),
        ("UO", "UpstreamOverflow"), ("NR", "NoRouteFound"), ("DI", "DelayInjected"),
        ("FI", "FaultInjected"), ("RL", "RateLimited"), ("UAEX", "UnauthorizedExternalService"),
        ("RLSE", "RateLimitServiceError"), ("DC", "DownstreamConnectionTermination"),
        ("URX", "UpstreamRetryLimitExceeded"), ("SI", "StreamIdleTimeout"),
        ("IH", "InvalidEnvoyRequestHeaders"), ("DPE", "DownstreamProtocolError"),
        ("UMSDR", "UpstreamMaxStreamDurationReached"), ("RFCF", "ResponseFromCacheFilter"),
        ("NFCF", "NoFilterConfigFound"), ("DT", "DurationTimeout"),
        ("UPE", "UpstreamProtocolError"), ("NC", "NoClusterFound"),
        ("OM", "OverloadManagerTerminated"), ("DF", "DnsResolutionFailed"),
        ("DO", "DropOverload"), ("DR", "DownstreamRemoteReset"),
        ("UDO", "UnconditionalDropOverload")]


@pytest.mark.parametrize("flags, short, long", [
    (set(), b"-", b"-"),
    ({"UF"}, b"UF", b"UpstreamConnectionFailure"),
    ({"URX", "UF"}, b"UF,URX", b"UpstreamConnectionFailure,UpstreamRetryLimitExceeded"),
    ({"DC", "UT", "LH"}, b"LH,UT,DC",
     b"FailedLocalHealthCheck,UpstreamRequestTimeout,DownstreamConnectionTermination"),
])
def test_flags_print_comma_joined_in_table_order(flags, short, long):
    assert short_string(flags) == short
    assert long_string(flags) == long


def test_flags_raised_on_a_stream_print_in_the_order_raised():
    # Envoy 1.40 logged "URX,UF" for a connect failure that ran out of retries
    from types import SimpleNamespace
    from hotproxy.http.stream import ActiveStream
    stream = ActiveStream(SimpleNamespace(chunked=False, keep_alive=True), 0.0)
    stream.flag("URX")
    stream.flag("UF")
    stream.flag("URX")
    assert short_string(stream.info.response_flags) == b"URX,UF"
    assert long_string(stream.info.response_flags) == b"UpstreamRetryLimitExceeded,UpstreamConnectionFailure"
