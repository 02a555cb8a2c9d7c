"""Routes with match.runtime_fraction, as Envoy 1.40 matches them (probed): a route whose draw
fails does not match and the next one is tried; one random value per request is shared by all
the routes it is tested against; the runtime key's value replaces the default."""
import random

import pytest

from hotproxy import runtime
from hotproxy.config import parse_text
from hotproxy.config.core import HeaderMatcher
from hotproxy.config.route import (Route, RouteAction, RouteConfiguration, RouteMatch,
                                   VirtualHost)
from hotproxy.config.runtime import RuntimeFraction
from hotproxy.http.router.route_table import RouteTable


class Draws:
    """An rng whose 64-bit draws are given, in turn."""

    def __init__(self, *values):
        self.values = list(values)
        self.drawn = 0

    def getrandbits(self, bits):
        assert bits == 64
        self.drawn += 1
        return self.values.pop(0)

    def random(self):
        return 0.0


def route(name, fraction=None, prefix="/", headers=()):
    return Route(RouteMatch("prefix", prefix, headers=tuple(headers), runtime_fraction=fraction),
                 name=name, route=RouteAction(cluster=name))


def table(*routes, rng=random):
    return RouteTable(RouteConfiguration(virtual_hosts=(VirtualHost("v", ("*",), routes),)),
                      rng=rng)


def matched(rt, path=b"/", headers=()):
    result = rt.match(b"h", path, list(headers))
    return None if result is None else result.name


@pytest.fixture(autouse=True)
def empty_snapshot():
    runtime.install({})
    yield
    runtime.install({})


def test_a_failed_draw_moves_on_to_the_next_route():
    rt = table(route("half", RuntimeFraction(50, 100)), route("rest"),
               rng=Draws(49, 50, 2**63 + 42))
    assert matched(rt) == "half"        # 49 % 100 < 50
    assert matched(rt) == "rest"        # 50 % 100 is not
    assert matched(rt) == "rest"        # ... nor 2^63 + 42 (64 bits, taken modulo 100: 50)


def test_one_draw_per_request_is_shared_by_its_routes():
    # As probed: of routes at 50%, 50% and 75%, the second never matches and the third takes
    # the draws in [50, 75).
    draws = Draws(10, 60, 80)
    rt = table(route("first", RuntimeFraction(50, 100)), route("second", RuntimeFraction(50, 100)),
               route("third", RuntimeFraction(75, 100)), route("rest"), rng=draws)
    assert [matched(rt), matched(rt), matched(rt)] == ["first", "third", "rest"]
    assert draws.drawn == 3


def test_denominators_read_the_same_value():
    rt = table(route("tenth_of_a_percent", RuntimeFraction(10, 10_000)), route("rest"),
               rng=Draws(20_009, 20_010))
    assert [matched(rt), matched(rt)] == ["tenth_of_a_percent", "rest"]


def test_no_draw_until_a_route_with_a_fraction_is_tried():
    draws = Draws(0)
    rt = table(route("plain", prefix="/plain"), route("half", RuntimeFraction(50, 100)), rng=draws)
    assert matched(rt, b"/plain") == "plain" and draws.drawn == 0
    assert matched(rt, b"/other") == "half" and draws.drawn == 1


def test_a_table_without_fractions_never_draws():
    draws = Draws()
    rt = table(route("a", prefix="/a"), route("b"), rng=draws)
    assert type(rt) is RouteTable
    assert matched(rt, b"/a") == "a" and matched(rt) == "b" and draws.drawn == 0


def test_the_fraction_and_the_other_matchers_all_have_to_match():
    only_with_header = [HeaderMatcher("x-canary", "present", True)]
    rt = table(route("canary", RuntimeFraction(100, 100), headers=only_with_header),
               route("rest"), rng=Draws(0, 0))
    assert matched(rt) == "rest"
    assert matched(rt, headers=[(b"x-canary", b"1")]) == "canary"


def test_the_runtime_keys_value_replaces_the_default():
    rt = table(route("canary", RuntimeFraction(0, 100, "routing.canary")), route("rest"),
               rng=Draws(*range(0, 100)))
    assert {matched(rt) for _ in range(10)} == {"rest"}            # the default: never
    runtime.install({"routing.canary": {"numerator": 20}})
    assert [matched(rt) for _ in range(20)].count("canary") == 10  # draws 10..29: 10..19 in
    runtime.install({"routing.canary": 200})                       # above 100: always
    assert {matched(rt) for _ in range(10)} == {"canary"}
    runtime.install({"routing.canary": "abc"})                     # no percentage: the default
    assert {matched(rt) for _ in range(10)} == {"rest"}


def test_connect_routes_draw_too():
    connect = Route(RouteMatch("connect", "", runtime_fraction=RuntimeFraction(50, 100)),
                    name="tunnel", route=RouteAction(cluster="tunnel"))
    rt = table(connect, rng=Draws(10, 60))
    assert rt.match_connect(b"h:443", []).name == "tunnel"
    assert rt.match_connect(b"h:443", []) is None


HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def test_a_config_with_runtime_fraction_routes_parses_and_matches():
    bootstrap = parse_text(f"""
static_resources:
  listeners:
  - address: {{socket_address: {{address: 127.0.0.1, port_value: 0}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": {HCM}.HttpConnectionManager
          stat_prefix: p
          http_filters: [{{name: envoy.filters.http.router, typed_config: {{"@type": {ROUTER}}}}}]
          route_config:
            virtual_hosts:
            - name: v
              domains: ["*"]
              routes:
              - match:
                  prefix: /
                  runtime_fraction:
                    runtime_key: k
                    default_value: {{numerator: 25, denominator: TEN_THOUSAND}}
                direct_response: {{status: 201}}
              - match: {{prefix: /}}
                direct_response: {{status: 404}}
""")
    config = bootstrap.listeners[0].filter_chains[0].filters[0].route_config
    fraction = config.virtual_hosts[0].routes[0].match.runtime_fraction
    assert fraction == RuntimeFraction(25, 10_000, "k")
    rt = RouteTable(config, rng=Draws(24, 25))
    assert [rt.match(b"h", b"/", []).direct_status for _ in range(2)] == [201, 404]
