"""x-envoy-expected-rq-timeout-ms: made once per route timeout, the cache of them bounded (a
gRPC-timed route's timeout comes from each request)."""
from hotproxy.http.router import router


def test_header_says_the_timeout_in_milliseconds():
    assert router._expected_timeout(15.0) == (b"x-envoy-expected-rq-timeout-ms", b"15000")
    assert router._expected_timeout(0.25) == (b"x-envoy-expected-rq-timeout-ms", b"250")
    assert router._EXPECTED_TIMEOUTS[15.0][1] == b"15000"


def test_cache_stays_bounded():
    for ms in range(1, 500):
        timeout = ms / 1000 + 7
        assert router._expected_timeout(timeout)[1] == b"%d" % int(timeout * 1000)
    assert len(router._EXPECTED_TIMEOUTS) <= 64
