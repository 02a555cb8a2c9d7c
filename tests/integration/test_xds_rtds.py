"""RTDS: a runtime layer the control plane sets, which a route's runtime_fraction reads."""
from __future__ import annotations

import pytest

from harness import RawClient, free_port, to_yaml, wait_for_port
from test_xds_dynamic import NODE, wait_until
from xds_configs import ADS, ads_bootstrap, inline_listener
from xds_control import XdsServer


@pytest.fixture
def xds(tmp_path):
    with XdsServer.start(tmp_path / "xds") as server:
        yield server


def test_an_rtds_layer_moves_a_route_share(proxy_factory, xds):
    port = free_port()
    routes = {"name": "local", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": "/", "runtime_fraction": {
            "default_value": {"numerator": 0}, "runtime_key": "routing.canary"}},
         "direct_response": {"status": 299}},
        {"match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]}
    xds.set("listeners", [inline_listener("web", port, routes)])
    xds.set("clusters", [])
    xds.set("runtime", [{"name": "flags", "layer": {"routing": {"canary": 0}}}])
    admin = free_port()
    bootstrap = ads_bootstrap(xds.grpc_port, admin, NODE)
    bootstrap["layered_runtime"] = {"layers": [
        {"name": "base", "static_layer": {"unrelated": 1}},
        {"name": "rtds", "rtds_layer": {"name": "flags", "rtds_config": ADS}}]}
    proxy = proxy_factory(to_yaml(bootstrap), listeners=[])
    wait_for_port(port, process=proxy.process)

    def statuses():
        return {RawClient(port).request("GET", "/").status for _ in range(10)}

    assert statuses() == {200}
    xds.set("runtime", [{"name": "flags", "layer": {"routing": {"canary": 100}}}])
    xds.wait_for_ack("runtime", xds.version("runtime"), node=NODE)
    wait_until(lambda: statuses() == {299}, what="the RTDS value turning the canary on")
    xds.set("runtime", [{"name": "flags", "layer": {"routing": {"canary": [1, 2]}}}])
    error = xds.wait_for_nack("runtime", node=NODE)
    assert "Invalid runtime entry value for routing.canary" in error
    assert statuses() == {299}
