"""Clusters and their load assignments: what the supported fields parse into, and every
rejection."""
import pytest

from hotproxy.config.cluster import Cluster, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import SocketAddress

from config_helpers import CLUSTER, DELETE, ENDPOINT, Rejected, ids, parse_with

NOT_SUPPORTED = "not supported by hotproxy yet"
ASSIGNMENT = f"{CLUSTER}.load_assignment"
LOCALITY = f"{ASSIGNMENT}.endpoints[0]"
LB_ENDPOINT = f"{LOCALITY}.lb_endpoints[0]"


def lb_endpoint(address, port=80, **extra):
    return {"endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}},
            **extra}


def assignment(*localities):
    return {"cluster_name": "c", "endpoints": [{"lb_endpoints": list(endpoints)}
                                               for endpoints in localities]}


def test_every_supported_field_parses_into_the_dataclass():
    bootstrap = parse_with({CLUSTER: {
        "name": "backend",
        "type": "STRICT_DNS",
        "connect_timeout": "2.5s",
        "lb_policy": "LEAST_REQUEST",
        "least_request_lb_config": {"choice_count": 3},
        "dns_refresh_rate": "30s",
        "dns_lookup_family": "V4_ONLY",
        "per_connection_buffer_limit_bytes": 65536,
        "circuit_breakers": {"thresholds": [{"priority": "DEFAULT", "max_connections": 10,
                                             "max_pending_requests": 20, "max_requests": 30}]},
        "load_assignment": {"cluster_name": "backend", "endpoints": [
            {"lb_endpoints": [lb_endpoint("a.internal", load_balancing_weight=3),
                              lb_endpoint("10.0.0.2", 8080)],
             "load_balancing_weight": 5, "priority": 0},
            {"lb_endpoints": [lb_endpoint("b.internal")]},
        ]},
    }})
    assert bootstrap.clusters[0] == Cluster(
        name="backend", type="STRICT_DNS", connect_timeout=2.5, lb_policy="LEAST_REQUEST",
        choice_count=3, dns_refresh_rate=30.0, dns_lookup_family="V4_ONLY",
        per_connection_buffer_limit_bytes=65536,
        max_connections=10, max_pending_requests=20, max_requests=30, breakers_configured=True,
        endpoints=(
            LocalityLbEndpoints(lb_endpoints=(
                LbEndpoint(SocketAddress("a.internal", 80), load_balancing_weight=3),
                LbEndpoint(SocketAddress("10.0.0.2", 8080))), load_balancing_weight=5),
            LocalityLbEndpoints(lb_endpoints=(LbEndpoint(SocketAddress("b.internal", 80)),))))


def test_partial_circuit_breakers_keep_envoys_other_defaults():
    bootstrap = parse_with({f"{CLUSTER}.circuit_breakers": {"thresholds": [{"max_requests": 5}]}})
    cluster = bootstrap.clusters[0]
    assert (cluster.max_connections, cluster.max_pending_requests, cluster.max_requests) \
        == (1024, 1024, 5)


def test_logical_dns_with_one_host_and_a_cluster_without_endpoints():
    bootstrap = parse_with({f"{CLUSTER}.type": "LOGICAL_DNS",
                            ASSIGNMENT: assignment([lb_endpoint("backend.internal")]),
                            "static_resources.clusters[1].load_assignment": DELETE})
    assert [c.type for c in bootstrap.clusters] == ["LOGICAL_DNS", "STRICT_DNS"]
    assert bootstrap.clusters[1].endpoints == ()


LOGICAL_DNS = ("LOGICAL_DNS clusters must have a single locality_lb_endpoint "
               "and a single lb_endpoint")

REJECTED = [
    Rejected({f"{CLUSTER}.name": DELETE}, f"{CLUSTER}.name", "required field is missing"),
    Rejected({"static_resources.clusters[1].name": "backend"}, "static_resources.clusters[1].name",
             "duplicate cluster name 'backend'"),
    Rejected({f"{CLUSTER}.type": "EDS"}, f"{CLUSTER}.eds_cluster_config",
             "cannot create an EDS cluster without an EDS config"),
    Rejected({f"{CLUSTER}.type": "DNS"}, f"{CLUSTER}.type", "unknown enum value 'DNS'"),
    Rejected({f"{CLUSTER}.cluster_type": {}}, f"{CLUSTER}.cluster_type", NOT_SUPPORTED),
    Rejected({f"{CLUSTER}.hosts": []}, f"{CLUSTER}.hosts", NOT_SUPPORTED),
    Rejected({f"{CLUSTER}.transport_socket": {}}, f"{CLUSTER}.transport_socket.name", "required field is missing"),
    Rejected({f"{CLUSTER}.connect_timeout": "0s"}, f"{CLUSTER}.connect_timeout",
             "must be greater than 0s"),
    Rejected({f"{CLUSTER}.connect_timeout": "-1s"}, f"{CLUSTER}.connect_timeout",
             "negative duration '-1s'"),
    Rejected({f"{CLUSTER}.ring_hash_lb_config": {"minimum_ring_size": 2048, "maximum_ring_size": 1024}},
             f"{CLUSTER}.ring_hash_lb_config", "ring hash: minimum_ring_size (2048) > maximum_ring_size (1024)"),
    Rejected({f"{CLUSTER}.ring_hash_lb_config": {"maximum_ring_size": 8388609}},
             f"{CLUSTER}.ring_hash_lb_config.maximum_ring_size", "must be between 0 and 8388608"),
    Rejected({f"{CLUSTER}.maglev_lb_config": {"table_size": 65536}},
             f"{CLUSTER}.maglev_lb_config.table_size", "The table size of maglev must be prime number"),
    Rejected({f"{CLUSTER}.least_request_lb_config": {"choice_count": 1}},
             f"{CLUSTER}.least_request_lb_config.choice_count",
             "must be between 2 and 4294967295, got 1"),
    Rejected({f"{CLUSTER}.least_request_lb_config": {"locality_lb_config": {}}},
             f"{CLUSTER}.least_request_lb_config.locality_lb_config", NOT_SUPPORTED),
    Rejected({f"{CLUSTER}.dns_refresh_rate": "0.001s"}, f"{CLUSTER}.dns_refresh_rate",
             "must be greater than 0.001s"),
    Rejected({f"{CLUSTER}.dns_lookup_family": "V5_ONLY"}, f"{CLUSTER}.dns_lookup_family",
             "unknown enum value 'V5_ONLY' (expected one of AUTO, V4_ONLY, V6_ONLY, "
             "V4_PREFERRED, ALL)"),
    Rejected({f"{CLUSTER}.per_connection_buffer_limit_bytes": -1},
             f"{CLUSTER}.per_connection_buffer_limit_bytes", "must be between 0 and 4294967295"),
    # Circuit breakers.
    Rejected({f"{CLUSTER}.circuit_breakers": {"thresholds": [{"priority": "LOW"}]}},
             f"{CLUSTER}.circuit_breakers.thresholds[0].priority",
             "unknown enum value 'LOW' (expected one of DEFAULT, HIGH)"),
    Rejected({f"{CLUSTER}.circuit_breakers": {"thresholds": [{"max_connection_pools": 3}]}},
             f"{CLUSTER}.circuit_breakers.thresholds[0].max_connection_pools", NOT_SUPPORTED),
    Rejected({f"{CLUSTER}.circuit_breakers": {"per_host_thresholds": []}},
             f"{CLUSTER}.circuit_breakers.per_host_thresholds", NOT_SUPPORTED),
    # Load assignment.
    Rejected({f"{ENDPOINT}.address.socket_address.address": "backend.internal"},
             f"{ENDPOINT}.address.socket_address.address",
             "expected an IP address, got 'backend.internal'"),
    Rejected({f"{CLUSTER}.type": "LOGICAL_DNS",
              ASSIGNMENT: assignment([lb_endpoint("a.internal"), lb_endpoint("b.internal")])},
             ASSIGNMENT, LOGICAL_DNS),
    Rejected({f"{CLUSTER}.type": "LOGICAL_DNS",
              ASSIGNMENT: assignment([lb_endpoint("a.internal")], [lb_endpoint("b.internal")])},
             ASSIGNMENT, LOGICAL_DNS),
    Rejected({f"{CLUSTER}.type": "LOGICAL_DNS", ASSIGNMENT: DELETE}, ASSIGNMENT, LOGICAL_DNS),
    Rejected({f"{ASSIGNMENT}.cluster_name": DELETE}, f"{ASSIGNMENT}.cluster_name",
             "required field is missing"),
    Rejected({f"{ASSIGNMENT}.policy": {}}, f"{ASSIGNMENT}.policy", NOT_SUPPORTED),
    Rejected({f"{LOCALITY}.priority": 129}, f"{LOCALITY}.priority", "must be between 0 and 128"),
    Rejected({f"{LOCALITY}.load_balancing_weight": 0}, f"{LOCALITY}.load_balancing_weight",
             "must be between 1 and 4294967295, got 0"),
    Rejected({f"{LOCALITY}.proximity": {}}, f"{LOCALITY}.proximity", NOT_SUPPORTED),
    Rejected({f"{LB_ENDPOINT}.load_balancing_weight": 0}, f"{LB_ENDPOINT}.load_balancing_weight",
             "must be between 1 and 4294967295, got 0"),
    Rejected({f"{LB_ENDPOINT}.health_status": "FINE"}, f"{LB_ENDPOINT}.health_status",
             "unknown enum value 'FINE'"),
    Rejected({f"{LB_ENDPOINT}.endpoint": DELETE}, f"{LB_ENDPOINT}.endpoint",
             "required field is missing"),
    Rejected({f"{ENDPOINT}.address": DELETE}, f"{ENDPOINT}.address", "required field is missing"),
    Rejected({f"{ENDPOINT}.additional_addresses": []}, f"{ENDPOINT}.additional_addresses", NOT_SUPPORTED),
    Rejected({f"{ENDPOINT}.address.socket_address.protocol": "UDP"},
             f"{ENDPOINT}.address.socket_address.protocol", NOT_SUPPORTED),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
