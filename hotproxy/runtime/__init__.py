"""Envoy's layered runtime (docs: "Runtime"): keys with values from a bootstrap's
``layered_runtime`` layers, later layers overriding earlier ones.

The arbiter holds the ``Runtime`` (layered.py): the layers (layers.py), /runtime's dump,
/runtime_modify's admin layer, RTDS updates and the disk layers' polling; its ``snapshot()`` is
plain data for the workers. A process ``install``s that data as its ``Snapshot`` (snapshot.py),
which the data plane reads through ``fraction_enabled``, ``feature_enabled``, ``get_integer``,
``get_double`` and ``get_boolean``. Values are typed as Envoy types them (values.py).
"""
from .layered import NoAdminLayer, Runtime
from .layers import AdminLayer, DiskLayer, RtdsLayer, StaticLayer
from .snapshot import (Snapshot, current, feature_enabled, fraction_enabled, get_boolean,
                       get_double, get_integer, install, random_value)
from .values import RuntimeValueError

__all__ = ["AdminLayer", "DiskLayer", "NoAdminLayer", "RtdsLayer", "Runtime", "RuntimeValueError",
           "Snapshot", "StaticLayer", "current", "feature_enabled", "fraction_enabled",
           "get_boolean", "get_double", "get_integer", "install", "random_value"]
