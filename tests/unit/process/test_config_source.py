"""The config the command line names: -c with --config-yaml over it, the flags Envoy applies over
the loaded bootstrap (--service-node, --service-cluster, --stats-tag), and unknown fields let
through by --allow-unknown-static-fields, warned about and counted once each."""
import logging

import pytest

from hotproxy.config import parse_text
from hotproxy.errors import ConfigError
from hotproxy.process.validate import ConfigReader, ConfigSource, with_command_line
from hotproxy.stats.store import StatsStore

CONFIG = """\
node: {id: from-file, cluster: file-cluster}
stats_config:
  stats_tags: [{tag_name: dc, fixed_value: eu1}]
static_resources: {}
"""


def test_no_command_line_override_leaves_the_text_as_it_is():
    assert with_command_line(CONFIG, ConfigSource("c.yaml")) is CONFIG


def test_service_node_and_cluster_replace_the_configs_node_fields():
    text = with_command_line(CONFIG, ConfigSource("c.yaml", service_node="node-7"))
    bootstrap = parse_text(text)
    assert (bootstrap.node_id, bootstrap.node_cluster) == ("node-7", "file-cluster")
    bootstrap = parse_text(with_command_line(CONFIG, ConfigSource("c.yaml", service_cluster="cli-cluster")))
    assert (bootstrap.node_id, bootstrap.node_cluster) == ("from-file", "cli-cluster")


def test_stats_tags_are_fixed_tags_after_the_configs():
    bootstrap = parse_text(with_command_line(CONFIG, ConfigSource("c.yaml", stats_tags=(("env", "prod"),))))
    assert [(tag.tag_name, tag.fixed_value) for tag in bootstrap.stats_config.stats_tags] == [
        ("dc", "eu1"), ("env", "prod")]


def test_a_stats_tag_replaces_the_configs_tag_of_that_name_as_in_envoy():
    bootstrap = parse_text(with_command_line(CONFIG, ConfigSource("c.yaml", stats_tags=(("dc", "us1"),))))
    assert [(tag.tag_name, tag.fixed_value) for tag in bootstrap.stats_config.stats_tags] == [("dc", "us1")]


def test_config_yaml_merges_over_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    _text, bootstrap = ConfigReader(ConfigSource(str(path), config_yaml="node: {id: from-flag}")).read()
    assert (bootstrap.node_id, bootstrap.node_cluster) == ("from-flag", "file-cluster")


def test_unknown_fields_are_refused_unless_allowed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG + "frobnicate: 1\n")
    with pytest.raises(ConfigError) as error:
        ConfigReader(ConfigSource(str(path))).read()
    assert "frobnicate: unknown field" in str(error.value)


def test_each_unknown_field_is_warned_about_and_counted_once(tmp_path, caplog):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG + "frobnicate: 1\n")
    reader = ConfigReader(ConfigSource(str(path), allow_unknown_fields=True))
    with caplog.at_level(logging.WARNING, logger="hotproxy.config"):
        reader.read()                   # before the arbiter's stats exist
        stats = StatsStore()
        reader.count_into(stats)
        path.write_text(CONFIG + "frobnicate: 2\nbogus: {}\n")
        reader.read()                   # a reload
    assert [record.getMessage() for record in caplog.records] == [
        "unknown field ignored (--allow-unknown-static-fields): frobnicate",
        "unknown field ignored (--allow-unknown-static-fields): bogus"]
    assert stats.counters["server.static_unknown_fields"] == 2


def _yaml_reads(monkeypatch):
    """The YAML texts read into trees from now on, in any module that reads one."""
    import hotproxy.config.loader as loader
    import hotproxy.config.trees as trees
    reads = []
    real = trees.yaml_tree

    def counted(text):
        reads.append(text)
        return real(text)
    monkeypatch.setattr(trees, "yaml_tree", counted)
    monkeypatch.setattr(loader, "yaml_tree", counted)
    return reads


def test_a_reload_reads_the_yaml_file_once(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    reads = _yaml_reads(monkeypatch)
    text, bootstrap = ConfigReader(ConfigSource(str(path))).read()
    assert text == CONFIG and bootstrap.node_id == "from-file"
    assert len(reads) == 1      # not again to compare, nor again to parse


def test_a_command_line_override_is_parsed_from_the_text_the_workers_get(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    text, bootstrap = ConfigReader(ConfigSource(str(path), service_node="node-7")).read()
    assert parse_text(text).node_id == bootstrap.node_id == "node-7"


def test_yaml_that_is_json_too_is_parsed_as_json_as_the_workers_read_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text('{"node": {"id": "n", "cluster": "c"}, "static_resources": {}}')
    text, bootstrap = ConfigReader(ConfigSource(str(path))).read()
    assert bootstrap.node_id == parse_text(text).node_id == "n"
