"""A cluster's common_http_protocol_options.max_stream_duration (the upstream request's limit,
router/upstream_duration.py) and headers_with_underscores_action (validated, no effect upstream,
as in Envoy 1.40), from HttpProtocolOptions or the deprecated cluster-level field."""
import pytest

from config_helpers import CLUSTER, Rejected, ids, parse_with

KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
OPTIONS = f"{CLUSTER}.typed_extension_protocol_options"
COMMON = f"{OPTIONS}.{KEY}.common_http_protocol_options"


def options(common):
    return {OPTIONS: {KEY: {"@type": TYPE, "explicit_http_config": {"http_protocol_options": {}},
                            "common_http_protocol_options": common}}}


def test_no_limit_by_default():
    assert parse_with({}).clusters[0].max_stream_duration == 0.0


def test_the_limit_from_the_protocol_options():
    assert parse_with(options({"max_stream_duration": "1.5s"})).clusters[0].max_stream_duration == 1.5


def test_the_limit_from_the_deprecated_cluster_field():
    tree = {f"{CLUSTER}.common_http_protocol_options": {"max_stream_duration": {"seconds": 2}}}
    assert parse_with(tree).clusters[0].max_stream_duration == 2.0


def test_the_limit_is_whole_milliseconds_as_envoys_timer_takes_it():
    assert parse_with(options({"max_stream_duration": "0.0009s"})).clusters[0].max_stream_duration == 0.0
    assert parse_with(options({"max_stream_duration": "0.2507s"})).clusters[0].max_stream_duration == 0.25


@pytest.mark.parametrize("action", ["ALLOW", "REJECT_REQUEST", "DROP_HEADER", "drop_header"])
def test_headers_with_underscores_action_is_accepted(action):
    assert parse_with(options({"headers_with_underscores_action": action})).clusters


REJECTED = [
    Rejected(options({"max_stream_duration": "-1s"}), f"{COMMON}.max_stream_duration", "negative duration"),
    Rejected(options({"max_stream_duration": "soon"}), f"{COMMON}.max_stream_duration", "invalid duration"),
    Rejected({f"{CLUSTER}.common_http_protocol_options": {"max_stream_duration": "x"}},
             f"{CLUSTER}.common_http_protocol_options.max_stream_duration", "invalid duration"),
    Rejected(options({"headers_with_underscores_action": "IGNORE"}),
             f"{COMMON}.headers_with_underscores_action", "IGNORE"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejections_name_the_field(case):
    case.check()
