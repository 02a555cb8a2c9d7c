"""Config text that makes the reader's work or its messages explode, or that is not Unicode text:
found by fuzzing the loader (docs/fuzzing.md, bugs 10 and 11)."""
import time

import pytest

from hotproxy.config.loader import parse_text
from hotproxy.config.trees import MAX_ALIAS_EXPANSION
from hotproxy.errors import ConfigError


def _laughs(levels: int, leaf: str = "x") -> str:
    lines = [f"a0: &a0 {{k: {leaf}}}"]
    for level in range(1, levels + 1):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    return "\n".join(lines) + "\n"


def test_nested_aliases_are_refused_promptly_with_the_reason():
    # 9 levels of 10 aliases stand for a billion mappings; before the bound, printing one
    # problem's message took minutes and gigabytes.
    started = time.monotonic()
    with pytest.raises(ConfigError) as error:
        parse_text(_laughs(9))
    assert time.monotonic() - started < 5
    assert error.value.problems == [
        ("", f"YAML aliases expand the document by over {MAX_ALIAS_EXPANSION:,} values")]


def test_aliases_within_the_bound_are_read_as_written_out():
    text = ("static_resources:\n  clusters:\n"
            + "".join(f"  - &c{i} {{name: c{i}, connect_timeout: 1s}}\n" for i in range(3)))
    aliased = text.replace("  - &c2 {name: c2, connect_timeout: 1s}\n", "") + "  - *c0\n"
    with pytest.raises(ConfigError) as error:
        parse_text(aliased)     # the alias repeats c0: refused as a duplicate, so it was read
    assert "c0" in str(error.value)


def test_a_message_quotes_a_mapping_shortened():
    wide = "{" + ", ".join(f"k{i}: {'v' * 100}" for i in range(50)) + "}"
    with pytest.raises(ConfigError) as error:
        parse_text("static_resources:\n  clusters:\n  - name: c\n    connect_timeout: " + wide)
    (path, reason), = error.value.problems
    assert path == "static_resources.clusters[0].connect_timeout"
    assert reason.startswith("invalid duration {") and len(reason) < 300


def test_an_enum_given_a_mapping_is_quoted_shortened():
    deep = "{a: " * 30 + "1" + "}" * 30
    with pytest.raises(ConfigError) as error:
        parse_text(f"static_resources:\n  clusters:\n  - name: c\n    type: {deep}\n")
    (path, reason), = error.value.problems
    assert path == "static_resources.clusters[0].type"
    assert reason.startswith("unknown enum value {'a': {") and len(reason) < 300


@pytest.mark.parametrize("text, path", [
    ('{"static_resources": {"listeners": [{"name": "\\ud800"}]}}', "static_resources.listeners[0].name"),
    ('{"static_resources": {"\\udfff": 1}}', "static_resources"),
    ('static_resources:\n  listeners:\n  - name: "\\ud800"\n', "static_resources.listeners[0].name"),
    ('static_resources:\n  "\\udc80x": 1\n', "static_resources"),
])
def test_a_lone_surrogate_is_refused_with_its_path(text, path):
    with pytest.raises(ConfigError) as error:
        parse_text(text)
    (where, reason), = error.value.problems
    assert where == path and "surrogate" in reason


def test_a_surrogate_pair_is_an_ordinary_character():
    bootstrap = parse_text('{"static_resources": {"clusters": [{"name": "\\ud83d\\ude00"}]}}')
    assert bootstrap.clusters[0].name == "\U0001f600"


def test_a_tree_built_in_python_is_held_to_the_same_rule():
    # found by the config_tree fuzzer: an access log's json_format key reached the format compiler
    from hotproxy.config import parse_bootstrap
    tree = {"static_resources": {"listeners": [{"name": "l", "access_log": [{"typed_config": {
        "log_format": {"json_format": {"\udfa9": "%START_TIME%"}}}}]}]}}
    with pytest.raises(ConfigError) as error:
        parse_bootstrap(tree)
    assert error.value.problems == [("static_resources.listeners[0].access_log[0].typed_config.log_format.json_format",
                                     "not valid Unicode text: a surrogate escape (\\ud800-\\udfff) that is not part of a pair")]
