"""``http_protocol_options.enable_trailers`` (envoy.config.core.v3.Http1ProtocolOptions) on the
connection manager and in a cluster's HTTP/1 protocol options; the message's other fields are
still refused by their path."""
import pytest

from config_helpers import CLUSTER, HCM, Rejected, ids, parse_with

KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
OPTIONS = f"{CLUSTER}.typed_extension_protocol_options"


def http1(config_key, **fields):
    return {KEY: {"@type": TYPE, config_key: {"http_protocol_options": fields}}}


def hcm_of(config):
    return config.listeners[0].filter_chains[0].filters[0]


def test_trailers_are_off_unless_enabled():
    config = parse_with({f"{HCM}.http_protocol_options": {}})
    assert hcm_of(config).enable_trailers is False
    assert config.clusters[0].http1_enable_trailers is False


@pytest.mark.parametrize("config_key", ["explicit_http_config", "use_downstream_protocol_config"])
def test_enable_trailers_is_read_on_both_sides(config_key):
    config = parse_with({f"{HCM}.http_protocol_options": {"enable_trailers": True},
                         OPTIONS: http1(config_key, enable_trailers=True)})
    assert hcm_of(config).enable_trailers is True
    assert config.clusters[0].http1_enable_trailers is True


REJECTED = [
    Rejected({f"{HCM}.http_protocol_options": {"accept_http_10": True}},
             f"{HCM}.http_protocol_options.accept_http_10", "not supported by hotproxy yet"),
    Rejected({f"{HCM}.http_protocol_options": {"enable_trailers": 5}},
             f"{HCM}.http_protocol_options.enable_trailers", "expected a boolean"),
    Rejected({OPTIONS: http1("explicit_http_config", allow_chunked_length=True)},
             f"{OPTIONS}.{KEY}.explicit_http_config.http_protocol_options.allow_chunked_length",
             "not supported by hotproxy yet"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_other_http1_options_are_refused_by_path(case):
    case.check()
