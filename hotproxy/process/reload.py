"""The reload state machine: a new generation under the same arbiter (SIGHUP, TTIN/TTOU).

Two-phase, so that everything that can fail happens before anything changes:

    VALIDATE  the config source gives (text, bootstrap)         ConfigError: invalid
    BIND      listening sockets of new addresses, the admin's   OSError
    START     discovery prepared, generation G+1's workers started
    READY     every worker of G+1 reports ready (READY_TIMEOUT_S), or G+1 is killed
    PROBE     the listeners of G+1 that opted in answer their probe (process/reload_probe.py),
              or G+1 is killed: the reload is rolled back
    DRAIN     G+1 serves; the older READY generations drain, unused sockets close

A failure at any step leaves the serving generation exactly as it was: it is counted
(server.reload_failed, and server.reload_rolled_back for a failed probe), logged, and reported
in ``last_reload`` (/server_info) and to systemd. Once the new config is read, every reload
has its report (config/diff.py): what it changes, or would have changed, against the config
that serves; logged, and in ``last_reload`` too (docs/reloads.md).
Draining workers stop accepting and hand their idle keep-alive connections to the arbiter, which
passes each to a worker of the newest generation.

Requests coalesce (``ReloadQueue``): at most one reload runs and at most one more waits behind
it; a request made while one waits replaces it, because the newest config is the one to serve.
Each request names its config source, a callable returning (text, bootstrap) or raising
ConfigError: by default the config file, read when the reload runs (so a burst of SIGHUPs reads
the file once more at most); another source (xDS) may hand in a config of its own, and its
requests coalesce with the file's the same way.
"""
from __future__ import annotations

import logging
import time

import gevent

from ..config.diff import diff_inventories, empty_inventory, inventory
from ..errors import ConfigError
from .generation import READY
from .hotrestart.child import HotRestartError
from .messages import ACCEPT, RESTART_CONFIG_INVENTORY
from .reload_probe import probe_generation

log = logging.getLogger("hotproxy.arbiter")

IDLE, VALIDATE, BIND, START, WAIT_READY, PROBE, DRAIN = (
    "idle", "validate", "bind", "start", "ready", "probe", "drain")
READY_TIMEOUT_S = 30.0
#: server.reload_rolled_back is hotproxy's: reloads whose new generation failed its probe
COUNTERS = ("server.reload_total", "server.reload_failed", "server.reload_rolled_back")


class ReloadQueue:
    """Sans-IO: which reload runs, and which one waits. Holds config sources."""

    def __init__(self):
        self.running = None
        self.queued = None

    def request(self, source):
        """True when ``source``'s reload is to run now; else it waits (replacing any waiting)."""
        if self.running is not None:
            self.queued = source
            return False
        self.running = source
        return True

    def finished(self):
        """The running reload is done: the waiting one runs now (returned), or None (idle)."""
        self.running, self.queued = self.queued, None
        return self.running

    def clear(self):
        self.running = self.queued = None


class ServingConfig:
    """The config that serves and how the last reload went: what /config_dump, /server_info and
    systemd's STATUS= report. Kept apart from the generations: after a hot restart's hand-over
    no generation serves, and this epoch still reports the config it served."""

    def __init__(self):
        self.bootstrap = None        # None until the first generation serves
        self.text = ""
        self.loaded_at = 0.0
        self.last_reload = {"result": "none"}
        self._inventory = None

    def update(self, bootstrap, text, inventory_=None):
        """``inventory_``: the bootstrap's (config/diff.py), when already made."""
        self.bootstrap = bootstrap
        self.text = text
        self.loaded_at = time.time()
        self._inventory = inventory_

    @property
    def inventory(self):
        """What the serving config holds, as config/diff.py compares it (made once per config)."""
        if self.bootstrap is None:
            return empty_inventory()
        if self._inventory is None:
            self._inventory = inventory(self.bootstrap)
        return self._inventory


class Reloader:
    def __init__(self, source, steps, stats, config, notifier, on_done):
        """``source()``: the config file's (text, bootstrap), the default source; ``steps``: what
        each phase does (GenerationSteps); ``config``: the ServingConfig it updates;
        ``on_done(generation)``: after each reload, with the generation that now serves, or None
        when the reload failed."""
        self.source = source
        self.steps = steps
        self.stats = stats
        self.config = config
        self.notifier = notifier
        self.on_done = on_done
        self.phase = IDLE
        self._queue = ReloadQueue()
        stats.declare(*COUNTERS)

    def request(self, source=None, trigger="SIGHUP"):
        """Reload from ``source`` (the config file when None), now or after the running one.
        ``trigger``: what asked for it, as the report names it (SIGHUP, xds, concurrency)."""
        if self._queue.request((source or self.source, trigger)):
            gevent.spawn(self._run, self._queue.running)

    def _run(self, request):
        try:
            while request is not None:
                self._reload_once(*request)
                request = self._queue.finished()
                if self.steps.stopping:
                    break
        finally:
            self._queue.clear()
            self.phase = IDLE

    def _reload_once(self, source, trigger):
        self.notifier.reloading("reloading")
        started = time.monotonic()
        record = {"trigger": trigger}
        try:
            self.phase = VALIDATE
            text, bootstrap = source()
        except ConfigError as error:
            return self._failed(record, f"invalid configuration: {error}")
        new_inventory = self._report(bootstrap, record)
        try:
            self.phase = BIND
            sockets = self.steps.bind(bootstrap)
        except (ConfigError, OSError) as error:
            return self._failed(record, f"invalid configuration: {error}")
        self.phase = START
        try:
            generation = self.steps.start(bootstrap, text, sockets)
        except OSError as error:
            self.steps.release_unused()
            return self._failed(record, f"workers could not be started: {error}")
        record["generation"] = generation.number
        self.phase = WAIT_READY
        if not self.steps.wait_ready(generation) or self.steps.stopping:
            self.steps.abandon(generation)
            why = f": {generation.start_failure}" if generation.start_failure else ""
            return self._failed(record, f"generation {generation.number} did not become ready{why}")
        self.phase = PROBE
        problem = self.steps.probe(generation)
        if problem is not None or self.steps.stopping:
            self.steps.abandon(generation)
            if problem is None:
                return self._failed(record, "the server is stopping")
            self.stats.add("server.reload_rolled_back")
            return self._failed(record, f"generation {generation.number} failed its reload probe: {problem}",
                                result="rolled_back")
        self.phase = DRAIN
        generation.state = READY
        self.config.update(bootstrap, text, new_inventory)
        self.steps.drain_older(generation)
        self.stats.add("server.reload_total")
        self.config.last_reload = {"result": "ok", **record, "seconds": round(time.monotonic() - started, 3)}
        log.info("reload %d: generation %d serving (%.3f s)", self.stats.counters["server.reload_total"],
                 generation.number, time.monotonic() - started)
        self.on_done(generation)
        return None

    def _report(self, bootstrap, record):
        """The new config's inventory, and the report against the serving one into ``record``
        (logged). A report that cannot be made is logged and the reload goes on without it."""
        try:
            new_inventory = inventory(bootstrap)
            report = diff_inventories(self.config.inventory, new_inventory)
        except Exception:  # a bug in the report must never cost the reload
            log.exception("reload (%s): no report", record["trigger"])
            return None
        record["report"] = report.to_json()
        log.info("reload (%s): %s", record["trigger"], report.text().rstrip("\n").replace("\n", "\n    "))
        return new_inventory

    def _failed(self, record, reason, result="failed"):
        self.stats.add("server.reload_failed")
        self.config.last_reload = {"result": result, "reason": reason, **record}
        if result == "rolled_back":
            log.error("reload rolled back, the running configuration keeps serving: %s", reason)
        else:
            log.error("reload failed, the running configuration keeps serving: %s", reason)
        self.on_done(None)


class GenerationSteps:
    """What each phase of a reload (and of the first start) does to the arbiter's components."""

    def __init__(self, supervisor, sockets, admin, discovery, drain, runtime=None):
        """``sockets``: ListenSockets; ``admin``: AdminPort; ``discovery``: Discovery;
        ``drain``: DrainSettings (process/supervisor.py); ``runtime``: RuntimeLayers
        (process/runtime_layers.py), which the arbiter commits once the generation serves."""
        self._supervisor = supervisor
        self._sockets = sockets
        self._admin = admin
        self._discovery = discovery
        self._drain = drain
        self._runtime = runtime

    @property
    def stopping(self):
        return self._supervisor.stopping

    def bind(self, bootstrap):
        """The listening sockets by listener name, and the admin address; a changed
        layered_runtime is built first (nothing bound yet if it cannot be). Raises OSError,
        ConfigError."""
        if self._runtime is not None:
            self._runtime.prepare(bootstrap)
        sockets = self._sockets.bind(bootstrap)
        self._admin.serve(bootstrap)
        return sockets

    def start(self, bootstrap, text, sockets):
        """A new generation for ``bootstrap``, its discovery prepared first, its workers started."""
        return self._supervisor.start_generation(bootstrap, text, sockets, self._discovery.prepare(bootstrap))

    def wait_ready(self, generation):
        return generation.wait_ready(READY_TIMEOUT_S)

    def probe(self, generation):
        """None when ``generation``'s probed listeners answer as expected, else why not."""
        return probe_generation(generation)

    def abandon(self, generation):
        """``generation`` will not serve: its workers are killed, the sockets only it would
        have used close."""
        self._supervisor.stop_generation(generation, kill=True)
        self.release_unused()

    def release_unused(self):
        self._sockets.close_unused(self._supervisor.generations)

    def accept(self, generation):
        """``generation`` serves: its workers accept on the listening sockets, if they held."""
        generation.send_all({"t": ACCEPT})

    def drain_older(self, generation):
        """``generation`` serves: it accepts, the older READY ones drain, moving their idle
        connections to it; sockets and discovery no generation uses any more go."""
        self.accept(generation)
        supervisor, drain = self._supervisor, self._drain
        older = [each for each in supervisor.generations if each is not generation and each.state == READY]
        for each in older:
            serving = supervisor.serving
            supervisor.drain(each, sorted(serving.listener_names if serving else ()), drain.drain_time,
                             drain.immediate, time.monotonic() + drain.parent_shutdown_time)
            log.info("generation %d draining", each.number)
        supervisor.wait_stopped_accepting(older)
        self._sockets.close_unused(supervisor.generations)
        supervisor.enforce_max_draining()
        self._discovery.retain()


def status_summary(last_reload) -> str:
    """The last reload in a few words, for systemd's STATUS=: "ok (clusters ~1)", "rolled back
    (listener 'web': GET /healthz answered 503, expected 200)"."""
    result = last_reload.get("result", "none").replace("_", " ")
    if "reason" in last_reload:
        return f"{result} ({last_reload['reason']})"
    report = last_reload.get("report")
    return f"{result} ({report['summary']})" if report else result


def hot_restart_report(predecessor, config):
    """The report of a hot restart: what this epoch serves (``config``, a ServingConfig) against
    what the previous epoch served, which it tells over the hot-restart channel (an epoch that
    predates the request cannot: then the report says so)."""
    try:
        reply, _ = predecessor.request({"t": RESTART_CONFIG_INVENTORY})
    except HotRestartError as error:
        reply = {"ok": False, "error": str(error)}
    record = {"result": "hot_restart", "trigger": "hot restart", "from_pid": predecessor.pid}
    if not reply.get("ok") or not isinstance(reply.get("inventory"), dict):
        record["reason"] = f"the previous epoch did not say what it served: {reply.get('error')}"
        log.warning("hot restart: no reload report: %s", record["reason"])
        return record
    try:
        report = diff_inventories(reply["inventory"], config.inventory)
    except Exception:  # an epoch's odd answer must never cost the hot restart
        log.exception("hot restart: no reload report")
        return {**record, "reason": "the previous epoch's config could not be compared"}
    log.info("hot restart: %s", report.text().rstrip("\n").replace("\n", "\n    "))
    return {**record, "report": report.to_json()}
