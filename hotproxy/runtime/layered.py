"""The arbiter's runtime: the bootstrap's layers in order, later ones overriding earlier ones.

``Runtime.from_bootstrap(bootstrap)`` builds it (reading the disk layers). Then:

- ``modify(values)``: the admin layer (POST /runtime_modify); raises ``NoAdminLayer`` without
  one (Envoy answers 503 "No admin layer specified") and ``RuntimeValueError`` for a value that
  is not YAML (Envoy answers 503 with the YAML error);
- ``set_rtds(resource_name, values)``: an RTDS update of a layer's resource;
- ``poll()``: re-reads the disk layers whose symlink_root was swapped (call it periodically);
- ``dump()``: the /runtime body; ``snapshot()``: the final values for the workers' ``install``.

Each of the first three returns True when the final values (or the layers /runtime lists)
changed; then ``on_change(snapshot)`` is called too, when set.
"""
from __future__ import annotations

import os

from ..config.runtime import AdminLayer as AdminLayerConfig
from ..config.runtime import DiskLayer as DiskLayerConfig
from ..config.runtime import RtdsLayer as RtdsLayerConfig
from ..config.runtime import StaticLayer as StaticLayerConfig
from ..errors import ConfigError
from .layers import AdminLayer, DiskLayer, RtdsLayer, StaticLayer
from .values import plain


class NoAdminLayer(LookupError):
    """The runtime has no admin layer: Envoy's /runtime_modify answers 503 with this text."""

    def __init__(self):
        super().__init__("No admin layer specified")


class Runtime:
    def __init__(self, config=None, service_cluster=""):
        """``config``: a config.runtime.LayeredRuntime; None is one admin layer named "admin"
        (what the admin endpoints had before the bootstrap's layers were read; a bootstrap
        without layered_runtime is ``from_bootstrap``'s business). Raises ConfigError for a disk
        layer whose symlink_root's directory does not exist (Envoy cannot watch it)."""
        if config is None:
            self.layers = [AdminLayer("admin")]
        else:
            self.layers = [_layer(layer, index, service_cluster)
                           for index, layer in enumerate(config.layers)]
        self.admin = next((layer for layer in self.layers if isinstance(layer, AdminLayer)), None)
        #: called with ``snapshot()`` after a change that ``modify``, ``set_rtds`` or ``poll`` made
        self.on_change = None
        self._final = {}
        self._listed = ()
        for layer in self.layers:
            if isinstance(layer, DiskLayer):
                layer.reload()
        self._merge()

    @classmethod
    def from_bootstrap(cls, bootstrap, service_cluster=None) -> Runtime:
        """The runtime a bootstrap describes; without layered_runtime, Envoy's: no layer at all.
        ``service_cluster`` (--service-cluster) replaces the bootstrap's node.cluster for the
        disk layers with append_service_cluster."""
        cluster = bootstrap.node_cluster if service_cluster is None else service_cluster
        if bootstrap.layered_runtime is None:
            return cls(_NO_LAYERS, cluster)
        return cls(bootstrap.layered_runtime, cluster)

    # --- changes -------------------------------------------------------------------------------

    def modify(self, values) -> bool:
        """The admin layer: each key set to its text, or removed by an empty one."""
        if self.admin is None:
            raise NoAdminLayer()
        return self._changed(self.admin.merge(values))

    def set_rtds(self, resource_name, values) -> bool:
        """An RTDS update: the layers subscribed to ``resource_name`` (their rtds_layer.name)
        hold ``values`` (the Runtime resource's ``layer`` Struct, a mapping) from now on; an
        empty mapping clears them (the resource was removed). Raises KeyError when no layer
        subscribes to it, RuntimeValueError for a list or null value (the update is refused)."""
        layers = [layer for layer in self.layers
                  if isinstance(layer, RtdsLayer) and layer.resource_name == resource_name]
        if not layers:
            raise KeyError(resource_name)
        changed = False
        for layer in layers:
            changed = layer.set(values) or changed
        return self._changed(changed)

    def poll(self) -> bool:
        """Re-read the disk layers whose symlink_root was swapped since they were read."""
        changed = False
        for layer in self.disk_layers():
            if layer.swapped():
                changed = layer.reload() or changed
        return self._changed(changed)

    def reload(self) -> bool:
        """Re-read every disk layer, swapped or not."""
        changed = False
        for layer in self.disk_layers():
            changed = layer.reload() or changed
        return self._changed(changed)

    # --- reads ---------------------------------------------------------------------------------

    def disk_layers(self) -> list:
        return [layer for layer in self.layers if isinstance(layer, DiskLayer)]

    def rtds_resource_names(self) -> list:
        """The RTDS resources to subscribe to, in layer order."""
        return [layer.resource_name for layer in self.layers if isinstance(layer, RtdsLayer)]

    def dump(self) -> dict:
        """The /runtime JSON body: the names of the layers in effect (a disk layer whose
        directory is missing or unreadable is not), and for each key its text in each of them
        ("" where it has none) and the text in effect."""
        listed = self._listed
        return {"layers": [layer.name for layer in listed],
                "entries": {key: {"layer_values": [layer.entries[key][0]
                                                   if key in layer.entries else ""
                                                   for layer in listed],
                                  "final_value": text}
                            for key, (text, _) in sorted(self._final.items())}}

    def snapshot(self) -> dict:
        """The final values, key → value (a bool, number, string, mapping or None), as plain
        data for a worker's ``install``."""
        return {key: plain(value) for key, (_, value) in self._final.items()}

    # --- internals -----------------------------------------------------------------------------

    def _changed(self, changed) -> bool:
        if changed and self._merge():
            if self.on_change is not None:
                self.on_change(self.snapshot())
            return True
        return False

    def _merge(self) -> bool:
        """Recompute the final entries; True when they or the listed layers changed."""
        listed = tuple(layer for layer in self.layers if layer.present)
        final = {}
        for layer in listed:
            final.update(layer.entries)
        changed = final != self._final or [layer.name for layer in listed] != [
            layer.name for layer in self._listed]
        self._final, self._listed = final, listed
        return changed


class _NoLayers:
    layers = ()


_NO_LAYERS = _NoLayers()


def _layer(config, index, service_cluster):
    if isinstance(config, StaticLayerConfig):
        return StaticLayer(config.name, config.values)
    if isinstance(config, AdminLayerConfig):
        return AdminLayer(config.name)
    if isinstance(config, RtdsLayerConfig):
        return RtdsLayer(config.name, config.resource_name)
    if isinstance(config, DiskLayerConfig):
        # Envoy watches symlink_root's directory for the swap, and cannot start without it.
        watched = os.path.dirname(os.path.abspath(config.symlink_root))
        if not os.path.isdir(watched):
            raise ConfigError([(f"layered_runtime.layers[{index}].disk_layer.symlink_root",
                                f"unable to add filesystem watch for file {config.symlink_root}: "
                                "No such file or directory")])
        return DiskLayer(config.name, config.symlink_root, config.subdirectory,
                         config.append_service_cluster, service_cluster)
    raise TypeError(f"not a runtime layer: {config!r}")
