"""The layered runtime (hotproxy/runtime/): layer precedence, /runtime's body, the disk layer
read through a swapped symlink, append_service_cluster, the admin and RTDS layers, values typed
as Envoy 1.40 types them, and the snapshot a worker installs. Expectations are Envoy 1.40's as
probed (/runtime, and routes whose runtime_fraction reads each kind of value)."""
import os

import msgpack
import pytest

from hotproxy import runtime
from hotproxy.config import parse_text
from hotproxy.errors import ConfigError
from hotproxy.runtime import NoAdminLayer, Runtime, RuntimeValueError, Snapshot
from hotproxy.runtime.layers import file_value
from hotproxy.runtime.values import load_text, render, simple_atod, typed


def write_tree(root, files):
    """Files under ``root``: {"a/b": "text"} makes root/a/b."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def swap(link, target):
    """Publish a new tree as the docs say: a new symlink renamed over the old one."""
    staging = link.parent / (link.name + ".new")
    os.symlink(target, staging)
    os.replace(staging, link)


def runtime_of(yaml_text, service_cluster=None):
    return Runtime.from_bootstrap(parse_text(yaml_text), service_cluster)


@pytest.fixture(autouse=True)
def empty_snapshot():
    yield
    runtime.install({})


# --- layering and /runtime ---------------------------------------------------------------------

def test_later_layers_override_earlier_ones_and_runtime_shows_each(tmp_path):
    write_tree(tmp_path / "v1" / "envoy", {"health_check/min_interval": "7\n", "disk_only": "d"})
    os.symlink(tmp_path / "v1", tmp_path / "current")
    rt = runtime_of(f"""
layered_runtime:
  layers:
  - name: base
    static_layer: {{health_check: {{min_interval: 5}}, static_only: true}}
  - name: disk
    disk_layer: {{symlink_root: {tmp_path}/current, subdirectory: envoy}}
  - name: admin
    admin_layer: {{}}
""")
    rt.modify({"health_check.min_interval": "9", "admin_only": "x"})
    assert rt.dump() == {"layers": ["base", "disk", "admin"], "entries": {
        "admin_only": {"layer_values": ["", "", "x"], "final_value": "x"},
        "disk_only": {"layer_values": ["", "d", ""], "final_value": "d"},
        "health_check.min_interval": {"layer_values": ["5", "7", "9"], "final_value": "9"},
        "static_only": {"layer_values": ["true", "", ""], "final_value": "true"}}}
    rt.modify({"health_check.min_interval": ""})      # an empty value removes the override
    assert rt.dump()["entries"]["health_check.min_interval"]["final_value"] == "7"
    assert rt.snapshot() == {"health_check.min_interval": 7, "disk_only": "d",
                             "static_only": True, "admin_only": "x"}


def test_an_rtds_layer_overrides_what_comes_before_it_only():
    rt = runtime_of("""
layered_runtime:
  layers:
  - {name: base, static_layer: {a: 1, b: 1}}
  - {name: rtds, rtds_layer: {name: resource, rtds_config: {path: /srv/rtds.yaml}}}
  - {name: admin, admin_layer: {}}
""")
    assert rt.rtds_resource_names() == ["resource"]
    rt.modify({"b": "3"})
    assert rt.set_rtds("resource", {"a": 2, "b": 2, "c": {"d": {"numerator": 5}}})
    assert rt.snapshot() == {"a": 2, "b": 3, "c.d": {"numerator": 5}}
    assert rt.dump()["entries"]["c.d"] == {"layer_values": ["", "{numerator: 5}", ""],
                                           "final_value": "{numerator: 5}"}
    assert not rt.set_rtds("resource", {"a": 2, "b": 2, "c": {"d": {"numerator": 5}}})
    assert rt.set_rtds("resource", {})          # the resource was removed
    assert rt.snapshot() == {"a": 1, "b": 3}
    with pytest.raises(RuntimeValueError, match="Invalid runtime entry value for x.y"):
        rt.set_rtds("resource", {"a": 5, "x": {"y": [1]}})
    assert rt.snapshot() == {"a": 1, "b": 3}    # a refused update changes nothing
    with pytest.raises(KeyError):
        rt.set_rtds("other", {})


def test_static_values_show_as_envoy_prints_them():
    rt = runtime_of("""
layered_runtime:
  layers:
  - name: s
    static_layer: {int: 5, neg: -3, big: 1234567, yaml_float: 2.5, flag: true, off: n,
                   text: abc, fraction: {numerator: 3, denominator: MILLION}}
""")
    shown = {key: entry["final_value"] for key, entry in rt.dump()["entries"].items()}
    assert shown == {"int": "5", "neg": "-3", "big": "1.23457e+06", "yaml_float": "2.5",
                     "flag": "true", "off": "false", "text": "abc",
                     "fraction": "{numerator: 3, denominator: MILLION}"}
    assert render(0.5) == "0.5" and render(1e20) == "1e+20" and render(10**400) == "inf"


def test_runtime_without_arguments_is_one_admin_layer():
    rt = Runtime()
    rt.modify({"a": "1", "b": "2"})
    rt.modify({"b": ""})
    assert rt.dump() == {"layers": ["admin"],
                         "entries": {"a": {"layer_values": ["1"], "final_value": "1"}}}


def test_a_bootstrap_without_layered_runtime_has_no_layer_and_no_admin_layer():
    rt = runtime_of("admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}")
    assert rt.dump() == {"layers": [], "entries": {}}
    with pytest.raises(NoAdminLayer, match="No admin layer specified"):
        rt.modify({"a": "1"})
    static_only = runtime_of("layered_runtime: {layers: [{name: s, static_layer: {a: 1}}]}")
    with pytest.raises(NoAdminLayer):
        static_only.modify({"a": "2"})


def test_admin_values_that_are_not_yaml_change_nothing():
    rt = Runtime()
    rt.modify({"a": "1"})
    with pytest.raises(RuntimeValueError):
        rt.modify({"a": "2", "b": "["})
    assert rt.snapshot() == {"a": 1}


def test_admin_text_is_shown_as_given_and_typed_by_yaml():
    rt = Runtime()
    rt.modify({"spaced": " spaced ", "fraction": "{numerator: 1}", "list": "[1,2]", "null": "~"})
    entries = rt.dump()["entries"]
    assert entries["spaced"]["final_value"] == " spaced "
    assert rt.snapshot() == {"spaced": "spaced", "fraction": {"numerator": 1}, "list": [1, 2],
                             "null": None}


def test_on_change_gets_the_new_snapshot_once_per_change():
    rt = Runtime()
    seen = []
    rt.on_change = seen.append
    assert rt.modify({"a": "1"})
    assert not rt.modify({"a": "1"})            # no change, no call
    assert not rt.modify({"missing": ""})
    assert seen == [{"a": 1}]


# --- the disk layer ----------------------------------------------------------------------------

def disk_runtime(tmp_path, subdirectory="envoy", append=False, cluster="mycluster"):
    return runtime_of(f"""
node: {{cluster: {cluster}}}
layered_runtime:
  layers:
  - name: disk
    disk_layer: {{symlink_root: {tmp_path}/current, subdirectory: {subdirectory},
                  append_service_cluster: {str(append).lower()}}}
""")


def test_a_file_is_a_key_and_its_content_the_value(tmp_path):
    write_tree(tmp_path / "v1" / "envoy", {
        "a/b/c": "1", "top": "  hello world  \n\n", "commented": "# a comment\n42\n",
        "multi": "line1\n#c\nline2 \n", "fraction": "{numerator: 5, denominator: TEN_THOUSAND}",
        ".hidden": "h"})
    os.symlink(tmp_path / "v1", tmp_path / "current")
    rt = disk_runtime(tmp_path)
    shown = {key: entry["final_value"] for key, entry in rt.dump()["entries"].items()}
    assert shown == {"a.b.c": "1", "top": "  hello world", "commented": "42",
                     "multi": "line1\nline2", ".hidden": "h",
                     "fraction": "{numerator: 5, denominator: TEN_THOUSAND}"}
    assert rt.snapshot()["fraction"] == {"numerator": 5, "denominator": "TEN_THOUSAND"}
    assert rt.snapshot()["top"] == "hello world"


@pytest.mark.parametrize("content, value", [
    ("5", "5"), ("5\n", "5"), ("\n\n5 \t\n\n", "5"), ("# only a comment\n", ""),
    ("a\n# trailing comment", "a\n"), ("x\ny\nx", "xy\nx"), ("  lead", "  lead"),
])
def test_file_content_is_trimmed_as_envoy_trims_it(content, value):
    assert file_value(content) == value


def test_a_symlink_swap_publishes_the_new_tree(tmp_path):
    write_tree(tmp_path / "v1" / "envoy", {"a": "1", "b": "1"})
    write_tree(tmp_path / "v2" / "envoy", {"a": "2", "c": "2"})
    os.symlink(tmp_path / "v1", tmp_path / "current")
    rt = disk_runtime(tmp_path)
    assert rt.snapshot() == {"a": 1, "b": 1}
    assert not rt.poll()                        # nothing swapped: nothing read again
    (tmp_path / "v1" / "envoy" / "b").write_text("9")
    assert not rt.poll() and rt.snapshot()["b"] == 1    # an edit in place waits for a swap
    seen = []
    rt.on_change = seen.append
    swap(tmp_path / "current", tmp_path / "v2")
    assert rt.poll()
    assert rt.snapshot() == {"a": 2, "c": 2} and seen == [{"a": 2, "c": 2}]
    assert not rt.poll()
    swap(tmp_path / "current", tmp_path / "v1")
    assert rt.poll() and rt.snapshot() == {"a": 1, "b": 9}


def test_a_layer_reads_one_tree_even_when_swapped_mid_read(tmp_path, monkeypatch):
    write_tree(tmp_path / "v1" / "envoy", {"a": "1", "b": "1"})
    write_tree(tmp_path / "v2" / "envoy", {"a": "2", "b": "2"})
    os.symlink(tmp_path / "v1", tmp_path / "current")
    rt = disk_runtime(tmp_path)
    layer = rt.disk_layers()[0]
    real_open = open

    def open_then_swap(path, *args, **kwargs):      # the swap lands between two files
        if (tmp_path / "current").resolve() == tmp_path / "v1":
            swap(tmp_path / "current", tmp_path / "v2")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", open_then_swap)
    swap(tmp_path / "current", tmp_path / "v1")
    layer.reload()
    monkeypatch.undo()
    assert {value for _, value in layer.entries.values()} == {1}   # all of v1
    assert layer.swapped() and layer.reload()                     # and v2 on the next poll
    assert {value for _, value in layer.entries.values()} == {2}


def test_a_missing_directory_leaves_the_layer_out_until_it_appears(tmp_path):
    (tmp_path / "v1").mkdir()
    os.symlink(tmp_path / "v1", tmp_path / "current")
    rt = disk_runtime(tmp_path)
    assert rt.dump() == {"layers": [], "entries": {}}
    write_tree(tmp_path / "v2" / "envoy", {"a": "1"})
    swap(tmp_path / "current", tmp_path / "v2")
    assert rt.poll() and rt.dump()["layers"] == ["disk"]


def test_a_symlink_root_that_does_not_exist_yet_is_watched(tmp_path):
    rt = disk_runtime(tmp_path)
    assert rt.dump()["layers"] == []
    write_tree(tmp_path / "v1" / "envoy", {"a": "1"})
    os.symlink(tmp_path / "v1", tmp_path / "current")
    assert rt.poll() and rt.snapshot() == {"a": 1}


def test_a_symlink_root_whose_directory_is_missing_is_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        runtime_of(f"layered_runtime: {{layers: [{{name: d, disk_layer: "
                   f"{{symlink_root: {tmp_path}/nowhere/current}}}}]}}")
    assert info.value.problems[0][0] == "layered_runtime.layers[0].disk_layer.symlink_root"


@pytest.mark.parametrize("files", [
    {"good": "1", "bad": "["},                              # not YAML
    {"/".join(["d"] * 16) + "/deep": "1"},                  # deeper than Envoy walks
], ids=["yaml", "depth"])
def test_a_tree_that_cannot_be_read_leaves_the_layer_out(tmp_path, files):
    write_tree(tmp_path / "v1" / "envoy", files)
    os.symlink(tmp_path / "v1", tmp_path / "current")
    rt = disk_runtime(tmp_path)
    assert rt.dump() == {"layers": [], "entries": {}}
    assert rt.disk_layers()[0].error


def test_fifteen_levels_deep_is_read(tmp_path):
    write_tree(tmp_path / "v1" / "envoy", {"/".join(["d"] * 15) + "/deep": "1"})
    os.symlink(tmp_path / "v1", tmp_path / "current")
    assert disk_runtime(tmp_path).snapshot() == {".".join(["d"] * 15) + ".deep": 1}


def test_append_service_cluster_reads_the_clusters_directory_only(tmp_path):
    # As Envoy 1.40: the layer is <root>/<subdirectory>/<cluster>, not that on top of
    # <root>/<subdirectory>; a second layer without append_service_cluster gives the defaults.
    write_tree(tmp_path / "v1" / "override", {"shared": "1", "mycluster/shared": "2",
                                              "mycluster/own": "3", "other/own": "4"})
    os.symlink(tmp_path / "v1", tmp_path / "current")
    rt = runtime_of(f"""
node: {{cluster: mycluster}}
layered_runtime:
  layers:
  - {{name: all, disk_layer: {{symlink_root: {tmp_path}/current, subdirectory: override}}}}
  - {{name: mine, disk_layer: {{symlink_root: {tmp_path}/current, subdirectory: override,
                                append_service_cluster: true}}}}
""")
    entries = rt.dump()["entries"]
    assert entries["shared"] == {"layer_values": ["1", "2"], "final_value": "2"}
    assert entries["own"] == {"layer_values": ["", "3"], "final_value": "3"}
    assert entries["other.own"]["layer_values"] == ["4", ""]
    # --service-cluster replaces node.cluster
    assert runtime_of(f"""
node: {{cluster: mycluster}}
layered_runtime: {{layers: [{{name: mine, disk_layer: {{symlink_root: {tmp_path}/current,
    subdirectory: override, append_service_cluster: true}}}}]}}
""", service_cluster="other").snapshot() == {"own": 4}


def test_a_missing_cluster_directory_leaves_the_layer_out(tmp_path):
    write_tree(tmp_path / "v1" / "override", {"shared": "1"})
    os.symlink(tmp_path / "v1", tmp_path / "current")
    rt = disk_runtime(tmp_path, subdirectory="override", append=True)
    assert rt.dump() == {"layers": [], "entries": {}}


# --- typed values ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    # (double, integer, boolean, percent)
    (5, (5.0, 5, True, None)),
    (0, (0.0, 0, False, None)),
    (-5, (-5.0, None, True, None)),
    (2.5, (2.5, 2, None, None)),
    ("2.5", (2.5, 2, None, None)),              # YAML floats are strings: read as numbers
    (" 50 ", (50.0, 50, True, None)),
    ("+7", (7.0, 7, True, None)),
    ("1e3", (1000.0, 1000, True, None)),
    ("abc", (None, None, None, None)),
    ("true", (None, None, None, None)),         # a string is no boolean in Envoy 1.40
    ("{numerator: 5}", (None, None, None, None)),
    (True, (None, None, True, None)),
    (3e9, (3e9, 3_000_000_000, None, None)),     # a whole number beyond int32: no boolean
    ({"numerator": 5, "denominator": "TEN_THOUSAND"}, (None, None, None, (5, 10_000))),
    ({"numerator": 5}, (None, None, None, (5, 100))),
    ({"denominator": "MILLION"}, (None, None, None, (0, 1_000_000))),
    ({}, (None, None, None, (0, 100))),
    ({"numerator": 5, "other": 1}, (None, None, None, None)),
    ({"numerator": 5, "denominator": "FOO"}, (None, None, None, None)),
    ({"numerator": "5"}, (None, None, None, (0, 100))),
    (None, (None, None, None, None)),
    ([1], (None, None, None, None)),
])
def test_values_are_typed_as_envoy_types_them(value, expected):
    assert typed(value) == expected


@pytest.mark.parametrize("text, value", [
    ("5", 5), ("-3", -3), ("010", 8), ("0x10", 16), ("2.5", "2.5"), ("true", True),
    ("yes", True), ("n", False), ("abc", "abc"), ("", None), ("~", None),
    ("{numerator: 5}", {"numerator": 5}), ("3000000000", "3000000000"),
])
def test_disk_and_admin_text_is_read_by_envoys_yaml_rules(text, value):
    assert load_text(text) == value


def test_simple_atod():
    assert simple_atod("\t1.5\n") == 1.5 and simple_atod("inf") == float("inf")
    assert simple_atod("1_000") is None and simple_atod("+-1") is None and simple_atod("1e") is None
    assert simple_atod("0x10") is None and simple_atod(".") is None


# --- a worker's snapshot -----------------------------------------------------------------------

VALUES = {"fraction": {"numerator": 5, "denominator": "TEN_THOUSAND"}, "fifty": "50",
          "two_hundred": 200, "empty": {}, "negative": -5, "flag": True, "text": "abc",
          "two_and_a_half": 2.5, "panic": 30}


def share(snapshot, key, default, draws=20_000):
    return sum(snapshot.fraction_enabled(key, default, value) for value in range(draws)) / draws


@pytest.mark.parametrize("key, default, expected", [
    ("fraction", (0, 100), 5 / 10_000),
    ("fifty", (0, 100), 0.5),
    ("two_hundred", (0, 100), 1.0),             # an integer above 100: always
    ("empty", (100, 100), 0.0),                 # {} is 0/100
    ("negative", (100, 100), 1.0),              # no integer: the default
    ("flag", (0, 100), 0.0),                    # a boolean is no percentage
    ("text", (100, 100), 1.0),
    ("two_and_a_half", (0, 100), 0.02),
    ("unset", (25, 100), 0.25),
    ("unset", (150, 100), 1.0),                 # a numerator above its denominator: always
])
def test_fraction_enabled_reads_the_key_as_envoy_does(key, default, expected):
    assert share(Snapshot(VALUES), key, default) == pytest.approx(expected)


def test_the_installed_snapshot_is_what_the_readers_read():
    assert runtime.get_integer("panic", 50) == 50
    assert not runtime.fraction_enabled("fifty", (0, 100), 10)
    rt = Runtime()
    rt.modify({key: str(value) if not isinstance(value, dict) else
               "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
               for key, value in VALUES.items()})
    wire = msgpack.packb(rt.snapshot())             # what travels to a worker
    installed = runtime.install(msgpack.unpackb(wire))
    assert runtime.current() is installed
    assert runtime.get_integer("panic", 50) == 30 and runtime.get_integer("flag", 7) == 7
    assert runtime.fraction_enabled("fifty", (0, 100), 10)
    assert not runtime.fraction_enabled("fifty", (0, 100), 50)
    assert runtime.get_boolean("flag", False) and runtime.get_boolean("panic", False)
    assert runtime.get_double("two_and_a_half", 0.0) == 2.5
    assert runtime.feature_enabled("two_hundred", 0) and not runtime.feature_enabled("empty", 0)
    assert runtime.feature_enabled("fifty", 0, 149) and not runtime.feature_enabled("fifty", 0, 150)
    assert runtime.feature_enabled("unset", 100) and not runtime.feature_enabled("unset", 0)


def test_a_snapshot_of_any_static_value_travels():
    rt = runtime_of("""{"layered_runtime": {"layers": [{"name": "s", "static_layer": {
        "huge": 100000000000000000000000000, "f": {"numerator": 1, "x": {"y": [1, {}]}}}}]}}""")
    assert msgpack.unpackb(msgpack.packb(rt.snapshot())) == {
        "huge": 1e26, "f": {"numerator": 1, "x": {"y": [1, {}]}}}
