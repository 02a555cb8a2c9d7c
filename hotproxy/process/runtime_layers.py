"""The arbiter's layered runtime (hotproxy/runtime/), kept in step with every worker.

The arbiter holds the one ``Runtime`` the serving bootstrap's ``layered_runtime`` describes (no
layer at all without one, as Envoy: /runtime lists none and /runtime_modify answers 503). The
workers only read values, so each gets them as plain data (``Runtime.snapshot()``) and installs
them (``hotproxy.runtime.install``):

- a new worker, in its first message (``worker_state()``: the ``runtime`` key), before it serves
  (it waits for that message when its config has a layered_runtime);
- every live worker, draining ones too, a ``runtime`` message (process/messages.py) whenever
  the final values change: a disk layer's symlink_root swapped (polled about once a second;
  ``poll()`` re-reads a tree only when its link was replaced, so the poll costs a few lstat
  calls), a POST /runtime_modify (the admin endpoints use ``runtime``), an RTDS update
  (``set_rtds``), a reload that changed the layers.

Reloads. Everything that can fail is done in the reload's BIND phase (``prepare``): a changed
layered_runtime is built there, so a disk layer whose directory cannot be watched makes the
reload fail and leaves the running runtime as it was. The new runtime replaces the running one
when the generation of its config serves (``commit``); until then every worker, the new
generation's included, keeps the running values, so that all of them read one runtime at any
time. An unchanged layered_runtime keeps the running Runtime object whole.

A rebuilt runtime keeps the admin layer's values (when it still has an admin layer) and the
last RTDS values of the resources it still subscribes to. Envoy reads layered_runtime only at a
(hot) restart, whose new process starts with an empty admin layer; a hotproxy reload is
in-process, and an operator's override (often a kill switch) silently lost to an unrelated
config change would be the surprise. A hot restart (a new epoch) starts empty, as Envoy's.

RTDS: the xDS side calls ``set_rtds(resource_name, values)`` with a Runtime resource's ``layer``
Struct as a mapping (an empty one when the resource was removed); ``rtds_resource_names()`` are
the resources to subscribe to. The change is pushed like any other.
"""
from __future__ import annotations

import logging

import gevent

from ..config.bootstrap import Bootstrap
from ..runtime import Runtime
from .messages import RUNTIME

log = logging.getLogger("hotproxy.arbiter")

POLL_INTERVAL_S = 1.0


class RuntimeLayers:
    def __init__(self, push, service_cluster=None, poll_interval_s=POLL_INTERVAL_S):
        """``push(message)`` sends a message to every live worker (the supervisor's broadcast,
        draining generations included); ``service_cluster``: --service-cluster, which replaces
        node.cluster for disk layers with append_service_cluster (None: the bootstrap's)."""
        self._push = push
        self._service_cluster = service_cluster
        self._poll_interval_s = poll_interval_s
        self._key = None             # (layered_runtime, cluster) the running runtime was built from
        self._candidate = None       # (key, Runtime) prepared by a reload not yet serving
        self._rtds = {}              # resource name → its last RTDS values, kept for rebuilds
        self._poller = None
        #: the running Runtime: what /runtime shows and /runtime_modify changes. Nothing is
        #: configured before the first config is read: no layers.
        self.runtime = self._watch(Runtime.from_bootstrap(Bootstrap()))

    # --- the config's layers ------------------------------------------------------------------

    def configure(self, bootstrap):
        """The first config: its runtime runs at once (the first workers start with it).
        Raises ConfigError."""
        self.prepare(bootstrap)
        self.commit(bootstrap)

    def prepare(self, bootstrap):
        """A reload's BIND phase: build ``bootstrap``'s runtime when its layers differ from the
        running ones. Raises ConfigError (a disk layer's directory cannot be watched)."""
        self._candidate = None
        key = self._key_of(bootstrap)
        if key != self._key:
            self._candidate = (key, Runtime.from_bootstrap(bootstrap, self._service_cluster))

    def commit(self, bootstrap):
        """``bootstrap``'s generation serves: its prepared runtime, if any, replaces the running
        one, keeping the admin layer's values and the RTDS values it still subscribes to, and
        every worker gets its values."""
        candidate, self._candidate = self._candidate, None
        if candidate is None or candidate[0] != self._key_of(bootstrap):
            return
        key, runtime = candidate
        old = self.runtime
        if old.admin is not None and runtime.admin is not None and old.admin.entries:
            runtime.modify({name: text for name, (text, _) in old.admin.entries.items()})
        subscribed = set(runtime.rtds_resource_names())
        for name, values in self._rtds.items():
            if name in subscribed:
                runtime.set_rtds(name, values)
        self._rtds = {name: values for name, values in self._rtds.items() if name in subscribed}
        runtime.poll()      # a swap since prepare
        old.on_change = None
        self.runtime, self._key = self._watch(runtime), key
        log.info("runtime: layers %s", [layer.name for layer in runtime.layers])
        if runtime.snapshot() != old.snapshot():
            self._changed(runtime.snapshot())

    def _key_of(self, bootstrap):
        cluster = bootstrap.node_cluster if self._service_cluster is None else self._service_cluster
        return bootstrap.layered_runtime, cluster

    # --- changes -------------------------------------------------------------------------------

    def set_rtds(self, resource_name, values) -> bool:
        """An RTDS update of ``resource_name``: the layers subscribed to it hold ``values`` (a
        mapping) from now on; every worker gets the new values when they changed. True when
        they did. Raises KeyError when no layer subscribes to it, RuntimeValueError for a list
        or null value (the update is refused: NACK it)."""
        changed = self.runtime.set_rtds(resource_name, values)
        self._rtds[resource_name] = values
        return changed

    def rtds_resource_names(self) -> list:
        """The RTDS resources the running runtime subscribes to, in layer order (a reload that
        changes layered_runtime changes them when its generation serves)."""
        return self.runtime.rtds_resource_names()

    def worker_state(self) -> dict:
        """What a worker's first message carries: the running values, as ``runtime``."""
        return {"runtime": self.runtime.snapshot()}

    # --- polling the disk layers ---------------------------------------------------------------

    def start(self):
        """Poll the disk layers every ``poll_interval_s`` from now on."""
        if self._poller is None:
            self._poller = gevent.spawn(self._poll_forever)

    def stop(self):
        if self._poller is not None:
            self._poller.kill(block=False)
            self._poller = None

    def poll(self) -> bool:
        """Re-read the disk layers whose symlink_root was swapped; True when values changed
        (the workers have been told)."""
        return self.runtime.poll()

    def _poll_forever(self):
        while True:
            gevent.sleep(self._poll_interval_s)
            try:
                self.poll()
            except Exception:   # a poll must not end the polling: log, try again next time
                log.exception("runtime: polling the disk layers failed")

    # --- internals -----------------------------------------------------------------------------

    def _watch(self, runtime):
        runtime.on_change = self._changed
        return runtime

    def _changed(self, snapshot):
        log.debug("runtime: %d keys, pushed to the workers", len(snapshot))
        self._push({"t": RUNTIME, "values": snapshot})
