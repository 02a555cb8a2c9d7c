"""One resource type's subscription: its protocol state (SotW or delta), the caller's
callbacks, and the initial fetch. The transports feed it responses; it asks the caller, applies
or keeps, and puts the ACK or NACK in the outbox of the stream it is on, if any.

Locking: ``lock`` guards the protocol state and the outbox, so that a change of names from the
caller's thread and an ACK from the transport's thread are queued in the order they were made.
The caller's on_update runs outside it, so that it may call XdsClient.subscribe (say, for the
endpoints of the clusters it was just given); one transport thread delivers a type's responses,
so on_update is never called twice at once for one type.
"""
from __future__ import annotations

import dataclasses

import logging
import threading

from .delta import DeltaState
from .sotw import SotwState
from .type_urls import ResourceType

log = logging.getLogger(__name__)


class Callbacks:
    """The caller's on_update and on_event, so that neither can kill a transport's thread: an
    exception from on_update NACKs the update with its text (as an exception from an Envoy
    subscription callback does); one from on_event is logged."""

    def __init__(self, on_update, on_event=None):
        self._on_update = on_update
        self._on_event = on_event

    def update(self, update) -> str | None:
        try:
            result = self._on_update(update)
        except Exception as error:
            log.exception("xDS on_update raised for %s", update.type_url)
            return str(error) or type(error).__name__
        return None if result is None else str(result)

    def event(self, **event):
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("xDS on_event raised for %r", event)


class Subscription:
    def __init__(self, rtype: ResourceType, source, names, callbacks: Callbacks):
        self.rtype = rtype
        self.type_url = rtype.type_url
        self.source = source
        self.lock = threading.Lock()
        self.state = (DeltaState if getattr(source, "delta", False) else SotwState)(rtype, names)
        self.outbox = None      # the live gRPC stream's request queue, set by the transport
        self.initial_done = threading.Event()
        self._callbacks = callbacks
        self._timer = None

    # -- the caller's side

    def arm_initial_fetch_timeout(self):
        """Starts the initial fetch's clock (when the subscription starts, as Envoy's)."""
        timeout = self.source.initial_fetch_timeout_s
        with self.lock:
            if timeout > 0 and self._timer is None and not self.initial_done.is_set():
                self._timer = threading.Timer(timeout, self._finish_initial, ("timeout",))
                self._timer.daemon = True
                self._timer.start()

    def set_names(self, names: frozenset):
        with self.lock:
            request = self.state.set_names(names)
            if request is not None and self.outbox is not None:
                self.outbox.put(request)

    def cancel(self):
        with self.lock:
            if self._timer is not None:
                self._timer.cancel()

    # -- the transports' side

    def attach(self, outbox):
        """The stream ``outbox`` feeds is open: queues the subscription's first request."""
        with self.lock:
            self.outbox = outbox
            outbox.put(self.state.fresh_request())

    def detach(self):
        with self.lock:
            self.outbox = None

    def poll_request(self):
        with self.lock:
            return self.state.poll_request()

    def handle(self, response, json_unknown=None, envelope_unknown=()):
        """Judges one response: the protocol's checks, then the caller's; applies it or keeps
        what is held, and queues the ACK or NACK on the stream. A response read from JSON
        brings the unknown fields of its resources by index, and of itself."""
        if envelope_unknown:
            self._callbacks.event(event="unknown_fields", type_url=self.type_url, name=None,
                                  paths=list(envelope_unknown))
        with self.lock:
            staged = self.state.receive(response, json_unknown)
        error = staged.error
        if error is None:
            for name, paths in staged.unknown_fields.items():
                self._callbacks.event(event="unknown_fields", type_url=self.type_url,
                                      name=name, paths=list(paths))
            error = self._callbacks.update(dataclasses.replace(staged.update, source=self.source))
        with self.lock:
            if error is None:
                request = self.state.accept(staged)
            else:
                request = self.state.reject(staged, error)
            if self.outbox is not None:
                self.outbox.put(request)
        if error is None:
            self._callbacks.event(event="ack", type_url=self.type_url,
                                  version_info=staged.update.version_info,
                                  source=self.source.describe())
            self._finish_initial("update")
        else:
            self._report_rejected(error)

    def reject_unreadable(self, error: str):
        """A REST body or file that is no DiscoveryResponse: rejected, nothing to NACK."""
        self._report_rejected(error)

    def _report_rejected(self, error: str):
        self._callbacks.event(event="nack", type_url=self.type_url, error=error,
                              source=self.source.describe())
        self._finish_initial("rejected")

    def _finish_initial(self, reason: str):
        """The initial fetch is over: a response came (accepted or rejected, as Envoy's
        subscription callbacks end it), or the timeout fired first."""
        with self.lock:
            if self.initial_done.is_set():
                return
            self.initial_done.set()
            if self._timer is not None:
                self._timer.cancel()
        self._callbacks.event(event="initial_fetch_done", type_url=self.type_url, reason=reason)
