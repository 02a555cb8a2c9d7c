"""The overload manager's rules, sans-IO: resource pressure from what the arbiter measured, and
each action's state from its triggers (Envoy's ThresholdTrigger and ScaledTrigger).

An action's state is a value in [0, 1]: 0 inactive, 1 saturated, in between scaling. It is the
highest of its triggers' states; a trigger whose resource has no measurement yet is inactive.
"""
from __future__ import annotations

from ..config.overload import OverloadManager, Trigger


def pressures(config: OverloadManager, measured: dict) -> dict:
    """``{monitor name: pressure}`` for the monitors with a measurement: what they measured over
    their limit (it may exceed 1: Envoy's fixed_heap reports 6000% for 60 bytes over 1)."""
    return {monitor.name: measured[monitor.name] / monitor.limit
            for monitor in config.resource_monitors if monitor.name in measured}


def trigger_state(trigger: Trigger, pressure: float) -> float:
    if trigger.threshold is not None:
        return 1.0 if pressure >= trigger.threshold else 0.0
    low, high = trigger.scaling_threshold, trigger.saturation_threshold
    if pressure <= low:
        return 0.0
    if pressure >= high:
        return 1.0
    return (pressure - low) / (high - low)


def action_states(config: OverloadManager, pressure: dict) -> dict:
    """``{action name: state}`` for every configured action."""
    states = {}
    for action in config.actions:
        state = 0.0
        for trigger in action.triggers:
            if trigger.resource in pressure:
                state = max(state, trigger_state(trigger, pressure[trigger.resource]))
        states[action.name] = state
    return states


def gauges(config: OverloadManager, pressure: dict, states: dict) -> dict:
    """Envoy's overload gauges: ``overload.<monitor>.pressure`` and ``overload.<action>.active``
    and ``.scale_percent``, in whole percent as Envoy truncates them."""
    levels = {f"overload.{name}.pressure": int(value * 100) for name, value in pressure.items()}
    for monitor in config.resource_monitors:
        levels.setdefault(f"overload.{monitor.name}.pressure", 0)
    for name, state in states.items():
        levels[f"overload.{name}.active"] = 1 if state >= 1.0 else 0
        levels[f"overload.{name}.scale_percent"] = int(state * 100)
    return levels
