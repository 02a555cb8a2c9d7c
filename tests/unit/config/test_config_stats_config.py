"""The bootstrap's stats_config: tag specifiers and use_all_default_tags, and every rejection."""
import pytest

from hotproxy.config.bootstrap import StatsConfig, StatsTag

from config_helpers import Rejected, ids, parse_with

NOT_SUPPORTED = "not supported by hotproxy yet"
TAGS = "stats_config.stats_tags"


def test_without_stats_config_envoys_defaults_apply():
    assert parse_with({}).stats_config == StatsConfig(stats_tags=(), use_all_default_tags=True)


def test_every_supported_field_parses_into_the_dataclass():
    bootstrap = parse_with({"stats_config": {
        "use_all_default_tags": False,
        "stats_tags": [{"tag_name": "route", "regex": r"\.route\.((\w+)\.)"},
                       {"tag_name": "region", "fixed_value": "eu-west"},
                       {"tag_name": "envoy_cluster_name"},
                       {"tagName": "shard", "fixedValue": ""}],
    }})
    assert bootstrap.stats_config == StatsConfig(
        stats_tags=(StatsTag("route", regex=r"\.route\.((\w+)\.)"),
                    StatsTag("region", fixed_value="eu-west"),
                    StatsTag("envoy_cluster_name"),
                    StatsTag("shard", fixed_value="")),
        use_all_default_tags=False)


def test_an_empty_regex_is_no_regex():
    bootstrap = parse_with({"stats_config": {"stats_tags": [
        {"tag_name": "envoy_tcp_prefix", "regex": ""}]}})
    assert bootstrap.stats_config.stats_tags == (StatsTag("envoy_tcp_prefix"),)


REJECTED = [
    Rejected({"stats_config": {"use_all_default_tags": "off"}}, "stats_config.use_all_default_tags",
             "expected a boolean"),
    Rejected({"stats_config": {"stats_tags": {}}}, TAGS, "expected a list"),
    Rejected({"stats_config": {"stats_tags": [{"regex": "(x)"}]}}, f"{TAGS}[0].tag_name",
             "required field is missing"),
    Rejected({"stats_config": {"stats_tags": [{"tag_name": "", "fixed_value": "x"}]}},
             f"{TAGS}[0].tag_name", "must not be empty"),
    Rejected({"stats_config": {"stats_tags": [{"tag_name": "t", "regex": "(x"}]}},
             f"{TAGS}[0].regex", "invalid regex: missing ), unterminated subpattern"),
    Rejected({"stats_config": {"stats_tags": [{"tag_name": "t", "regex": r"^cluster\.\w+"}]}},
             f"{TAGS}[0].regex", "needs a capture group"),
    Rejected({"stats_config": {"stats_tags": [{"tag_name": "t", "regex": "(x)" * 400}]}},
             f"{TAGS}[0].regex", "must be at most 1024 bytes"),
    Rejected({"stats_config": {"stats_tags": [{"tag_name": "t", "regex": "(x)",
                                               "fixed_value": "v"}]}},
             f"{TAGS}[0]", "only one of regex, fixed_value may be set"),
    Rejected({"stats_config": {"stats_tags": [{"tag_name": "region"}]}},
             f"{TAGS}[0]", "one of regex, fixed_value is required: 'region' is not a default tag"),
    Rejected({"stats_config": {"stats_tags": [{"tag_name": "t", "fixed_value": "a"},
                                              {"tag_name": "t", "regex": "(x)"}]}},
             f"{TAGS}[1].tag_name", "duplicate tag name 't'"),
    Rejected({"stats_config": {"stats_tags": [{"tag_name": "t", "value": "x"}]}},
             f"{TAGS}[0].value", "unknown field 'value'"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
