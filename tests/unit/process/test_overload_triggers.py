"""The overload manager's rules against Envoy's ThresholdTrigger and ScaledTrigger: pressure from a
measurement, each trigger's state, an action's state as the highest of its triggers', and the
gauges in Envoy's truncated percent."""
import pytest

from hotproxy.config.overload import OverloadAction, OverloadManager, ResourceMonitor, Trigger
from hotproxy.process.overload_triggers import action_states, gauges, pressures, trigger_state

HEAP = "envoy.resource_monitors.fixed_heap"
CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections"
STOP = "envoy.overload_actions.stop_accepting_requests"
KEEPALIVE = "envoy.overload_actions.disable_http_keepalive"


@pytest.mark.parametrize("pressure, state", [(0.0, 0.0), (0.79, 0.0), (0.8, 1.0), (3.5, 1.0)])
def test_a_threshold_trigger_saturates_from_its_value_on(pressure, state):
    assert trigger_state(Trigger(HEAP, threshold=0.8), pressure) == state


@pytest.mark.parametrize("pressure, state", [
    (0.2, 0.0), (0.5, 0.0),    # at the scaling threshold still inactive (Envoy: value <= scaling)
    (0.6, 0.25), (0.8, 0.75),  # linear in between
    (0.9, 1.0), (1.7, 1.0),    # saturated from the saturation threshold on
])
def test_a_scaled_trigger_is_linear_between_its_thresholds(pressure, state):
    trigger = Trigger(HEAP, scaling_threshold=0.5, saturation_threshold=0.9)
    assert trigger_state(trigger, pressure) == pytest.approx(state)


def manager(*actions, heap=1000, connections=10):
    monitors = (ResourceMonitor(HEAP, heap), ResourceMonitor(CONNECTIONS, connections))
    return OverloadManager(resource_monitors=monitors, actions=tuple(actions))


def test_pressure_is_the_measurement_over_the_limit_and_may_exceed_one():
    config = manager()
    assert pressures(config, {HEAP: 2500, CONNECTIONS: 4}) == {HEAP: 2.5, CONNECTIONS: 0.4}
    assert pressures(config, {CONNECTIONS: 10}) == {CONNECTIONS: 1.0}  # the heap not measured yet


def test_an_action_takes_the_highest_of_its_triggers():
    action = OverloadAction(STOP, (Trigger(HEAP, threshold=0.95),
                                   Trigger(CONNECTIONS, scaling_threshold=0.5, saturation_threshold=1.0)))
    config = manager(action)
    assert action_states(config, {HEAP: 0.1, CONNECTIONS: 0.75}) == {STOP: 0.5}
    assert action_states(config, {HEAP: 0.96, CONNECTIONS: 0.75}) == {STOP: 1.0}


def test_a_trigger_without_a_measurement_is_inactive():
    config = manager(OverloadAction(STOP, (Trigger(HEAP, threshold=0.0),)),
                     OverloadAction(KEEPALIVE, (Trigger(CONNECTIONS, threshold=0.5),)))
    assert action_states(config, {CONNECTIONS: 0.6}) == {STOP: 0.0, KEEPALIVE: 1.0}


def test_gauges_in_envoys_truncated_percent():
    scaled = Trigger(CONNECTIONS, scaling_threshold=0.0, saturation_threshold=0.9)
    config = manager(OverloadAction(STOP, (scaled,)))
    pressure = {HEAP: 6684.67891, CONNECTIONS: 0.3}
    assert gauges(config, pressure, action_states(config, pressure)) == {
        f"overload.{HEAP}.pressure": 668467,
        f"overload.{CONNECTIONS}.pressure": 30,
        f"overload.{STOP}.active": 0,
        f"overload.{STOP}.scale_percent": 33,
    }
    saturated = {CONNECTIONS: 0.95}
    assert gauges(config, saturated, action_states(config, saturated)) == {
        f"overload.{HEAP}.pressure": 0,  # declared before its first measurement
        f"overload.{CONNECTIONS}.pressure": 95,
        f"overload.{STOP}.active": 1,
        f"overload.{STOP}.scale_percent": 100,
    }
