"""Envoy's admin endpoints over a running server.

``server`` is the arbiter's admin view (process/admin_view.py): the handlers here only format
what it reports and pass on what an operator asks for, so each endpoint reads as its Envoy page.
"""
from __future__ import annotations

import json
import re

from ..runtime import NoAdminLayer, RuntimeValueError
from ..stats import prometheus, render
from .certs import certificates
from .config_dump import ConfigDumpError, config_dump
from .server import Endpoint, Response

JSON = "application/json"
PROMETHEUS = "text/plain; version=0.0.4; charset=UTF-8"
RUNTIME_MODIFY_USAGE = ("usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n"
                        "       or send the parameters as form values\n"
                        "use an empty value to remove a previously added override")


def build_endpoints(server, help_text):
    """Every endpoint, bound to ``server``. ``help_text()`` lists them (for / and /help)."""
    def index(_request):
        return Response(help_text())

    def ready(_request):
        state = server.state_name()
        return Response(f"{state}\n", 200 if state == "LIVE" else 503)

    def server_info(_request):
        return Response(_json(server.server_info()), content_type=JSON)

    def stats(request):
        selected = _select(server, request)
        if isinstance(selected, Response):
            return selected
        values, histograms = selected
        kind = request.query.get("format", "text")
        if kind == "json":
            return Response(render.as_json(values, histograms), content_type=JSON)
        if kind == "prometheus":
            return prometheus_stats(request)
        if kind != "text":
            return Response("usage: /stats?format=(json|prometheus|text)\n\n", 400)
        return Response(render.text(values, histograms))

    def prometheus_stats(request):
        selected = _select(server, request)
        if isinstance(selected, Response):
            return selected
        values, histograms = selected
        gauges = server.stats.gauges()
        counters = {name: value for name, value in values.items() if name not in gauges}
        gauge_values = {name: value for name, value in values.items() if name in gauges}
        return Response(prometheus.render(counters, gauge_values, histograms, server.tag_extractor(),
                                          server.stats.selection.bucket_bounds),
                        content_type=PROMETHEUS)

    def certs(_request):
        return Response(_json(certificates(server.tls_bootstrap())), content_type=JSON)

    def clusters(request):
        server.flush_stats()
        if request.query.get("format") == "json":
            return Response(_json(server.clusters_json()), content_type=JSON)
        return Response(server.clusters_text())

    def listeners(request):
        rows = server.listeners()
        if request.query.get("format") == "json":
            body = {"listener_statuses": [
                {"name": name, "local_address": {"socket_address": {"address": address, "port_value": port}}}
                for name, address, port in rows]}
            return Response(_json(body), content_type=JSON)
        return Response("".join(f"{name}::{_address_text(address, port)}\n" for name, address, port in rows))

    def dump(request):
        text, loaded_at = server.config()
        dynamic_config = getattr(server, "dynamic_config", None)
        try:
            body = config_dump(text, loaded_at, dynamic_config() if dynamic_config else None,
                               request.query)
        except ConfigDumpError as error:   # Envoy's plain-text refusal of the query
            return Response(error.message, error.status, content_type="text/plain")
        return Response(_json(body), content_type=JSON)

    def config_inventory(_request):
        return Response(_json(server.config_inventory()), content_type=JSON)

    def runtime(_request):
        return Response(_json(server.runtime.dump()), content_type=JSON)

    def runtime_modify(request):
        """Envoy 1.40's answers: 400 and its usage without parameters; 503 "No admin layer
        specified" when the runtime has none, 503 with the YAML error for a value that is not
        YAML (nothing changed then). The new values are sent to every worker before the 200."""
        if not request.query:
            return Response(RUNTIME_MODIFY_USAGE, 400)
        try:
            server.runtime.modify(request.query)
        except (NoAdminLayer, RuntimeValueError) as error:
            return Response(str(error), 503)
        return Response("OK\n")

    def hot_restart_version(_request):
        return Response(server.hot_restart_version)

    def memory(_request):
        return Response(_json(server.memory()), content_type=JSON)

    def logging_levels(request):
        if request.method == "POST" and request.query:
            problem = _set_levels(server, request.query)
            if problem:
                return Response(problem + _logging_usage(server), 404)
        levels = server.log_levels()
        return Response("active loggers:\n" + "".join(f"  {name}: {level}\n" for name, level in levels.items())
                        + "\n")

    def healthcheck_fail(_request):
        server.set_health_check_failed(True)
        return Response("OK\n")

    def healthcheck_ok(_request):
        server.set_health_check_failed(False)
        return Response("OK\n")

    def drain_listeners(request):
        server.drain_listeners("graceful" in request.query, "inboundonly" in request.query)
        return Response("OK\n")

    def reset_counters(_request):
        server.reset_counters()
        return Response("OK\n")

    def quit(_request):
        server.quit()
        return Response("OK\n")

    return [
        Endpoint("/", index, "Admin home page"),
        Endpoint("/help", index, "print out list of admin commands"),
        Endpoint("/ready", ready, "print server state, return 200 if LIVE, otherwise return 503"),
        Endpoint("/server_info", server_info, "print server version/status information"),
        Endpoint("/stats", stats, "print server stats (?format=json|prometheus, ?filter=REGEX, "
                                  "?usedonly, ?type=Counters|Gauges|Histograms)"),
        Endpoint("/stats/prometheus", prometheus_stats, "print server stats in prometheus format"),
        Endpoint("/clusters", clusters, "upstream cluster status (?format=json)"),
        Endpoint("/certs", certs, "print certs on machine"),
        Endpoint("/listeners", listeners, "print listener info (?format=json)"),
        Endpoint("/config_dump", dump, "dump current hotproxy configs (secrets redacted)"),
        Endpoint("/hotproxy/config_inventory", config_inventory,
                 "digests of the serving config, for hotproxy --mode diff (docs/reloads.md)"),
        Endpoint("/runtime", runtime, "print runtime values"),
        Endpoint("/runtime_modify", runtime_modify, "Adds or modifies runtime values", mutates=True),
        Endpoint("/hot_restart_version", hot_restart_version, "print the hot restart compatibility version"),
        Endpoint("/memory", memory, "print memory allocation information, per process"),
        Endpoint("/logging", logging_levels, "query/change logging levels", mutates=True),
        Endpoint("/healthcheck/fail", healthcheck_fail, "cause the server to fail health checks", mutates=True),
        Endpoint("/healthcheck/ok", healthcheck_ok, "cause the server to pass health checks", mutates=True),
        Endpoint("/drain_listeners", drain_listeners,
                 "drain listeners (?graceful: drain over --drain-time-s first, ?inboundonly)", mutates=True),
        Endpoint("/reset_counters", reset_counters, "reset all counters to zero", mutates=True),
        Endpoint("/quitquitquit", quit, "exit the server", mutates=True),
    ]


def _json(value):
    """Envoy's admin JSON: pretty-printed with a one-space indent, ending in a newline."""
    return json.dumps(value, indent=1) + "\n"


def _select(server, request):
    """(counters and gauges, histograms) picked by ``filter``, ``usedonly`` and ``type``, after
    asking every worker for its latest counts; or a 400 Response for a bad parameter."""
    pattern = request.query.get("filter")
    try:
        matcher = re.compile(pattern).search if pattern else None
    except re.error as error:
        return Response(f"Invalid regex: {error}", 400)
    kind = request.query.get("type", "All")
    if kind not in ("All", "Counters", "Gauges", "Histograms", "TextReadouts"):
        return Response(f"invalid type={kind}\n", 400)
    server.flush_stats()
    store = server.stats
    values = {}
    if kind in ("All", "Counters"):
        values.update(store.counters)
    if kind in ("All", "Gauges"):
        values.update(store.gauges())
    histograms = dict(store.histograms) if kind in ("All", "Histograms") else {}
    selection = store.selection     # stats_config.stats_matcher: the arbiter's own stats too
    if not selection.accepts_all:
        values = {name: value for name, value in values.items() if selection.accepts(name)}
        histograms = {name: totals for name, totals in histograms.items() if selection.accepts(name)}
    if "usedonly" in request.query:
        values = {name: value for name, value in values.items() if name in store.used}
        histograms = {name: totals for name, totals in histograms.items() if totals.used}
    if matcher is not None:
        values = {name: value for name, value in values.items() if matcher(name)}
        histograms = {name: totals for name, totals in histograms.items() if matcher(name)}
    return values, histograms


def _set_levels(server, query):
    """Apply ``?level=L`` (every logger) or ``?<logger>=L``; a problem message or None."""
    for name, level in query.items():
        if name != "level" and name not in server.log_components:
            return f"error: unknown logger '{name}'\n"
        if level not in server.log_level_names:
            return f"error: unknown logger level '{level}'\n"
    for name, level in query.items():
        server.set_log_level(level, None if name == "level" else name)
    return None


def _logging_usage(server):
    return ("usage: /logging?<name>=<level> (change single level)\n"
            "usage: /logging?level=<level> (change all levels)\n"
            f"levels: {' '.join(server.log_level_names)}\n")


def _address_text(address, port):
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"

