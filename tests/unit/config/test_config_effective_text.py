"""effective_text: what Envoy 1.40 makes of -c, --config-yaml and --allow-unknown-static-fields,
as text for parse_text."""
import json

import pytest

from hotproxy.config import effective_text, load_bootstrap, parse_text
from hotproxy.errors import ConfigError

from config_helpers import BASE_YAML, base_tree

NODE_YAML = "node: &n {id: from-file}\nadmin: {address: {socket_address: {address: 127.0.0.1, port_value: 9901}}}\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def problems(call):
    with pytest.raises(ConfigError) as info:
        call()
    return info.value.problems


@pytest.mark.parametrize("name", ["envoy.yaml", "envoy.yml", "ENVOY.YAML"])
def test_yaml_extensions_are_read_as_yaml(tmp_path, name):
    text, unknown = effective_text(write(tmp_path, name, BASE_YAML))
    assert (text, unknown) == (BASE_YAML, [])
    assert load_bootstrap(str(tmp_path / name)) == parse_text(BASE_YAML)


@pytest.mark.parametrize("name", ["envoy.json", "envoy.JSON", "envoy", "envoy.conf"])
def test_any_other_extension_is_json(tmp_path, name):
    json_text = json.dumps(base_tree(), indent="\t")
    assert effective_text(write(tmp_path, name, json_text)) == (json_text, [])
    assert parse_text(json_text) == parse_text(BASE_YAML)
    path = write(tmp_path, name, BASE_YAML)
    for call in (lambda: effective_text(path), lambda: load_bootstrap(path)):
        [(where, reason)] = problems(call)
        assert where == "" and reason.startswith("invalid JSON")


@pytest.mark.parametrize("name, form", [("envoy.pb", "binary"), ("envoy.pb_text", "text")])
def test_protobuf_files_are_refused_by_name(tmp_path, name, form):
    path = write(tmp_path, name, BASE_YAML)
    assert problems(lambda: effective_text(path)) == [
        ("", f"cannot read '{path}': {form} protobuf (.{name.split('.')[1]}) is not supported by "
             "hotproxy yet; write it as YAML or JSON")]


def test_one_source_is_returned_as_written_anchors_and_all(tmp_path):
    assert effective_text(write(tmp_path, "envoy.yaml", NODE_YAML)) == (NODE_YAML, [])
    assert effective_text(None, config_yaml=NODE_YAML) == (NODE_YAML, [])
    assert effective_text(write(tmp_path, "envoy.yaml", NODE_YAML), config_yaml="") \
        == (NODE_YAML, [])


def test_config_yaml_is_merged_over_the_file(tmp_path):
    path = write(tmp_path, "envoy.yaml", BASE_YAML)
    cluster = {"name": "extra", "load_assignment": {"cluster_name": "extra"}}
    text, unknown = effective_text(path, config_yaml=json.dumps(
        {"static_resources": {"clusters": [cluster]}, "node": {"id": "from-flag"}}))
    bootstrap = parse_text(text)
    assert [c.name for c in bootstrap.clusters] == ["backend", "canary", "extra"]
    assert [listener.name for listener in bootstrap.listeners] == ["http", "tcp"]
    assert (bootstrap.node_id, unknown) == ("from-flag", [])
    assert json.loads(text)["node"] == {"id": "from-flag"}


def test_the_same_scalar_in_both_is_the_flags(tmp_path):
    path = write(tmp_path, "envoy.yaml", "stats_flush_interval: 1s\nnode: {id: a, cluster: c}\n")
    text, _ = effective_text(path, config_yaml="{stats_flush_interval: 2s, node: {id: b}}")
    bootstrap = parse_text(text)
    assert (bootstrap.stats_flush_interval, bootstrap.node_id, bootstrap.node_cluster) \
        == (2.0, "b", "c")


@pytest.mark.parametrize("allow", [False, True])
def test_unknown_fields_are_dropped_only_when_allowed(tmp_path, allow):
    tree = base_tree()
    tree["bogus_top"] = 1
    tree["static_resources"]["clusters"][0]["bogusField"] = {"x": 1}
    path = write(tmp_path, "envoy.json", json.dumps(tree))
    unknown_paths = ["bogus_top", "static_resources.clusters[0].bogusField"]
    text, unknown = effective_text(path, allow_unknown_fields=allow)
    if allow:
        assert sorted(unknown) == unknown_paths
        assert parse_text(text) == parse_text(BASE_YAML)
    else:
        assert unknown == []
        assert sorted(path for path, _ in problems(lambda: parse_text(text))) == unknown_paths


def test_unknown_fields_of_the_flag_are_dropped_too(tmp_path):
    path = write(tmp_path, "envoy.yaml", BASE_YAML)
    text, unknown = effective_text(path, config_yaml="{node: {id: x, bogus: 1}}",
                                   allow_unknown_fields=True)
    assert unknown == ["node.bogus"]
    assert parse_text(text).node_id == "x"


def test_allowing_unknown_fields_still_refuses_unsupported_ones(tmp_path):
    path = write(tmp_path, "envoy.yaml", BASE_YAML + "tracing: {}\n")
    text, unknown = effective_text(path, allow_unknown_fields=True)
    assert (text, unknown) == (BASE_YAML + "tracing: {}\n", [])
    assert problems(lambda: parse_text(text)) == [("tracing", "not supported by hotproxy yet")]


@pytest.mark.parametrize("file_text, config_yaml, expected", [
    (None, None, ("", "no configuration: give a config file (-c) or --config-yaml")),
    ("# nothing\n", "{node: {id: x}}", ("", "'{path}' is empty")),
    (BASE_YAML, "[1]", ("", "--config-yaml must be a mapping")),
    (BASE_YAML, "{node: {id: x, id: y}}", ("node.id", "duplicate key 'id'")),
    ("a: 1\na: 2\n", None, ("a", "duplicate key 'a'")),
], ids=["none", "empty-file", "list", "duplicate-in-flag", "duplicate-in-file"])
def test_sources_that_are_not_a_bootstrap(tmp_path, file_text, config_yaml, expected):
    path = write(tmp_path, "envoy.yaml", file_text) if file_text is not None else None
    where, reason = expected
    assert problems(lambda: effective_text(path, config_yaml=config_yaml)) \
        == [(where, reason.format(path=path))]


def test_unreadable_file(tmp_path):
    path = str(tmp_path / "missing.yaml")
    assert problems(lambda: effective_text(path)) \
        == [("", f"cannot read '{path}': No such file or directory")]


def test_yaml_tags_are_read_as_the_text_they_tag():
    assert parse_text("node: {id: !!binary aGVsbG8=, cluster: !!timestamp 2001-01-01}").node_id \
        == "aGVsbG8="


def test_a_yaml_file_holding_json_is_read_as_yaml_as_in_envoy(tmp_path):
    # parse_text reads JSON text as JSON, where 1.5 is a number; Envoy's YAML reader makes it
    # the string "1.5". The text handed back says so.
    text, _ = effective_text(write(tmp_path, "envoy.yaml", '{"node": {"id": 1.5}}'))
    assert parse_text(text).node_id == "1.5"


def test_a_deeply_nested_config_is_merged_and_pruned(tmp_path):
    depth = 800      # copying it all would recurse beyond Python's limit
    path = write(tmp_path, "envoy.json", '{"tracing": ' + '{"a": ' * depth + "1" + "}" * depth + "}")
    text, unknown = effective_text(path, config_yaml="{node: {id: x, bogus: 1}}",
                                   allow_unknown_fields=True)
    assert unknown == ["node.bogus"] and json.loads(text)["node"] == {"id": "x"}
