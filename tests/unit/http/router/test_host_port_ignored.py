"""ignore_port_in_host_matching: the Host's port is left out when the virtual host is chosen
(Envoy's HeaderUtility::getPortStart), so istiod's port-less domains match 'reviews:9080'."""
import pytest

from hotproxy.config.route import Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost
from hotproxy.http.router.route_table import RouteTable


def table(ignore_port):
    def vhost(name, *domains):
        route = Route(RouteMatch("prefix", "/"), name=name, route=RouteAction(cluster=name))
        return VirtualHost(name, domains, (route,))
    return RouteTable(RouteConfiguration(
        name="9080", ignore_port_in_host_matching=ignore_port,
        virtual_hosts=(vhost("reviews", "reviews", "*.svc.cluster.local", "[::1]"),
                       vhost("ported", "ported:8080"), vhost("allow_any", "*"))))


def chosen(rt, host):
    return rt.match(host, b"/", []).name


@pytest.mark.parametrize("host, expected", [
    (b"reviews:9080", "reviews"), (b"reviews", "reviews"), (b"REVIEWS:1", "reviews"),
    (b"reviews.default.svc.cluster.local:9080", "reviews"), (b"[::1]:9080", "reviews"),
    (b"[::1]", "reviews"), (b"reviews:", "reviews"),
    # a domain spelled with a port is never matched once the Host's port is dropped
    (b"ported:8080", "allow_any"), (b"other:9080", "allow_any")])
def test_the_port_is_ignored(host, expected):
    assert chosen(table(True), host) == expected


@pytest.mark.parametrize("host, expected", [
    (b"reviews:9080", "allow_any"), (b"reviews", "reviews"), (b"ported:8080", "ported"),
    (b"[::1]:9080", "allow_any")])
def test_without_it_the_port_counts(host, expected):
    assert chosen(table(False), host) == expected
