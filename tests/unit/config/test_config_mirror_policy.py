"""route.v3.RouteAction.request_mirror_policies: what parses, and every rejection."""
import pytest

from hotproxy.config.fields import NOT_SUPPORTED
from hotproxy.config.route import MirrorPolicy

from config_helpers import ROUTE, VHOST, Rejected, ids, parse_with

MP = f"{ROUTE}.route.request_mirror_policies"


def policies(value):
    bootstrap = parse_with({MP: value})
    route_config = bootstrap.listeners[0].filter_chains[0].filters[0].route_config
    return route_config.virtual_hosts[0].routes[0].route.request_mirror_policies


def test_every_field_parses():
    cluster = parse_with({}).clusters[0].name
    assert policies([
        {"cluster": cluster, "runtime_fraction": {"default_value": {"numerator": 25,
                                                                     "denominator": "TEN_THOUSAND"}}},
        {"cluster_header": "X-Mirror-To", "disable_shadow_host_suffix_append": True},
        {"cluster": cluster, "runtime_fraction": {"default_value": {"numerator": 5}}},
    ]) == (MirrorPolicy(cluster=cluster, numerator=25, denominator=10_000),
           MirrorPolicy(cluster_header="x-mirror-to", host_suffix=False),
           MirrorPolicy(cluster=cluster, numerator=5, denominator=100))


def test_a_runtime_key_is_kept():
    assert policies([{"cluster_header": "a", "runtime_fraction": {
        "default_value": {"numerator": 1}, "runtime_key": "mirror.share"}}]) == (
        MirrorPolicy(cluster_header="a", numerator=1, denominator=100,
                     runtime_key="mirror.share"),)


REJECTED = [
    Rejected({MP: [{"cluster": "nowhere"}]}, f"{MP}[0].cluster", "nowhere"),
    Rejected({MP: [{}]}, f"{MP}[0]", "exactly one of cluster, cluster_header"),
    Rejected({MP: [{"cluster_header": "a", "trace_sampled": True}]}, f"{MP}[0].trace_sampled",
             NOT_SUPPORTED),
    Rejected({MP: [{"cluster_header": "a", "runtime_fraction": {
        "default_value": {"numerator": 1}, "runtime_key": ["k"]}}]},
        f"{MP}[0].runtime_fraction.runtime_key", "expected a string"),
    Rejected({MP: [{"cluster_header": "a", "runtime_fraction": {}}]},
             f"{MP}[0].runtime_fraction.default_value", "required field is missing"),
    Rejected({MP: [{"cluster_header": "a", "runtime_fraction": {
        "default_value": {"numerator": 1, "denominator": "BILLION"}}}]},
        f"{MP}[0].runtime_fraction.default_value.denominator", "unknown enum value"),
    Rejected({f"{VHOST}.request_mirror_policies": []}, f"{VHOST}.request_mirror_policies",
             NOT_SUPPORTED),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
