"""XdsClient: the subscriptions of one proxy to its control planes, behind a narrow interface.

It runs on threads with blocking IO (grpcio cannot share a process with gevent's monkey
patching), so it lives in a process of its own; nothing here imports gevent.

Threads: each gRPC stream (one per ADS address, one per non-ADS gRPC type), each REST type and
each file type has a thread, on which that source's ``on_update`` calls run; the calls for one
type never overlap, and on one ADS stream they come in the server's order. ``on_update`` may call
``subscribe`` (say, for the endpoints of the clusters it was just handed). ``on_event`` is
called from those threads and from the initial-fetch timers.

Events, each a dict with "event" and:
- ``connected``, ``disconnected`` (+ ``error``): a gRPC stream's state, for the
  ``control_plane.connected_state`` gauge; "source", "type_urls".
- ``connection_failure``: a gRPC stream ended or could not open ("retry_in_s": the back-off),
  or a REST poll failed; "source", "type_urls", "error" (Envoy's update_failure).
- ``ack``: an update accepted; "type_url", "version_info", "source" (update_success).
- ``nack``: an update rejected (by on_update or as malformed), or a file or REST body that is
  no DiscoveryResponse; "type_url", "error", "source" (update_rejected). Files and REST send
  nothing back: the event is all there is.
- ``initial_fetch_done``: "type_url", "reason": "update", "rejected" or "timeout" (the
  initial_fetch_timeout fired first: Envoy's init_fetch_timeout, and it proceeds without).
- ``unknown_fields``: "type_url", "name" (None: outside any resource), "paths".
- ``unexpected_type``: a gRPC response of a type not subscribed on that stream (ignored);
  "type_url", "source", "type_urls".
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace

from . import convert
from .file_source import FileWatcher
from .grpc_transport import GrpcStream
from .rest_transport import RestPoller
from .sources import FileSource, GrpcSource, RestSource
from .subscription import Callbacks, Subscription
from .type_urls import ads_method, resource_type


class XdsClient:
    """``node`` is the bootstrap's node as a dict (id, cluster, metadata, locality, ...).
    ``on_update(update: Update) -> str | None``: None accepts (ACK), a string rejects (NACK,
    with it as the error); a rejected update is not applied. ``on_event(event: dict)``: see the
    module's docstring."""

    def __init__(self, node: dict, on_update, on_event=None):
        self._node = convert.node_message(node)
        self._callbacks = Callbacks(on_update, on_event)
        self._lock = threading.Lock()
        self._subs = {}             # (type URL, source) → Subscription
        self._transports = {}       # key → GrpcStream, RestPoller or FileWatcher
        self._started = False
        self._stopped = False

    def subscribe(self, type_url: str, source, resource_names=None):
        """Subscribes to ``type_url`` from ``source``: ``resource_names`` None for all (a
        wildcard: LDS, CDS), else those names. Called again for a type and source, it changes
        the names (a wildcard stays one); another source of the type is another subscription,
        whose updates carry it (Update.source). Before start(), nothing is sent yet."""
        rtype = resource_type(type_url)
        names = None if resource_names is None else frozenset(resource_names)
        with self._lock:
            if self._stopped:
                raise RuntimeError("the xDS client is stopped")
            sub = self._subs.get((type_url, source))
            if sub is not None:
                if names is None:
                    if sub.state.names is not None:
                        raise ValueError(f"{rtype.short_name} is subscribed by name")
                    return
                sub.set_names(names)
                return
            sub = Subscription(rtype, source, names, self._callbacks)
            transport = self._transport_for(sub)
            self._subs[type_url, source] = sub
            if self._started:
                sub.arm_initial_fetch_timeout()
                transport.start()

    def start(self):
        """Opens the streams, starts the polls and file watches, and the initial fetch clocks."""
        with self._lock:
            if self._started or self._stopped:
                return
            self._started = True
            for sub in self._subs.values():
                sub.arm_initial_fetch_timeout()
            for transport in self._transports.values():
                transport.start()

    def stop(self, timeout: float = 5.0):
        """Closes everything; waits up to ``timeout`` for each thread. Final."""
        with self._lock:
            self._stopped = True
            transports = list(self._transports.values())
            subs = list(self._subs.values())
        for sub in subs:
            sub.cancel()
        for transport in transports:
            transport.stop(timeout)

    def wait_initial(self, timeout: float | None = None) -> bool:
        """Waits until every type subscribed so far has had its first response (accepted or
        rejected) or its initial_fetch_timeout; False if ``timeout`` (seconds) ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            subs = list(self._subs.values())
        for sub in subs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not sub.initial_done.wait(left):
                return False
        return True

    def _transport_for(self, sub: Subscription):
        """The transport that carries ``sub``, made if need be (under self._lock)."""
        source = sub.source
        if isinstance(source, GrpcSource):
            if source.ads:      # the types of one ADS address share its stream
                key = ("ads", replace(source, initial_fetch_timeout_s=0))
                method = ads_method(source.delta)
            else:
                key, method = ("grpc", sub.type_url, source), sub.rtype.grpc_method(source.delta)
            transport = self._transports.get(key)
            if transport is None:
                transport = self._transports[key] = GrpcStream(source, method, self._node,
                                                               self._callbacks)
            transport.add(sub)
            return transport
        if isinstance(source, RestSource):
            if sub.rtype.sotw_method is None:
                raise ValueError(f"{sub.rtype.short_name} has no REST API")
            transport = RestPoller(source, sub, self._node, self._callbacks)
        elif isinstance(source, FileSource):
            transport = FileWatcher(source, sub)
        else:
            raise TypeError(f"not an xDS source: {source!r}")
        self._transports[("single", sub.type_url, source)] = transport
        return transport
