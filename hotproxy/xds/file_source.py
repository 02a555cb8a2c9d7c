"""A resource type read from a file holding a DiscoveryResponse, as Envoy's filesystem
subscription: read at start, and again whenever the file is replaced (Envoy watches for a move
onto the path, the only atomic way to replace a file) or, with ``watched_directory``, whenever
something is moved into that directory (a Kubernetes ConfigMap swaps a symlink there).

Polling ``os.stat`` every 100 ms stands in for inotify: device, inode, mtime and size of the path
(and of the watched directory) -- a move changes the inode, a move into a directory its mtime.
Unlike Envoy this also sees a file rewritten in place; one read half-written fails to parse and
is rejected like any bad file, and the write's end changes the signature again.

Nothing is ACKed: an accepted or rejected read is only reported (the "ack" and "nack" events);
a rejected one leaves the previous set current.
"""
from __future__ import annotations

import json
import os
import re

from google.protobuf import text_format

from . import convert
from .resources import parse_json_response
from .source_thread import SourceThread

POLL_INTERVAL = 0.1
_TEXT_ANY = re.compile(r"\[\s*[\w.-]+/([\w.]+)\s*\]")


def read_discovery_file(path: str):
    """The DiscoveryResponse in ``path`` as Subscription.handle takes it: (message, unknown
    fields by resource index, unknown fields of the response itself). Binary .pb, text
    .pb_text, .yaml/.yml; JSON otherwise. Raises OSError or ValueError."""
    from envoy.service.discovery.v3 import discovery_pb2
    if path.endswith(".pb"):
        with open(path, "rb") as file:
            data = file.read()
        try:
            return discovery_pb2.DiscoveryResponse.FromString(data), None, ()
        except Exception as error:     # protobuf's DecodeError
            raise ValueError(f"not a binary DiscoveryResponse: {error}") from None
    with open(path, encoding="utf-8") as file:
        text = file.read()
    if path.endswith(".pb_text"):
        for full_name in _TEXT_ANY.findall(text):     # expanded Anys need their types loaded
            convert.message_class(full_name)
        try:
            return text_format.Parse(text, discovery_pb2.DiscoveryResponse()), None, ()
        except text_format.ParseError as error:
            raise ValueError(str(error)) from None
    if path.endswith((".yaml", ".yml")):
        from ..config.trees import yaml_tree
        from ..errors import ConfigError
        try:
            value, _duplicates = yaml_tree(text)
        except ConfigError as error:
            raise ValueError(str(error)) from None
    else:
        value = json.loads(text)
    return parse_json_response(value)


def _stat(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


class FileWatcher(SourceThread):
    def __init__(self, source, sub, interval: float = POLL_INTERVAL):
        super().__init__()
        self.source = source
        self._sub = sub
        self._interval = interval
        self._watched = [p for p in (source.path, source.watched_directory) if p]

    def _run(self):
        seen = self._signature()        # before the read: a replace during it is seen next
        self._load()
        while not self._stopped.wait(self._interval):
            now = self._signature()
            if now != seen:
                seen = now
                self._load()

    def _signature(self):
        return tuple(_stat(path) for path in self._watched)

    def _load(self):
        try:
            parsed = read_discovery_file(self.source.path)
        except (OSError, ValueError) as error:
            self._sub.reject_unreadable(f"{self.source.path}: {error}")
            return
        self._sub.handle(*parsed)
