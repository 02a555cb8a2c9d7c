"""CORS and CSRF policies whose filter_enabled / shadow_enabled have a runtime_key: the
runtime's value of the key (a fractional percent, or an integer percentage) decides, else the
default_value; a fraction without a key is drawn as before."""
import random

import pytest

from hotproxy import runtime
from hotproxy.config.core import StringMatcher
from hotproxy.config.http_filters.cors import CorsPolicy
from hotproxy.config.http_filters.csrf import CsrfPolicy
from hotproxy.config.runtime import RuntimeFraction
from hotproxy.http.filters import cors, csrf
from hotproxy.http.filters.api import FilterContext
from hotproxy.http.filters.route_policy import drawer

from filter_fakes import FakeRequest, FakeStream

ORIGIN = b"https://app.example"


@pytest.fixture(autouse=True)
def empty_snapshot():
    runtime.install({})
    yield
    runtime.install({})


class Bits:
    """An rng whose 64-bit draws count up from 0."""

    def __init__(self):
        self.next = 0

    def getrandbits(self, bits):
        self.next += 1
        return self.next - 1

    def random(self):
        raise AssertionError("a keyed fraction draws 64 bits")


def share(draw, draws=1000):
    return sum(draw() for _ in range(draws)) / draws


def test_drawer_reads_the_key_and_falls_back_to_the_default():
    draw = drawer(RuntimeFraction(100, 100, "cors.enabled"), Bits())
    assert share(draw) == 1.0
    runtime.install({"cors.enabled": {"numerator": 25}})
    assert share(draw) == 0.25
    runtime.install({"cors.enabled": 0})
    assert share(draw) == 0.0
    runtime.install({"cors.enabled": "on"})       # no percentage: the default
    assert share(draw) == 1.0


def test_drawer_without_a_key():
    assert drawer(None)() is False
    assert drawer((100, 100))() is True and drawer((0, 100))() is False
    rng = random.Random(3)
    assert 0.2 < share(drawer((30, 100), rng), 2000) < 0.4


def cors_factory():
    factory = cors.factory(None, FilterContext(None, "http.ingress.", None))
    factory.name = "envoy.filters.http.cors"
    return factory


def cors_stream(policy):
    return FakeStream(FakeRequest(method=b"GET", headers=[(b"origin", ORIGIN)]), route=object(),
                      per_route={"envoy.filters.http.cors": policy})


def test_cors_filter_enabled_by_runtime():
    policy = CorsPolicy(allow_origin_string_match=(StringMatcher("exact", "https://app.example"),),
                        filter_enabled=RuntimeFraction(100, 100, "cors.on"))
    factory = cors_factory()
    assert factory.create(cors_stream(policy)).enabled
    runtime.install({"cors.on": 0})                 # the runtime turns a 100% default off
    assert factory.create(cors_stream(policy)) is None
    shadowed = CorsPolicy(allow_origin_string_match=policy.allow_origin_string_match,
                          filter_enabled=RuntimeFraction(100, 100, "cors.on"),
                          shadow_enabled=RuntimeFraction(0, 100, "cors.shadow"))
    runtime.install({"cors.on": 0, "cors.shadow": 100})
    filter_ = factory.create(cors_stream(shadowed))
    assert filter_ is not None and not filter_.enabled


def test_csrf_filter_enabled_by_runtime():
    factory = csrf.factory(CsrfPolicy(filter_enabled=RuntimeFraction(0, 100, "csrf.on")),
                           FilterContext(None, "http.ingress.", None))
    factory.name = "envoy.filters.http.csrf"

    def run():
        stream = FakeStream(FakeRequest(method=b"POST", host=b"example.com",
                                        headers=[(b"origin", b"http://evil")]), route=object())
        filter_ = factory.create(stream)
        stream.run_request(filter_)
        return stream.local_reply[:2] if stream.local_reply else None

    assert run() is None                            # the default: off
    runtime.install({"csrf.on": {"numerator": 1_000_000, "denominator": "MILLION"}})
    assert run() == (403, b"Invalid origin")
