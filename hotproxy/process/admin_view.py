"""What the admin endpoints (admin/endpoints.py) see of the arbiter, and do to it.

Reads are snapshots of a few of the arbiter's components: the stats collector, the serving
config and the last reload (process/reload.py), the supervisor (generations, processes), and the
server as a whole (its state, uptimes, command line). Mutations go to the operator's controls,
which tell the workers; /runtime_modify goes to the layered runtime (process/runtime_layers.py),
which tells them too.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time

from .. import __version__
from ..config import parse_text
from ..config.bootstrap import Bootstrap
from ..config.diff import empty_inventory, inventory
from ..config.xds import CLUSTERS, LISTENERS
from ..errors import ConfigError
from ..sockio import address_label
from ..stats.tags import TagExtractor
from ..xds.catalog import uses_sds
from .breakers import DEFAULT_LIMITS
from .health import HealthSupervisor
from .hotrestart.version import VERSION as HOT_RESTART_VERSION
from .logs import COMPONENTS, LEVELS, levels, set_level
from .runtime_layers import RuntimeLayers
from .server_stats import memory_report

STATE_NAMES = ("LIVE", "DRAINING", "PRE_INITIALIZING", "INITIALIZING")
_STARTING = Bootstrap()


class AdminView:
    log_components = COMPONENTS
    log_level_names = LEVELS

    def __init__(self, server, collector, config, supervisor, controls, runtime_layers=None):
        """``server``: the arbiter, for the server as a whole: ``args``, ``server_state()``,
        ``uptimes()``, ``command_line_options()``, ``quit()``, ``xds``. ``collector``: StatsCollector;
        ``config``: ServingConfig (process/reload.py); ``supervisor``: Supervisor; ``controls``:
        Controls; ``runtime_layers``: RuntimeLayers (None: a runtime of no layer, told to nobody)."""
        self.server = server
        self.collector = collector
        self.config_record = config
        self.supervisor = supervisor
        self.controls = controls
        self.runtime_layers = runtime_layers or RuntimeLayers(lambda message: None)
        self._extractor = (None, None)  # (stats_config, TagExtractor)

    @property
    def bootstrap(self):
        """The serving config; an empty one while the first generation starts."""
        return self.config_record.bootstrap or _STARTING

    def tls_bootstrap(self):
        """The serving config with the SDS secrets as they are now (a rotation applies without a
        reload, so the serving Bootstrap still holds the ones its generation started with)."""
        bootstrap = self.bootstrap
        secrets = getattr(self.server.xds, "secrets", None)
        if not secrets or not uses_sds(bootstrap):
            return bootstrap
        try:
            return parse_text(self.config_record.text, secrets)
        except ConfigError:     # a secret changed since it was checked: what started serves
            return bootstrap

    @property
    def stats(self):
        return self.collector.store

    @property
    def runtime(self):
        """The running Runtime (/runtime, /runtime_modify): read on each request, since a reload
        that changes layered_runtime replaces it."""
        return self.runtime_layers.runtime

    @property
    def hot_restart_version(self):
        return "disabled" if self.server.args.disable_hot_restart else HOT_RESTART_VERSION

    def flush_stats(self):
        self.collector.collect()

    def tag_extractor(self):
        stats_config = self.bootstrap.stats_config
        if self._extractor[0] is not stats_config:
            self._extractor = (stats_config, TagExtractor.from_config(stats_config))
        return self._extractor[1]

    def state_name(self):
        return STATE_NAMES[self.server.server_state()]

    def server_info(self):
        uptime, uptime_all = self.server.uptimes()
        bootstrap = self.bootstrap
        return {
            "version": f"hotproxy/{__version__}",
            "state": self.state_name(),
            "hot_restart_version": self.hot_restart_version,
            "command_line_options": self.server.command_line_options(),
            "node": self._node(bootstrap),
            "uptime_current_epoch": f"{uptime}s",
            "uptime_all_epochs": f"{uptime_all}s",
            "hotproxy": {
                "arbiter_pid": os.getpid(),
                "python": sys.version.split()[0],
                "generations": [{"number": g.number, "state": g.state,
                                 "workers": [c.pid for c in g.children if c.pid]}
                                for g in self.supervisor.generations],
                "last_reload": self.config_record.last_reload,
            },
        }

    def _node(self, bootstrap):
        node = {"id": bootstrap.node_id, "cluster": bootstrap.node_cluster}
        zone = self.server.args.service_zone  # the config cannot set node.locality (yet)
        if zone:
            node["locality"] = {"region": "", "zone": zone, "sub_zone": ""}
        return node

    def _health_flags(self):
        """``{cluster: {label: (health_flags, failed, excluded)}}`` from the serving generation's
        health checkers; hosts of clusters without checks are absent (healthy)."""
        serving = self.supervisor.serving
        return HealthSupervisor.flags(serving.health) if serving is not None else {}

    def _outliers(self):
        """The serving generation's outlier detectors by cluster name (process/outlier.py)."""
        serving = self.supervisor.serving
        return serving.outliers if serving is not None else {}

    def clusters_text(self):
        lines = []
        hosts = self.stats.hosts()
        health = self._health_flags()
        outliers = self._outliers()
        for cluster in self.bootstrap.clusters:
            name = cluster.name
            lines.append(f"{name}::observability_name::{cluster.stat_name}")
            detector = outliers[name].detector if name in outliers else None
            if detector is not None:
                for origin, (mean, threshold) in (("", detector.success_rate_numbers),
                                                  ("local_origin_", detector.local_origin_success_rate_numbers)):
                    lines.append(f"{name}::outlier::{origin}success_rate_average::{_rate(mean)}")
                    lines.append(f"{name}::outlier::{origin}success_rate_ejection_threshold::{_rate(threshold)}")
            for priority, limits in (("default_priority", cluster), ("high_priority", cluster.high_thresholds)):
                for field, default in DEFAULT_LIMITS.items():
                    value = getattr(limits, field) if limits is not None else default
                    lines.append(f"{name}::{priority}::{field}::{value}")
            lines.append(f"{name}::added_via_api::false")
            flags = health.get(name, {})
            monitors = _monitors_by_label(detector)
            endpoints = _endpoints_by_label(cluster)
            for label, host in sorted(hosts.get(name, {}).items()):
                health_flags = flags.get(label, ("healthy",))[0]
                monitor = monitors.get(label)
                if monitor is not None and monitor.ejected:
                    health_flags = ("" if health_flags == "healthy" else health_flags) + "/failed_outlier_check"
                for field, value in self._host_fields(host, health_flags, monitor, endpoints.get(label)):
                    lines.append(f"{name}::{label}::{field}::{value}")
        return "".join(line + "\n" for line in lines)

    def clusters_json(self):
        hosts = self.stats.hosts()
        health = self._health_flags()
        outliers = self._outliers()
        statuses = []
        for cluster in self.bootstrap.clusters:
            host_statuses = []
            flags = health.get(cluster.name, {})
            detector = outliers[cluster.name].detector if cluster.name in outliers else None
            monitors = _monitors_by_label(detector)
            for label, host in sorted(hosts.get(cluster.name, {}).items()):
                _, failed, excluded = flags.get(label, ("healthy", False, False))
                monitor = monitors.get(label)
                # Envoy's order: failed_active_health_check, failed_outlier_check,
                # eds_health_status, excluded_...
                health_status = {"failed_active_health_check": True} if failed else {}
                if monitor is not None and monitor.ejected:
                    health_status["failed_outlier_check"] = True
                health_status["eds_health_status"] = "HEALTHY"
                if excluded:
                    health_status["excluded_via_immediate_hc_fail"] = True
                address, _, port = label.rpartition(":")
                host_statuses.append({
                    "address": {"socket_address": {"address": address.strip("[]"), "port_value": int(port)}},
                    "stats": [{"name": field, "value": str(value),
                               "type": "GAUGE" if field.endswith("_active") else "COUNTER"}
                              for field, value in self._host_fields(host)[:8]],
                    "health_status": health_status,
                    "weight": host.weight,
                })
                if monitor is not None:
                    for field in ("success_rate", "local_origin_success_rate"):
                        if getattr(monitor, field) >= 0:
                            host_statuses[-1][field] = {"value": getattr(monitor, field)}
            status = {"name": cluster.name, "observability_name": cluster.stat_name,
                      "added_via_api": False, "host_statuses": host_statuses}
            if detector is not None:
                for field, (_, threshold) in (
                        ("success_rate_ejection_threshold", detector.success_rate_numbers),
                        ("local_origin_success_rate_ejection_threshold",
                         detector.local_origin_success_rate_numbers)):
                    if threshold >= 0:
                        status[field] = {"value": threshold}
            statuses.append(status)
        return {"cluster_statuses": statuses}

    @staticmethod
    def _host_fields(host, health_flags="healthy", monitor=None, endpoint=None):
        """``endpoint``: (hostname, priority) from the config, for STATIC clusters."""
        hostname, priority = endpoint or ("", 0)
        counters = host.counters
        return [("cx_active", host.cx_active), ("cx_connect_fail", counters.get("cx_connect_fail", 0)),
                ("cx_total", counters.get("cx_total", 0)), ("rq_active", host.rq_active),
                ("rq_error", counters.get("rq_error", 0)), ("rq_success", counters.get("rq_success", 0)),
                ("rq_timeout", counters.get("rq_timeout", 0)), ("rq_total", counters.get("rq_total", 0)),
                ("hostname", hostname), ("health_flags", health_flags), ("weight", host.weight),
                ("region", ""), ("zone", ""), ("sub_zone", ""), ("canary", "false"),
                ("priority", priority),
                ("success_rate", _rate(monitor.success_rate) if monitor is not None else -1),
                ("local_origin_success_rate",
                 _rate(monitor.local_origin_success_rate) if monitor is not None else -1)]

    def listeners(self):
        """(name, address, port) of every listener the serving generation runs, with the port
        actually bound."""
        rows = []
        serving = self.supervisor.serving
        for listener in self.bootstrap.listeners:
            sock = serving.sockets.get(listener.name) if serving is not None else None
            port = sock.getsockname()[1] if sock is not None and sock.fileno() >= 0 else listener.address.port
            rows.append((listener.name, listener.address.address, port))
        return rows

    def config(self):
        """(config text, when it was loaded as RFC 3339) of the serving generation."""
        record = self.config_record
        loaded = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.loaded_at))
        return record.text, loaded

    def config_inventory(self):
        """/hotproxy/config_inventory: what the serving config's file holds, as config/diff.py
        compares it (digests, no key material), for ``hotproxy --mode diff``. The listeners and
        clusters xDS serves are left out (a config file does not hold them) and named in
        ``dynamic``."""
        snapshot = self.server.xds.snapshot or {}
        dynamic = {"listeners": sorted(snapshot.get(LISTENERS) or ()),
                   "clusters": sorted(snapshot.get(CLUSTERS) or ())}
        record = self.config_record
        if record.bootstrap is None:
            held = empty_inventory()
        elif dynamic["listeners"] or dynamic["clusters"]:
            bootstrap = record.bootstrap
            held = inventory(dataclasses.replace(
                bootstrap, listeners=tuple(l for l in bootstrap.listeners if l.name not in dynamic["listeners"]),
                clusters=tuple(c for c in bootstrap.clusters if c.name not in dynamic["clusters"])))
        else:
            held = record.inventory
        serving = self.supervisor.serving
        return {"generation": serving.number if serving is not None else None, "inventory": held,
                "dynamic": dynamic}

    def dynamic_config(self):
        """What xDS serves (process/xds_link.py's snapshot), None without dynamic resources."""
        return self.server.xds.snapshot

    def memory(self):
        return memory_report(self.supervisor.processes())

    def log_levels(self):
        return levels()

    def set_log_level(self, level, component):
        set_level(level, component)
        self.controls.broadcast_log_level(level, component)

    def set_health_check_failed(self, failed):
        self.controls.set_health_check_failed(failed)

    def drain_listeners(self, graceful, inbound_only):
        self.controls.drain_listeners(graceful, inbound_only)

    def reset_counters(self):
        self.collector.collect()
        self.stats.reset_counters()

    def quit(self):
        self.server.quit()


def _rate(value):
    """A success rate as Envoy prints it: -1 when not computed."""
    return -1 if value < 0 else value


def _endpoints_by_label(cluster):
    if cluster.type != "STATIC":
        return {}
    return {address_label((endpoint.address.address, endpoint.address.port)): (endpoint.hostname, priority)
            for endpoint, _, priority, _ in cluster.endpoints_with_priority()}


def _monitors_by_label(detector):
    if detector is None:
        return {}
    return {address_label(address): monitor for address, monitor in detector.hosts.items()}
