"""The arbiter's side of xDS: the xDS process as an auxiliary child, and what its snapshots
change.

The xDS process (process/xds_child.py) checks every update before it ACKs it and sends the
arbiter a snapshot of what to serve (``xds_snapshot``). Here a snapshot is turned into the two
kinds of change hotproxy makes without dropping a connection:
- listeners or clusters changed: a reload (process/reload.py), the config composed from the
  bootstrap and the snapshot's listeners and clusters; updates that come while one runs
  coalesce, as SIGHUPs do;
- route tables or memberships changed: the changed RouteConfigurations and
  ClusterLoadAssignments go to every live worker (process/worker_xds.py), with no new
  generation; a worker started later gets them all in its first message.
Snapshots before the first one marked ``initial`` are held back: the first generation waits
for it (``initial``), as Envoy's initialization waits for its first fetches.

Stats, under Envoy's names: ``control_plane.connected_state``, ``listener_manager.lds.*`` and
``cluster_manager.cds.*`` (update_attempt, update_success, update_rejected, update_failure,
init_fetch_timeout, and the gauges version and update_time), ``server.dynamic_unknown_fields``;
each route configuration's and assignment's in process/xds_resource_stats.py.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import subprocess
import time

import xxhash
from gevent.event import Event

from ..config.trees import text_tree
from ..config.resources import parse_resource
from ..config.parse_xds import rtds_layers
from ..config.xds import CLUSTERS, ENDPOINTS, LISTENERS, ROUTES, RUNTIME, SECRETS, uses_rds_or_eds
from ..runtime import RuntimeValueError
from ..errors import ConfigError
from ..xds.catalog import compose, uses_sds
from . import messages
from .channel import Channel, socketpair
from .supervisor import AuxiliarySpec
from .xds_resource_stats import ResourceStats

log = logging.getLogger("hotproxy.arbiter")

PREFIXES = {LISTENERS: "listener_manager.lds.", CLUSTERS: "cluster_manager.cds."}
COUNTERS = ("update_attempt", "update_success", "update_rejected", "update_failure", "init_fetch_timeout")
UNKNOWN_FIELDS = "server.dynamic_unknown_fields"
CONNECTED = "control_plane.connected_state"
RESPAWNED = "xds.respawned"


def needs_xds(bootstrap) -> bool:
    """Whether ``bootstrap`` has anything to fetch."""
    return (bootstrap.dynamic_resources is not None or uses_rds_or_eds(bootstrap)
            or uses_sds(bootstrap) or bool(rtds_layers(bootstrap)))


class XdsLink:
    def __init__(self, stats, request_reload, broadcast, log_options, set_rtds, follow_endpoints):
        """``request_reload()`` asks for a reload (coalesced with any running);
        ``broadcast(message)`` reaches every live worker; ``set_rtds(name, values)`` gives the
        layered runtime an RTDS resource's values (process/runtime_layers.py);
        ``follow_endpoints(bodies)`` gives the arbiter's health checkers and outlier detectors
        new ClusterLoadAssignments by service name (process/eds_hosts.py)."""
        self._stats = stats
        self._request_reload = request_reload
        self._broadcast = broadcast
        self._log_options = log_options
        self._set_rtds = set_rtds
        self._follow_endpoints = follow_endpoints
        self._resource_stats = ResourceStats(stats)
        self.static_text = None        # the bootstrap the xDS process runs with
        self.snapshot = None           # the last initial-or-later snapshot
        self.secrets = {}              # its secrets, parsed: what composed configs are read with
        self.initial = Event()
        self._levels = {CONNECTED: 0}
        self._unknown_seen = 0
        stats.declare(UNKNOWN_FIELDS, RESPAWNED,
                      *(prefix + name for prefix in PREFIXES.values() for name in COUNTERS))

    def follow(self, supervisor, text: str) -> None:
        """Run the xDS process for the bootstrap ``text`` (the config file as read): started the
        first time, restarted when a reload changed the bootstrap."""
        if self.static_text == text:
            return
        first, self.static_text = self.static_text is None, text
        if first:
            supervisor.register(AuxiliarySpec("xds", self._spawn, RESPAWNED, stop_order=-1,
                                              on_message=self._on_message))
            supervisor.start_auxiliary("xds")
        else:
            log.info("the bootstrap changed: restarting the xDS process")
            supervisor.restart_auxiliary("xds")

    def compose(self) -> str:
        """The config of a generation: the bootstrap with the snapshot's listeners and clusters
        (the xDS process checked that they compose: xds/catalog.py)."""
        if self.snapshot is None:
            return self.static_text
        tree, _problems = text_tree(self.static_text)
        return json.dumps(compose(tree, self.snapshot[LISTENERS], self.snapshot[CLUSTERS]), indent=1)

    def worker_state(self) -> dict:
        """The routes, memberships and secrets of a worker's first message."""
        snapshot = self.snapshot or {}
        return {messages.XDS_ROUTES: snapshot.get(ROUTES, {}),
                messages.XDS_ENDPOINTS: snapshot.get(ENDPOINTS, {}),
                messages.XDS_SECRETS: snapshot.get(SECRETS, {})}

    # the xDS process

    def _spawn(self):
        parent_end, child_end = socketpair()
        config_fd = os.memfd_create("hotproxy-xds-bootstrap", os.MFD_CLOEXEC)
        try:
            os.write(config_fd, self.static_text.encode())
            argv = [sys.executable, "-m", "hotproxy.process.xds_child", "--config-fd", str(config_fd),
                    "--channel-fd", str(child_end.fileno()), "--arbiter-pid", str(os.getpid()),
                    *self._log_options.argv()]
            process = subprocess.Popen(argv, pass_fds=[config_fd, child_end.fileno()], close_fds=True)
        finally:
            child_end.close()
            os.close(config_fd)
        channel = Channel(parent_end)
        # first on its channel: what is served now, so that a respawned process starts from it
        channel.send({"t": messages.XDS_SEED, "snapshot": self.snapshot})
        log.info("started hotproxy: xds (pid %d)", process.pid)
        return process, channel

    def _on_message(self, _child, message, fds):
        for fd in fds:
            os.close(fd)
        kind = message.get("t")
        if kind == messages.XDS_SNAPSHOT:
            self._on_snapshot(message)
        elif kind == messages.XDS_EVENT:
            self._on_event(message)

    def _on_snapshot(self, snapshot):
        unknown = snapshot.get("unknown_fields", 0)
        if unknown > self._unknown_seen:
            self._stats.add(UNKNOWN_FIELDS, unknown - self._unknown_seen)
        self._unknown_seen = unknown
        if not snapshot.get("initial"):
            return
        previous, self.snapshot = self.snapshot, snapshot
        secrets = _changed((previous or {}).get(SECRETS, {}), snapshot[SECRETS])
        self._parse_secrets(secrets, snapshot[SECRETS])
        endpoints = _changed((previous or {}).get(ENDPOINTS, {}), snapshot[ENDPOINTS])
        routes = _changed((previous or {}).get(ROUTES, {}), snapshot[ROUTES])
        self._resource_stats.count(snapshot, routes, endpoints)
        if endpoints:
            self._follow_endpoints(endpoints)
        if previous is None:
            self.initial.set()      # the runtime takes its RTDS values once built: push_runtime
            return
        self.push_runtime(_changed(previous.get(RUNTIME, {}), snapshot[RUNTIME]))
        if secrets:     # rotated: new handshakes use them, in every worker
            self._broadcast({"t": messages.XDS_SECRETS, "secrets": secrets})
        if routes:
            self._broadcast({"t": messages.XDS_ROUTES, "routes": routes})
        if endpoints:
            self._broadcast({"t": messages.XDS_ENDPOINTS, "endpoints": endpoints})
        if previous[LISTENERS] != snapshot[LISTENERS] or previous[CLUSTERS] != snapshot[CLUSTERS]:
            log.info("xDS changed listeners or clusters: reloading")
            self._request_reload()

    def push_runtime(self, changed=None):
        """RTDS resources to the layered runtime: those ``changed``, else all of them."""
        for name, body in (self.snapshot or {}).get(RUNTIME, {}).items() if changed is None else changed.items():
            try:
                self._set_rtds(name, body.get("layer") or {})
            except (KeyError, RuntimeValueError) as error:
                log.error("RTDS resource '%s' not applied: %s", name, error)

    def _parse_secrets(self, changed, current):
        """Read what changed (the xDS process checked it: a failure here is a file that
        changed since, and the secret keeps its last reading)."""
        for name, body in changed.items():
            try:
                self.secrets[name] = parse_resource(SECRETS, body)[0][1]
            except ConfigError as error:
                log.error("secret '%s' cannot be read: %s", name, error)
        for name in set(self.secrets) - set(current):
            del self.secrets[name]

    def _on_event(self, event):
        name, kind = event.get("event"), event.get("type")
        prefix = PREFIXES.get(kind)
        if name in ("connected", "disconnected"):
            self._levels[CONNECTED] = 1 if name == "connected" else 0
        elif prefix is not None and name == "initial_fetch_done" and event.get("reason") == "timeout":
            self._stats.add(prefix + "init_fetch_timeout")
        elif prefix is not None and name in ("ack", "nack", "connection_failure"):
            if name != "connection_failure":
                self._stats.add(prefix + "update_attempt")
            self._stats.add(prefix + {"ack": "update_success", "nack": "update_rejected",
                                      "connection_failure": "update_failure"}[name])
            if name == "ack":
                self._levels[prefix + "version"] = xxhash.xxh64_intdigest(
                    (event.get("version_info") or "").encode())
                self._levels[prefix + "update_time"] = int(time.time() * 1000)
        self._stats.set_gauges("xds", dict(self._levels), local=True)


def _changed(before: dict, after: dict) -> dict:
    return {name: body for name, body in after.items() if before.get(name) != body}
