"""Microbenchmark of the per-request routing work: RouteTable.match, mutate_request, LB picks.

Run: .venv/bin/python bench/micro_route.py
"""
import timeit
from types import SimpleNamespace

from hotproxy.config.core import HeaderMatcher, HeaderValueOption
from hotproxy.config.route import (Route, RouteAction, RouteConfiguration, RouteMatch,
                                   VirtualHost)
from hotproxy.http.router.route_table import RouteTable
from hotproxy.upstream.host import Host
from hotproxy.upstream.lb import make_load_balancer


def prefix_routes():
    return tuple(Route(RouteMatch("prefix", prefix), route=RouteAction(cluster=cluster))
                 for prefix, cluster in (("/api/v1/users", "users"), ("/api/v1/orders", "orders"),
                                         ("/static/", "static"), ("/", "web")))


HEADERS = [(b"host", b"example.com"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*"),
           (b"x-request-id", b"4f1c1f5e-0000-4000-8000-000000000000")]
CTX = SimpleNamespace(remote_address="10.0.0.1:5555", remote_ip="10.0.0.1",
                      local_address="10.0.0.2:80", local_ip="10.0.0.2", protocol="HTTP/1.1",
                      upstream_address="")

STAR = RouteTable(RouteConfiguration(virtual_hosts=(
    VirtualHost("web", ("*",), prefix_routes(),
                request_headers_to_add=(HeaderValueOption("x-proxy", "hotproxy"),)),)))
EXACT = RouteTable(RouteConfiguration(virtual_hosts=(
    VirtualHost("api", ("example.com", "www.example.com"), prefix_routes()),
    VirtualHost("wild", ("*.example.org",), prefix_routes()),
    VirtualHost("other", ("*",), prefix_routes()))))
WITH_HEADER = RouteTable(RouteConfiguration(virtual_hosts=(VirtualHost("web", ("*",), (
    Route(RouteMatch("prefix", "/api", headers=(HeaderMatcher("x-canary", "exact", "1"),)),
          route=RouteAction(cluster="canary")),) + prefix_routes()),)))
DYNAMIC = RouteTable(RouteConfiguration(virtual_hosts=(VirtualHost("web", ("*",), (
    Route(RouteMatch("prefix", "/"), route=RouteAction(cluster="web"),
          request_headers_to_add=(HeaderValueOption("x-client", "%DOWNSTREAM_REMOTE_ADDRESS%"),
                                  HeaderValueOption("x-env", "prod", "OVERWRITE_IF_EXISTS_OR_ADD")),
          request_headers_to_remove=("x-debug",)),)),)))


def ns_per_op(statement, namespace, number=200_000):
    best = min(timeit.repeat(statement, globals=namespace, number=number, repeat=5))
    return best / number * 1e9


def main():
    static_route = STAR.match(b"example.com", b"/", HEADERS)
    dynamic_route = DYNAMIC.match(b"example.com", b"/", HEADERS)
    cases = [
        ("match '*' vhost, 1st prefix route", "STAR.match(b'example.com', b'/api/v1/users/7', H)"),
        ("match '*' vhost, 4th prefix route", "STAR.match(b'example.com', b'/index.html?x=1', H)"),
        ("match exact domain, 2nd route", "EXACT.match(b'example.com', b'/api/v1/orders', H)"),
        ("match mixed-case exact domain", "EXACT.match(b'Example.COM', b'/api/v1/orders', H)"),
        ("match suffix wildcard domain", "EXACT.match(b'a.example.org', b'/static/x.css', H)"),
        ("match route with header matcher", "WITH_HEADER.match(b'h', b'/api/v1/users', H)"),
        ("mutate_request static append", "R.mutate_request(list(H), None, CTX)"),
        ("mutate_request operator+overwrite+remove", "D.mutate_request(list(H), None, CTX)"),
        ("(baseline) list(H)", "list(H)"),
        ("ROUND_ROBIN pick, equal weights", "RR.pick()"),
        ("ROUND_ROBIN pick, weights 3:2:1 (EDF)", "WRR.pick()"),
        ("LEAST_REQUEST pick, equal weights (P2C)", "LR.pick()"),
        ("RANDOM pick", "RND.pick()"),
    ]
    equal = [Host((f"10.0.0.{i}", 80)) for i in range(1, 5)]
    weighted = [Host((f"10.0.1.{i}", 80), weight) for i, weight in enumerate((3, 2, 1), 1)]
    namespace = dict(STAR=STAR, EXACT=EXACT, WITH_HEADER=WITH_HEADER, H=HEADERS, CTX=CTX,
                     R=static_route, D=dynamic_route,
                     RR=make_load_balancer("ROUND_ROBIN", equal),
                     WRR=make_load_balancer("ROUND_ROBIN", weighted),
                     LR=make_load_balancer("LEAST_REQUEST", equal),
                     RND=make_load_balancer("RANDOM", equal))
    for label, statement in cases:
        print(f"{label:42} {ns_per_op(statement, namespace):7.0f} ns/op")


if __name__ == "__main__":
    main()
