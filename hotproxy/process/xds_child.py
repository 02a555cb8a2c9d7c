"""The xDS process, ``hotproxy: xds``: the one process that speaks to control planes.

gRPC's Python library runs threads of its own that gevent's patched hub does not mix with, so
the arbiter runs the xDS client (xds/client.py) in this plain child, supervised and respawned
like the flusher; workers never speak gRPC. The process subscribes as the bootstrap says (LDS and
CDS, then the RDS and EDS resources the listeners and clusters name), checks each update in full
before accepting it (xds/catalog.py, plus the compiling checks a reload makes), ACKs or NACKs
it, and sends the arbiter a ``xds_snapshot`` of what to serve. The arbiter answers nothing; it
sends, first, the last snapshot it holds (``xds_seed``), so that a respawned process starts
from the config being served rather than from nothing while the control plane is away.

Initial fetch timeouts are kept here, per resource: a listener's routes or a cluster's
assignment that has not come within its source's ``initial_fetch_timeout`` stops holding it
back (Envoy serves it empty), and the first snapshot is marked ``initial`` once nothing holds
the first generation back.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

from ..config import parse_text
from ..config.trees import text_tree
from ..config.xds import CLUSTERS, ENDPOINTS, LISTENERS, ROUTES, RUNTIME, SECRETS
from ..xds.catalog import Catalog
from ..xds.client import XdsClient
from ..xds.type_urls import BY_SHORT_NAME, resource_type
from . import messages
from .channel import Channel, ChannelClosed
from .logs import LogOptions, setup_logging
from .xds_sources import client_source
from .validate import check_route_table, check_tree

log = logging.getLogger("hotproxy.xds")

TICK_S = 0.25


class XdsProcess:
    def __init__(self, tree, bootstrap, channel, clock=time.monotonic):
        self.bootstrap = bootstrap
        self.channel = channel
        self.catalog = Catalog(tree, bootstrap, check_resource=check_route_table,
                               check_bootstrap=check_tree)
        self.client = XdsClient(tree.get("node") or {}, self._on_update, self._on_event)
        self._clock = clock
        self._lock = threading.RLock()
        #: (kind, name or None) → when its initial fetch times out; None: the wildcard LDS/CDS
        self._deadlines = {}
        self._subscribed = {}           # (kind, client source) → names, or None for all
        self._held = {}                 # (kind, client source) → {name: body} it sent
        self._initial_sent = False
        self._stopped = threading.Event()

    def run(self):
        self._seed()
        with self._lock:
            self._subscribe_bootstrap()
            self._follow_dependencies()
        self.client.start()
        threading.Thread(target=self._tick, name="xds-timeouts", daemon=True).start()
        self._send_snapshot()   # with nothing to wait for, the first generation starts now
        try:
            while True:
                message, fds = self.channel.recv()
                for fd in fds:
                    os.close(fd)
                if message.get("t") == messages.STOP:
                    break
        except (ChannelClosed, OSError):
            pass    # the arbiter is gone
        finally:
            self._stopped.set()
            self.client.stop(1.0)

    def _seed(self):
        """The arbiter's first message: what it serves now (empty the first time)."""
        message, fds = self.channel.recv()
        for fd in fds:
            os.close(fd)
        seed = message.get("snapshot") or {}
        with self._lock:
            for kind in (SECRETS, CLUSTERS, ENDPOINTS, LISTENERS, ROUTES, RUNTIME):
                bodies = seed.get(kind) or {}
                if not bodies:
                    continue
                checked, reason = self.catalog.check(kind, bodies)
                if reason is None:
                    versions = {name: meta[0] for name, meta in seed["resources"][kind].items()}
                    self.catalog.apply(kind, seed["versions"].get(kind, ""), checked, versions)
                else:
                    log.error("the served %s no longer pass the checks: %s", kind, reason)

    # the client's callbacks, on its threads

    def _on_update(self, update):
        kind = resource_type(update.type_url).short_name
        if kind not in self.catalog.entries:
            return f"{kind} resources are not supported by hotproxy yet"
        with self._lock:
            sent = {name: entry.body for name, entry in update.resources.items()}
            bodies = {name: body for (held_kind, source), held in self._held.items()
                      if held_kind == kind and source != update.source for name, body in held.items()}
            bodies.update(sent)     # a type may come from several sources: all of them count
            checked, reason = self.catalog.check(kind, bodies)
            if reason is not None:
                log.warning("%s version %r rejected: %s", kind, update.version_info, reason)
                # a refused first answer ends the initial fetch, as Envoy's does: what it named
                # is served as if it had timed out (empty), the rest starts
                held = self.catalog.entries[kind]
                self.catalog.fetch_timed_out(kind, [name for name in sent if name not in held])
                for name in (None, *sent):
                    self._deadlines.pop((kind, name), None)
                self._subscribe_bootstrap()
                self._send_snapshot()
                return reason
            self._held[kind, update.source] = sent
            versions = {name: entry.version for name, entry in update.resources.items()}
            self.catalog.apply(kind, update.version_info, checked, versions)
            for name in (None, *checked):   # what came needs no initial fetch clock any more
                self._deadlines.pop((kind, name), None)
            self._subscribe_bootstrap()
            self._follow_dependencies()
            self._forget_unwanted()
            self._send_snapshot()
        log.info("%s version %r accepted (%d resources)", kind, update.version_info, len(sent))
        return None

    def _on_event(self, event):
        if "type_urls" in event and "type_url" not in event:    # a stream's: once per type
            for type_url in event["type_urls"]:
                self._on_event({**event, "type_url": type_url, "type_urls": None})
            return
        kind = event.get("type_url")
        event = {**event, "type": resource_type(kind).short_name if kind else None}
        event.pop("type_url", None)
        if event.get("event") == "unknown_fields":
            with self._lock:
                self.catalog.unknown_fields += len(event.get("paths") or ())
        self._send({"t": messages.XDS_EVENT, **{k: v for k, v in event.items()
                                                 if isinstance(v, (str, int, float, bool, type(None)))}})

    # subscriptions

    def _subscribe(self, kind, wanted):
        """Subscribe to ``wanted`` resources of ``kind``: name → its ConfigSource (config/xds.py),
        or {None: source} for all of them (LDS, CDS). One subscription per source; a new
        name's initial fetch clock starts now, at its source's initial_fetch_timeout."""
        now, held, groups = self._clock(), self.catalog.entries[kind], {}
        for name, config_source in wanted.items():
            timeout = config_source.initial_fetch_timeout
            if (kind, name) not in self._deadlines and timeout > 0 and name not in held \
                    and not (name is None and kind in self.catalog.fetched):
                self._deadlines[kind, name] = now + timeout
            groups.setdefault(client_source(config_source, self.bootstrap), set()).add(name)
        for source, names in groups.items():
            names = None if names == {None} else frozenset(names)
            if self._subscribed.get((kind, source), ()) != names:
                self._subscribed[kind, source] = names
                self.client.subscribe(BY_SHORT_NAME[kind].type_url, source, names)

    def _subscribe_bootstrap(self):
        """CDS first, LDS once CDS's initial fetch is over (answered, refused or timed out), as
        Envoy orders them: a listener that routes to a cluster checked before the cluster came
        would be refused, and a file source sends it no second time."""
        for kind, source in self._bootstrap_sources():
            waits = (kind == LISTENERS and CLUSTERS not in self.catalog.fetched
                     and any(other == CLUSTERS for other, _ in self._bootstrap_sources()))
            if not waits:
                self._subscribe(kind, {None: source})

    def _follow_dependencies(self):
        """Subscribe to the routes of the listeners, the assignments of the clusters, the
        secrets of both and the runtime layers' RTDS resources."""
        for kind, wanted in ((ROUTES, self.catalog.route_sources()),
                             (ENDPOINTS, self.catalog.service_sources()),
                             (SECRETS, self.catalog.secret_sources()),
                             (RUNTIME, self.catalog.runtime_sources())):
            if wanted:
                self._subscribe(kind, wanted)

    def _forget_unwanted(self):
        """What no listener or cluster names any more leaves the catalog, and the sets held
        per source, so that a later update of that source does not bring it back."""
        self.catalog.forget_unwanted()
        for (kind, source), held in self._held.items():
            if kind in (ROUTES, ENDPOINTS, SECRETS):
                self._held[kind, source] = {name: body for name, body in held.items()
                                            if name in self.catalog.entries[kind]}

    def _tick(self):
        while not self._stopped.wait(TICK_S):
            now = self._clock()
            with self._lock:
                due = [key for key, deadline in self._deadlines.items() if deadline <= now]
                for kind, name in due:
                    del self._deadlines[kind, name]
                    log.warning("initial fetch of %s%s timed out", kind, f" '{name}'" if name else "")
                    self.catalog.fetch_timed_out(kind, [name] if name else None)
                if due:
                    self._subscribe_bootstrap()
                    self._send_snapshot()

    # to the arbiter

    def _send_snapshot(self):
        with self._lock:
            subscribed = {kind for kind, _ in self._bootstrap_sources()}
            initial = self._initial_sent or self.catalog.initial_done(subscribed)
            self._initial_sent = initial
            self._send({"t": messages.XDS_SNAPSHOT, **self.catalog.snapshot(initial)})

    def _bootstrap_sources(self):
        """(kind, ConfigSource) of LDS and CDS, when the bootstrap has dynamic_resources."""
        dynamic = self.bootstrap.dynamic_resources
        return dynamic.sources if dynamic is not None else []

    def _send(self, message):
        try:
            self.channel.send(message)
        except OSError:
            self._stopped.set()     # the arbiter is gone: run() ends on its closed channel


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m hotproxy.process.xds_child")
    parser.add_argument("--config-fd", type=int, required=True, help="the bootstrap (memfd)")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--arbiter-pid", type=int, required=True)
    LogOptions.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    from .procutil import die_with_parent, ignore_operator_signals, set_title
    die_with_parent(args.arbiter_pid)
    ignore_operator_signals()
    set_title("hotproxy: xds")
    setup_logging(LogOptions.from_args(args))
    text = os.pread(args.config_fd, os.fstat(args.config_fd).st_size, 0).decode()
    os.close(args.config_fd)
    tree, _problems = text_tree(text)
    XdsProcess(tree, parse_text(text), Channel.from_fd(args.channel_fd, blocking=True)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
