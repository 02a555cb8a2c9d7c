"""process/runtime_layers.py: what the workers are sent, and what a reload keeps."""
import os

import pytest

from hotproxy.config import parse_text
from hotproxy.errors import ConfigError
from hotproxy.process.messages import RUNTIME
from hotproxy.process.runtime_layers import RuntimeLayers
from hotproxy.runtime import NoAdminLayer


def config(*layers, cluster="svc"):
    lines = [f"node: {{id: node1, cluster: {cluster}}}", "layered_runtime:", "  layers:"]
    lines += [f"  - {layer}" for layer in layers]
    return parse_text("\n".join(lines) + "\n")


STATIC = "{name: base, static_layer: {a: 1, b: 2}}"
ADMIN = "{name: admin, admin_layer: {}}"
RTDS = "{name: rtds, rtds_layer: {name: flags, rtds_config: {path: /srv/rtds.yaml}}}"


@pytest.fixture
def pushed():
    return []


def layers_with(pushed, bootstrap):
    component = RuntimeLayers(pushed.append)
    component.configure(bootstrap)
    return component


def test_before_any_config_there_is_no_layer_as_envoy_without_layered_runtime(pushed):
    component = RuntimeLayers(pushed.append)
    assert component.runtime.dump() == {"layers": [], "entries": {}}
    with pytest.raises(NoAdminLayer):
        component.runtime.modify({"x": "1"})
    assert component.worker_state() == {"runtime": {}}


def test_the_first_config_runs_at_once_and_a_new_worker_starts_with_its_values(pushed):
    component = layers_with(pushed, config(STATIC, ADMIN))
    assert component.worker_state() == {"runtime": {"a": 1, "b": 2}}
    assert pushed == [{"t": RUNTIME, "values": {"a": 1, "b": 2}}]   # no worker yet: harmless


def test_an_admin_change_is_pushed_and_an_unchanged_one_is_not(pushed):
    component = layers_with(pushed, config(STATIC, ADMIN))
    pushed.clear()
    assert component.runtime.modify({"a": "5"})
    assert pushed == [{"t": RUNTIME, "values": {"a": 5, "b": 2}}]
    assert not component.runtime.modify({"a": "5"})
    assert len(pushed) == 1


def test_a_swapped_disk_layer_is_pushed_by_the_poll(pushed, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two" / "routing").mkdir(parents=True)
    (tmp_path / "two" / "routing" / "canary").write_text("100\n")
    root = tmp_path / "current"
    os.symlink(tmp_path / "one", root)
    component = layers_with(pushed, config(f"{{name: disk, disk_layer: {{symlink_root: {root}}}}}"))
    pushed.clear()
    assert not component.poll()
    os.symlink(tmp_path / "two", tmp_path / "next")
    os.replace(tmp_path / "next", root)
    assert component.poll()
    assert pushed == [{"t": RUNTIME, "values": {"routing.canary": 100}}]


def test_an_unchanged_layered_runtime_keeps_the_runtime_whole(pushed):
    component = layers_with(pushed, config(STATIC, ADMIN))
    runtime = component.runtime
    runtime.modify({"x": "1"})
    pushed.clear()
    same = config(STATIC, ADMIN)
    component.prepare(same)
    component.commit(same)
    assert component.runtime is runtime and pushed == []


def test_a_changed_layered_runtime_runs_when_its_generation_serves_keeping_admin_values(pushed):
    component = layers_with(pushed, config(STATIC, ADMIN))
    component.runtime.modify({"x": "1", "a": "9"})
    pushed.clear()
    changed = config("{name: base, static_layer: {a: 1, b: 3}}", "{name: ops, admin_layer: {}}")
    component.prepare(changed)
    assert component.worker_state() == {"runtime": {"a": 9, "b": 2, "x": 1}}   # not yet
    component.runtime.modify({"y": "2"})           # while the new generation starts
    component.commit(changed)
    assert component.runtime.dump()["layers"] == ["base", "ops"]
    assert pushed[-1] == {"t": RUNTIME, "values": {"a": 9, "b": 3, "x": 1, "y": 2}}


def test_a_rebuilt_runtime_without_an_admin_layer_drops_the_overrides(pushed):
    component = layers_with(pushed, config(STATIC, ADMIN))
    component.runtime.modify({"x": "1"})
    changed = config(STATIC)
    component.prepare(changed)
    component.commit(changed)
    assert component.worker_state() == {"runtime": {"a": 1, "b": 2}}
    with pytest.raises(NoAdminLayer):
        component.runtime.modify({"x": "1"})


def test_a_failed_reload_leaves_the_running_runtime(pushed, tmp_path):
    component = layers_with(pushed, config(STATIC, ADMIN))
    runtime = component.runtime
    with pytest.raises(ConfigError):
        component.prepare(config(f"{{name: d, disk_layer: {{symlink_root: {tmp_path}/no/such}}}}"))
    other = config(STATIC)
    component.prepare(other)                       # a reload whose generation never got ready
    component.commit(config(STATIC, ADMIN))        # then one with the running layers serves
    assert component.runtime is runtime


def test_rtds_values_are_pushed_and_survive_a_rebuild_that_still_subscribes(pushed):
    component = layers_with(pushed, config(STATIC, RTDS, ADMIN))
    assert component.rtds_resource_names() == ["flags"]
    pushed.clear()
    assert component.set_rtds("flags", {"a": 7, "feature": {"on": True}})
    assert pushed == [{"t": RUNTIME, "values": {"a": 7, "b": 2, "feature.on": True}}]
    with pytest.raises(KeyError):
        component.set_rtds("other", {"a": 1})
    changed = config(STATIC, ADMIN, RTDS)          # the RTDS layer now above the admin layer
    component.prepare(changed)
    component.commit(changed)
    assert component.worker_state()["runtime"]["feature.on"] is True


def test_a_service_cluster_replaces_the_node_cluster_for_disk_layers(pushed, tmp_path):
    (tmp_path / "root" / "edge").mkdir(parents=True)
    (tmp_path / "root" / "edge" / "k").write_text("3")
    layer = f"{{name: d, disk_layer: {{symlink_root: {tmp_path}/root, append_service_cluster: true}}}}"
    component = RuntimeLayers(pushed.append, service_cluster="edge")
    component.configure(config(layer, cluster="svc"))
    assert component.worker_state() == {"runtime": {"k": 3}}
