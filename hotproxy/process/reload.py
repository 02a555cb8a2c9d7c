"""The reload state machine: a new generation under the same arbiter (SIGHUP, TTIN/TTOU).

Two-phase, so that everything that can fail happens before anything changes:

    VALIDATE  the config source gives (text, bootstrap)         ConfigError: invalid
    BIND      listening sockets of new addresses, the admin's   OSError
    START     discovery prepared, generation G+1's workers started
    READY     every worker of G+1 reports ready (READY_TIMEOUT_S), or G+1 is killed
    DRAIN     G+1 serves; the older READY generations drain, unused sockets close

A failure at any step leaves the serving generation exactly as it was: it is counted
(server.reload_failed), logged, and reported in ``last_reload`` (/server_info) and to systemd.
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

from ..errors import ConfigError
from .generation import READY

log = logging.getLogger("hotproxy.arbiter")

IDLE, VALIDATE, BIND, START, WAIT_READY, DRAIN = "idle", "validate", "bind", "start", "ready", "drain"
READY_TIMEOUT_S = 30.0
COUNTERS = ("server.reload_total", "server.reload_failed")


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

    def update(self, bootstrap, text):
        self.bootstrap = bootstrap
        self.text = text
        self.loaded_at = time.time()


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

    def request(self, source=None):
        """Reload from ``source`` (the config file when None), now or after the running one."""
        if self._queue.request(source or self.source):
            gevent.spawn(self._run, self._queue.running)

    def _run(self, source):
        try:
            while source is not None:
                self._reload_once(source)
                source = self._queue.finished()
                if self.steps.stopping:
                    break
        finally:
            self._queue.clear()
            self.phase = IDLE

    def _reload_once(self, source):
        self.notifier.reloading("reloading")
        started = time.monotonic()
        try:
            self.phase = VALIDATE
            text, bootstrap = source()
            self.phase = BIND
            sockets = self.steps.bind(bootstrap)
        except (ConfigError, OSError) as error:
            return self._failed(f"invalid configuration: {error}")
        self.phase = START
        try:
            generation = self.steps.start(bootstrap, text, sockets)
        except OSError as error:
            return self._failed(f"workers could not be started: {error}")
        self.phase = WAIT_READY
        if not self.steps.wait_ready(generation) or self.steps.stopping:
            self.steps.abandon(generation)
            return self._failed(f"generation {generation.number} did not become ready")
        self.phase = DRAIN
        generation.state = READY
        self.config.update(bootstrap, text)
        self.steps.drain_older(generation)
        self.stats.add("server.reload_total")
        self.config.last_reload = {"result": "ok", "generation": generation.number,
                                   "seconds": round(time.monotonic() - started, 3)}
        log.info("reload %d: generation %d serving (%.3f s)", self.stats.counters["server.reload_total"],
                 generation.number, time.monotonic() - started)
        self.on_done(generation)
        return None

    def _failed(self, reason):
        self.stats.add("server.reload_failed")
        self.config.last_reload = {"result": "failed", "reason": reason}
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

    def abandon(self, generation):
        self._supervisor.stop_generation(generation, kill=True)

    def drain_older(self, generation):
        """``generation`` serves: the older READY ones drain, moving their idle connections to
        it; sockets and discovery no generation uses any more go."""
        supervisor, drain = self._supervisor, self._drain
        for older in supervisor.generations:
            if older is not generation and older.state == READY:
                serving = supervisor.serving
                supervisor.drain(older, sorted(serving.listener_names if serving else ()), drain.drain_time,
                                 drain.immediate, time.monotonic() + drain.parent_shutdown_time)
                log.info("generation %d draining", older.number)
        self._sockets.close_unused(supervisor.generations)
        supervisor.enforce_max_draining()
        self._discovery.retain()
