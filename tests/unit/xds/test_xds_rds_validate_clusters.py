"""validate_clusters on an RDS RouteConfiguration: unset or false (RDS's default) a route may
name a cluster not known yet; true, such a resource is NACKed naming the route, as Envoy does."""
from test_xds_catalog import accept, catalog, eds_cluster


def routes(validate, *clusters):
    body = {"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
        {"match": {"prefix": "/a"}, "route": {"cluster": clusters[0]}},
        {"match": {"prefix": "/b"}, "route": {"weighted_clusters": {"clusters": [
            {"name": name, "weight": 1} for name in clusters[1:]]}}}]}]}
    if validate is not None:
        body["validate_clusters"] = validate
    return body


def check(cat, body):
    return cat.check("routes", {"r": body})[1]


def test_unvalidated_routes_may_name_unknown_clusters():
    cat = catalog()
    assert check(cat, routes(None, "nowhere", "xds")) is None
    assert check(cat, routes(False, "nowhere", "elsewhere")) is None


def test_validated_routes_must_name_known_clusters():
    cat = catalog()
    assert check(cat, routes(True, "xds", "xds")) is None
    assert check(cat, routes(True, "nowhere", "xds")) == \
        "route configuration 'r': virtual_hosts[0].routes[0].route.cluster: unknown cluster 'nowhere'"
    assert check(cat, routes(True, "xds", "xds", "later")) == (
        "route configuration 'r': virtual_hosts[0].routes[1].route.weighted_clusters.clusters[1].name: "
        "unknown cluster 'later'")
    # a cluster CDS sent is known
    accept(cat, "clusters", "1", eds_cluster("later"))
    assert check(cat, routes(True, "xds", "xds", "later")) is None
