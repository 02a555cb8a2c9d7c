"""Config YAML is read on libyaml's parser where PyYAML has it (trees._FastLoader), and on the
pure-Python one otherwise and for whatever libyaml refuses (trees._Loader). Both must read every
document into the same values, by Envoy's rules for plain scalars."""
from pathlib import Path

import pytest
import yaml

from hotproxy.config import trees
from hotproxy.config.loader import parse_text
from hotproxy.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = sorted(path for pattern in ("deploy/**/*.yaml", "bench/configs/*.yaml", "docs/**/*.yaml")
                 for path in ROOT.glob(pattern))

SCALARS = """
plain: text
y: y
n: N
yes: Yes
off: OFF
decimal: 8080
negative: -3
octal: 0755
hex: 0x1F
underscored: 1_000
sexagesimal: 1:30
float: 1.5
exponent: 1e3
date: 2026-12-07
null_word: null
tilde: ~
empty:
quoted_int: "8080"
single_quoted_bool: 'true'
tagged_str: !!str 123
tagged_float: !!float 1
big: 99999999999
huge: 99999999999999999999999
literal: |
  two
  lines
folded: >
  one
  line
merge_key:
  <<: {a: 1}
flow: {a: [1, "2", three], b: {}}
anchored: &shared {port: 1}
aliased: *shared
unicode: "caf\\u00e9 \\U0001F600"
"""


def test_libyaml_is_used_where_pyyaml_has_it():
    assert trees._FastLoader is not trees._Loader or not hasattr(yaml, "CSafeLoader")


@pytest.mark.parametrize("text", [SCALARS, "[1, y, '0x10']", "a: {b: [c, {d: e}]}", "", "# nothing\n"])
def test_the_two_parsers_read_the_same_values(text):
    assert trees._built(trees._FastLoader, text) == trees._built(trees._Loader, text)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_bundled_config_reads_the_same_on_both(path):
    text = path.read_text()
    assert trees._built(trees._FastLoader, text) == trees._built(trees._Loader, text)


def test_envoys_scalar_rules_hold():
    tree, problems = trees.yaml_tree(SCALARS)
    assert problems == []
    assert (tree["y"], tree["n"], tree["yes"], tree["off"]) == (True, False, True, False)
    assert (tree["decimal"], tree["negative"], tree["octal"], tree["hex"]) == (8080, -3, 0o755, 31)
    assert (tree["underscored"], tree["sexagesimal"], tree["float"], tree["date"]) == ("1_000", "1:30", "1.5", "2026-12-07")
    assert tree["null_word"] is tree["tilde"] is tree["empty"] is None
    assert (tree["quoted_int"], tree["single_quoted_bool"]) == ("8080", "true")
    assert tree["tagged_str"] == 123        # explicit tags are not Envoy's: read as plain
    assert (tree["big"], tree["huge"]) == ("99999999999", "99999999999999999999999")
    assert tree["merge_key"] == {"<<": {"a": 1}}
    assert tree["aliased"] == tree["anchored"] == {"port": 1}


def test_duplicate_keys_are_found_by_both():
    text = "a: 1\nb: {c: 1, c: 2}\na: 3\n"
    expected = [("b.c", "duplicate key 'c'"), ("a", "duplicate key 'a'")]
    assert trees._built(trees._FastLoader, text)[1] == expected
    assert trees._built(trees._Loader, text)[1] == expected


def test_what_libyaml_refuses_is_said_as_before():
    with pytest.raises(ConfigError) as error:
        parse_text("static_resources: [unclosed\n")
    (where, reason), = error.value.problems
    assert where == "" and reason.startswith("invalid YAML: while parsing a flow sequence")
    assert "^" in reason        # the pure-Python parser's snippet marks the place


def test_a_tab_after_a_colon_is_accepted_as_by_envoy():
    """yaml-cpp (Envoy 1.40: ``configuration 'tab.yaml' OK``) and libyaml take a tab as the space
    after a colon; PyYAML's pure-Python parser refused it."""
    assert trees.yaml_tree("port_value:\t9901\n") == ({"port_value": 9901}, [])
