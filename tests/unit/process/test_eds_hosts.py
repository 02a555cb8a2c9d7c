"""The arbiter's EDS memberships (process/eds_hosts.py): what the health checkers and outlier
detectors of EDS clusters follow."""
from hotproxy.config import parse_text
from hotproxy.process.eds_hosts import EdsMemberships

CONFIG = """
static_resources:
  clusters:
  - name: checked
    type: EDS
    connect_timeout: 1s
    eds_cluster_config: {service_name: svc, eds_config: {ads: {}}}
    health_checks: [{timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1,
                     tcp_health_check: {}}]
  - name: watched
    type: EDS
    connect_timeout: 1s
    eds_cluster_config: {eds_config: {ads: {}}}
    outlier_detection: {}
  - name: plain
    type: EDS
    connect_timeout: 1s
    eds_cluster_config: {eds_config: {ads: {}}}
dynamic_resources:
  ads_config: {api_type: GRPC, transport_api_version: V3,
               grpc_services: [{envoy_grpc: {cluster_name: xds}}]}
"""
XDS_CLUSTER = """
  - name: xds
    type: STATIC
    connect_timeout: 1s
    load_assignment: {cluster_name: xds, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]}
"""


def bootstrap():
    return parse_text(CONFIG.replace("dynamic_resources:", XDS_CLUSTER.strip("\n") + "\ndynamic_resources:", 1))


def body(name, *hosts):
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": ip, "port_value": port}},
                      "health_check_config": {"port_value": port + 1000}},
         "health_status": status}
        for ip, port, status in hosts]}]}


def test_only_checked_or_watched_eds_clusters_get_a_membership_from_the_known_assignment():
    memberships = EdsMemberships()
    memberships.update({"svc": body("svc", ("10.0.0.1", 80, "HEALTHY")),
                        "plain": body("plain", ("10.0.0.9", 80, "HEALTHY"))})
    chosen = memberships.prepare(bootstrap())
    assert sorted(chosen) == ["checked", "watched"]
    assert chosen["checked"].name == "svc"
    assert chosen["checked"].entries == [("10.0.0.1", 80, 0)]
    assert chosen["checked"].first_round.is_set()
    assert chosen["watched"].entries is None and not chosen["watched"].first_round.is_set()


def test_subscribers_see_each_new_membership_of_serving_hosts_with_their_endpoint_settings():
    memberships = EdsMemberships()
    membership = memberships.prepare(bootstrap())["checked"]
    seen = []
    membership.subscribe(seen.append)
    memberships.update({"svc": body("svc", ("10.0.0.1", 80, "HEALTHY"), ("10.0.0.2", 80, "DRAINING"),
                                    ("10.0.0.3", 81, "UNKNOWN"))})
    assert seen == [[("10.0.0.1", 80, 0), ("10.0.0.3", 81, 1)]]
    assert membership.endpoints()[1].health_check.port == 1081
    memberships.update({"svc": body("svc", ("10.0.0.1", 80, "HEALTHY"), ("10.0.0.3", 81, "UNKNOWN"))})
    assert len(seen) == 1        # the same hosts: no news
    membership.unsubscribe(seen.append)
    memberships.update({"svc": body("svc", ("10.0.0.4", 80, "HEALTHY"))})
    assert len(seen) == 1 and membership.entries == [("10.0.0.4", 80, 0)]


def test_memberships_no_live_generation_follows_are_forgotten():
    class Follower:
        def __init__(self, cluster):
            self.cluster = cluster

    class Generation:
        def __init__(self, health):
            self.health, self.outliers = health, {}

    config = bootstrap()
    memberships = EdsMemberships()
    first = memberships.prepare(config)["checked"]
    memberships.retain([Generation({"checked": Follower(config.cluster("checked"))})])
    assert memberships.prepare(config)["checked"] is first
    memberships.retain([])
    assert memberships.prepare(config)["checked"] is not first
