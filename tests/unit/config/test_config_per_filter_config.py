"""typed_per_filter_config on routes, virtual hosts and weighted clusters: parsed by the filter's
per-route type, wrapped in FilterConfig, refused as Envoy refuses it."""
from hotproxy.config.parse_http_filters import FilterConfig

from config_helpers import ROUTE, VHOST, edited, problems_of, parse_with

EXT = "type.googleapis.com/envoy.extensions.filters.http."
FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
CSRF = {"@type": EXT + "csrf.v3.CsrfPolicy",
        "filter_enabled": {"default_value": {"numerator": 100}}}


def test_a_route_and_its_virtual_host_carry_their_entries_by_filter_name():
    bootstrap = parse_with({f"{ROUTE}.typed_per_filter_config": {"csrf": CSRF},
                            f"{VHOST}.typed_per_filter_config": {
                                "csrf": {"@type": FILTER_CONFIG, "disabled": True}}})
    vhost = bootstrap.listeners[0].filter_chains[0].filters[0].route_config.virtual_hosts[0]
    ((name, config),) = vhost.routes[0].typed_per_filter_config
    assert name == "csrf" and config.runtime == "csrf"
    assert vhost.typed_per_filter_config == (("csrf", FilterConfig(None, True)),)


def test_an_unknown_optional_entry_is_left_out():
    bootstrap = parse_with({f"{ROUTE}.typed_per_filter_config": {"jwt": {
        "@type": FILTER_CONFIG, "is_optional": True,
        "config": {"@type": EXT + "jwt_authn.v3.PerRouteConfig"}}}})
    vhost = bootstrap.listeners[0].filter_chains[0].filters[0].route_config.virtual_hosts[0]
    assert vhost.routes[0].typed_per_filter_config == ()


def test_what_envoy_refuses():
    problems = dict(problems_of(edited({f"{ROUTE}.typed_per_filter_config": {
        "a": {"@type": FILTER_CONFIG},
        "b": {"@type": EXT + "jwt_authn.v3.PerRouteConfig"}}})))
    assert problems[f"{ROUTE}.typed_per_filter_config.a"] == \
        "Empty route/virtual host per filter configuration for a filter"
    assert "jwt_authn.v3.PerRouteConfig" in problems[f"{ROUTE}.typed_per_filter_config.b.@type"]
