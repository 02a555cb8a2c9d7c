"""The Bootstrap's layered_runtime: every layer kind parses, the static layer is flattened as
Envoy flattens it, and each rejection names its field (Envoy 1.40's checks: unique names, at
most one admin layer, exactly one layer specifier, static values a runtime entry can hold)."""
import pytest

from hotproxy.config import parse_text
from hotproxy.config.fields import Context, Node
from hotproxy.config.parse_runtime import runtime_fractional_percent
from hotproxy.config.xds import ConfigSource
from hotproxy.config.runtime import (AdminLayer, DiskLayer, LayeredRuntime, RtdsLayer,
                                     RuntimeFraction, StaticLayer, Struct, flatten)

from config_helpers import Rejected, ids, parse_with

LAYERS = "layered_runtime.layers"


def test_every_layer_kind_parses():
    bootstrap = parse_text("""
layered_runtime:
  layers:
  - name: base
    static_layer:
      health_check: {min_interval: 5}
      feature: {numerator: 5, denominator: TEN_THOUSAND}
      on: true
  - name: disk
    disk_layer: {symlink_root: /srv/runtime/current, subdirectory: envoy}
  - name: override
    disk_layer: {symlink_root: /srv/runtime/current, subdirectory: envoy_override,
                 append_service_cluster: true}
  - name: admin
    admin_layer: {}
  - name: rtds
    rtds_layer: {name: some_resource, rtds_config: {path: /srv/rtds.yaml, resource_api_version: V3}}
""")
    assert bootstrap.layered_runtime == LayeredRuntime(layers=(
        StaticLayer("base", (("health_check.min_interval", 5),
                             ("feature", Struct((("numerator", 5),
                                                 ("denominator", "TEN_THOUSAND")))),
                             ("on", True))),
        DiskLayer("disk", "/srv/runtime/current", "envoy"),
        DiskLayer("override", "/srv/runtime/current", "envoy_override", True),
        AdminLayer("admin"),
        RtdsLayer("rtds", "some_resource", ConfigSource(path="/srv/rtds.yaml"))))


def test_no_layered_runtime_and_no_layers():
    assert parse_with({}).layered_runtime is None
    assert parse_with({"layered_runtime": {}}).layered_runtime == LayeredRuntime()
    assert parse_with({"layered_runtime": {"layers": []}}).layered_runtime == LayeredRuntime()


def test_flattening_keeps_fractions_and_empty_mappings_whole():
    pairs, invalid = flatten({
        "a": {"b": {"c": 1}, "d": "x"},             # nested mappings become dotted keys
        "x.y": {"z": False},                         # a dotted key stays as written
        "f": {"numerator": 1},                       # a fractional percent is one value
        "g": {"denominator": "MILLION", "n": {"k": [1]}},
        "e": {},                                     # so is an empty mapping
        "bad": [1], "also": {"bad": None}})
    assert pairs == [("a.b.c", 1), ("a.d", "x"), ("x.y.z", False),
                     ("f", Struct((("numerator", 1),))),
                     ("g", Struct((("denominator", "MILLION"), ("n", Struct((("k", (1,)),)))))),
                     ("e", Struct())]
    assert invalid == [("bad", [1]), ("also.bad", None)]


def test_the_first_of_a_repeated_key_wins():
    pairs, _ = flatten({"a.b": 1, "a": {"b": 2}})
    assert pairs == [("a.b", 1)]


def test_values_are_read_by_envoys_yaml_rules():
    bootstrap = parse_text("""
layered_runtime:
  layers:
  - name: s
    static_layer: {int: 5, float: 2.5, big: 3000000000, quoted: "7", yes_word: yes, text: abc}
""")
    assert dict(bootstrap.layered_runtime.layers[0].values) == {
        "int": 5, "float": "2.5", "big": "3000000000", "quoted": "7", "yes_word": True,
        "text": "abc"}


def fraction(tree):
    ctx = Context()
    return runtime_fractional_percent(Node(tree, "f", ctx)), ctx.problems


def test_runtime_fractional_percent():
    assert fraction({"default_value": {"numerator": 5, "denominator": "TEN_THOUSAND"},
                     "runtime_key": "k"}) == (RuntimeFraction(5, 10_000, "k"), [])
    assert fraction({"default_value": {}}) == (RuntimeFraction(0, 100, ""), [])
    assert fraction({"runtime_key": "k"}) == (None, [("f.default_value",
                                                      "required field is missing")])
    _, problems = fraction({"default_value": {"numerator": 1, "denominator": "TEN"}})
    assert problems[0][0] == "f.default_value.denominator"


REJECTED = [
    Rejected({"layered_runtime": {"layers": [{"name": "s", "static_layer": {"a": {"b": [1]}}}]}},
             f"{LAYERS}[0].static_layer.a.b", "invalid runtime entry value", id="static list"),
    Rejected({"layered_runtime": {"layers": [{"name": "s", "static_layer": {"a": None}}]}},
             f"{LAYERS}[0].static_layer.a", "got null", id="static null"),
    Rejected({"layered_runtime": {"layers": [{"name": "s", "static_layer": 5}]}},
             f"{LAYERS}[0].static_layer", "expected a mapping", id="static not a mapping"),
    Rejected({"layered_runtime": {"layers": [{"name": "s", "static_layer": {}},
                                             {"name": "s", "admin_layer": {}}]}},
             f"{LAYERS}[1].name", "Duplicate layer name: s", id="duplicate name"),
    Rejected({"layered_runtime": {"layers": [{"name": "a", "admin_layer": {}},
                                             {"name": "b", "admin_layer": {}}]}},
             f"{LAYERS}[1].admin_layer", "Too many admin layers", id="two admin layers"),
    Rejected({"layered_runtime": {"layers": [{"static_layer": {}}]}},
             f"{LAYERS}[0].name", "required field is missing", id="no name"),
    Rejected({"layered_runtime": {"layers": [{"name": "", "admin_layer": {}}]}},
             f"{LAYERS}[0].name", "must not be empty", id="empty name"),
    Rejected({"layered_runtime": {"layers": [{"name": "s"}]}},
             f"{LAYERS}[0]", "exactly one of static_layer, disk_layer, admin_layer, rtds_layer",
             id="no layer"),
    Rejected({"layered_runtime": {"layers": [{"name": "s", "static_layer": {},
                                              "admin_layer": {}}]}},
             f"{LAYERS}[0]", "only one of", id="two layers in one"),
    Rejected({"layered_runtime": {"layers": [{"name": "s", "admin_layer": {"x": 1}}]}},
             f"{LAYERS}[0].admin_layer.x", "unknown field", id="admin field"),
    Rejected({"layered_runtime": {"layers": [{"name": "s", "disk_layer": {}}]}},
             f"{LAYERS}[0].disk_layer.symlink_root", "required field is missing",
             id="disk without root"),
    Rejected({"layered_runtime": {"layers": [{"name": "s", "disk_layer": {
        "symlink_root": "/r", "append_service_cluster": "maybe"}}]}},
             f"{LAYERS}[0].disk_layer.append_service_cluster", "expected a boolean",
             id="disk boolean"),
    Rejected({"layered_runtime": {"layers": [{"name": "s", "rtds_layer": {"rtds_config": 5}}]}},
             f"{LAYERS}[0].rtds_layer.rtds_config", "expected a mapping", id="rtds source"),
    Rejected({"layered_runtime": {"layers": {}}}, f"{LAYERS}", "expected a list",
             id="layers not a list"),
    Rejected({"layered_runtime": {"layer": []}}, "layered_runtime.layer", "unknown field",
             id="unknown field"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
