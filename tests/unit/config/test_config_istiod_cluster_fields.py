"""The Cluster fields istiod sets: alt_stat_name (the name its stats go by) and metadata
(filter_metadata accepted); its istio.metadata_exchange cluster filter stays refused, as Envoy
refuses an extension it does not have."""
import pytest

from hotproxy.config.resources import parse_resource

from config_helpers import CLUSTER, Rejected, parse_with

ISTIO = {"istio": {"default_original_port": 9080, "services": [{"host": "reviews", "name": "r"}]}}


def test_alt_stat_name_names_the_stats():
    cluster = parse_with({f"{CLUSTER}.alt_stat_name": "backend;"}).clusters[0]
    assert (cluster.name, cluster.stat_name) == ("backend", "backend;")
    assert parse_with({}).clusters[0].stat_name == "backend"


def test_filter_metadata_is_kept():
    cluster = parse_with({f"{CLUSTER}.metadata": {"filter_metadata": ISTIO}}).clusters[0]
    assert cluster.filter_metadata == ISTIO
    assert parse_with({f"{CLUSTER}.metadata": {}}).clusters[0].filter_metadata == {}


REJECTED = [
    Rejected({f"{CLUSTER}.alt_stat_name": 5}, f"{CLUSTER}.alt_stat_name", ""),
    Rejected({f"{CLUSTER}.metadata": {"filter_metadata": {"istio": 5}}},
             f"{CLUSTER}.metadata.filter_metadata.istio", "expected a mapping"),
    Rejected({f"{CLUSTER}.metadata": {"typed_filter_metadata": {}}},
             f"{CLUSTER}.metadata.typed_filter_metadata", "not supported"),
    Rejected({f"{CLUSTER}.filters": [{"name": "istio.metadata_exchange"}]}, f"{CLUSTER}.filters",
             "not supported"),
]


@pytest.mark.parametrize("case", REJECTED, ids=lambda case: case.at.rsplit(".", 1)[-1])
def test_rejected(case):
    case.check()


def test_an_eds_cluster_as_istiod_sends_it_less_its_filter():
    body = {"name": "outbound|9080||reviews", "alt_stat_name": "outbound|9080||reviews;",
            "type": "EDS", "connect_timeout": "10s",
            "eds_cluster_config": {"eds_config": {"ads": {}}, "service_name": "outbound|9080||reviews"},
            "metadata": {"filter_metadata": ISTIO}}
    cluster, unknown = parse_resource("clusters", body)
    assert unknown == [] and cluster.stat_name == "outbound|9080||reviews;"
