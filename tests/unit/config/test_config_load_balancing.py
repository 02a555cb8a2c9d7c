"""RING_HASH and MAGLEV settings and the endpoint hostname."""
from config_helpers import CLUSTER, ENDPOINT, parse_with


def test_ring_hash_and_maglev_settings_parse_with_envoys_defaults():
    cluster = parse_with({f"{CLUSTER}.lb_policy": "RING_HASH"}).clusters[0]
    assert (cluster.lb_policy, cluster.minimum_ring_size, cluster.maximum_ring_size, cluster.hash_function,
            cluster.maglev_table_size) == ("RING_HASH", 1024, 8388608, "XX_HASH", 65537)
    cluster = parse_with({f"{CLUSTER}.lb_policy": "RING_HASH", f"{CLUSTER}.ring_hash_lb_config": {
        "minimum_ring_size": 16, "maximum_ring_size": 64, "hash_function": "MURMUR_HASH_2"}}).clusters[0]
    assert (cluster.minimum_ring_size, cluster.maximum_ring_size, cluster.hash_function) == (16, 64, "MURMUR_HASH_2")
    cluster = parse_with({f"{CLUSTER}.lb_policy": "MAGLEV",
                          f"{CLUSTER}.maglev_lb_config": {"table_size": 251}}).clusters[0]
    assert (cluster.lb_policy, cluster.maglev_table_size) == ("MAGLEV", 251)


def test_an_endpoint_hostname_is_kept():
    cluster = parse_with({f"{ENDPOINT}.hostname": "api.internal"}).clusters[0]
    assert cluster.endpoints[0].lb_endpoints[0].hostname == "api.internal"


def test_priorities_and_the_panic_threshold_parse():
    cluster = parse_with({f"{CLUSTER}.common_lb_config": {"healthy_panic_threshold": {"value": 24.5}},
                          f"{CLUSTER}.load_assignment.endpoints[0].priority": 2}).clusters[0]
    assert cluster.healthy_panic_threshold == 25
    assert cluster.endpoints[0].priority == 2 and cluster.priority_count == 3


def test_active_request_bias_is_its_default_value():
    cluster = parse_with({f"{CLUSTER}.lb_policy": "LEAST_REQUEST", f"{CLUSTER}.least_request_lb_config": {
        "active_request_bias": {"default_value": 0.5, "runtime_key": "k"}}}).clusters[0]
    assert cluster.active_request_bias == 0.5


def test_locality_weighting_and_localities_parse():
    cluster = parse_with({f"{CLUSTER}.common_lb_config": {"locality_weighted_lb_config": {}},
                          f"{CLUSTER}.load_assignment.endpoints[0].locality": {"region": "r", "zone": "z"},
                          f"{CLUSTER}.load_assignment.endpoints[0].load_balancing_weight": 3}).clusters[0]
    assert cluster.locality_weighted
    assert cluster.endpoints[0].locality == ("r", "z", "")
    assert cluster.locality_weights() == [[3]]


def test_locality_weighting_with_a_hashing_policy_is_refused():
    from config_helpers import Rejected
    Rejected({f"{CLUSTER}.common_lb_config": {"locality_weighted_lb_config": {}},
              f"{CLUSTER}.lb_policy": "MAGLEV"}, f"{CLUSTER}.common_lb_config",
             "locality_weighted_lb_config with MAGLEV is not supported by hotproxy yet").check()


def test_active_request_bias_needs_no_runtime_key():
    # Envoy 1.40 validates a RuntimeDouble without runtime_key
    cluster = parse_with({f"{CLUSTER}.lb_policy": "LEAST_REQUEST", f"{CLUSTER}.least_request_lb_config": {
        "active_request_bias": {"default_value": 0.5}}}).clusters[0]
    assert cluster.lb_policy == "LEAST_REQUEST"
