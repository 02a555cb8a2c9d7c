"""Fields whose requiredness follows Envoy 1.40 (its protos' validate rules and what it accepts):
optional ones take Envoy's default, required ones are refused when missing."""
import re

import pytest

from hotproxy.config import parse_bootstrap
from hotproxy.config.parse_http_filters import HEALTH_CHECK_TYPE
from hotproxy.http.filters.health_check import HealthCheckFilter

from config_helpers import (DELETE, ENDPOINT, HCM, LISTENER, ROUTER_TYPE, Rejected, edited, ids,
                            parse_with)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SECOND = "static_resources.listeners[1]"


def test_a_listener_without_a_name_gets_a_uuid_as_in_envoy():
    bootstrap = parse_with({f"{LISTENER}.name": DELETE})
    generated, other = (listener.name for listener in bootstrap.listeners)
    assert UUID.fullmatch(generated) and other == "tcp"
    assert parse_with({f"{LISTENER}.name": ""}).listeners[0].name == generated


def test_generated_names_follow_the_address_not_the_order():
    unnamed = {f"{LISTENER}.name": DELETE, f"{SECOND}.name": DELETE}
    first, second = (listener.name for listener in parse_with(unnamed).listeners)
    tree = edited(unnamed)
    tree["static_resources"]["listeners"].reverse()
    assert [listener.name for listener in parse_bootstrap(tree).listeners] == [second, first]


def test_unnamed_listeners_sharing_port_0_get_distinct_names():
    port_0 = {"socket_address": {"address": "127.0.0.1", "port_value": 0}}
    bootstrap = parse_with({f"{LISTENER}.name": DELETE, f"{SECOND}.name": DELETE,
                            f"{LISTENER}.address": port_0, f"{SECOND}.address": port_0})
    names = [listener.name for listener in bootstrap.listeners]
    assert len(set(names)) == 2 and all(UUID.fullmatch(name) for name in names)


def test_a_health_check_filter_without_headers_answers_every_request_as_in_envoy():
    health_check = {"name": "envoy.filters.http.health_check",
                    "typed_config": {"@type": HEALTH_CHECK_TYPE, "pass_through_mode": False}}
    router = {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}
    hcm = parse_with({f"{HCM}.http_filters": [health_check, router]}).listeners[0] \
        .filter_chains[0].filters[0]
    assert hcm.health_check.headers == ()
    assert HealthCheckFilter(hcm.health_check).matches(head=None, target=b"/anything")


# Envoy requires a port (SocketAddress.port_specifier is a required oneof) everywhere.
REQUIRED = [
    Rejected({f"{LISTENER}.address.socket_address.port_value": DELETE},
             f"{LISTENER}.address.socket_address.port_value", "required field is missing"),
    Rejected({f"{ENDPOINT}.address.socket_address.port_value": DELETE},
             f"{ENDPOINT}.address.socket_address.port_value", "required field is missing"),
    Rejected({"admin": {"address": {"socket_address": {"address": "127.0.0.1"}}}},
             "admin.address.socket_address.port_value", "required field is missing"),
]


@pytest.mark.parametrize("case", REQUIRED, ids=ids(REQUIRED))
def test_required(case):
    case.check()
