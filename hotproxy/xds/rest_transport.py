"""REST-JSON polling of one resource type, as Envoy's HttpSubscriptionImpl and RestApiFetcher:
``POST /v3/discovery:<type>`` with the DiscoveryRequest as JSON (the version last accepted and
the names; no nonce, no error_detail: REST has no NACK), the first at once, then one
``refresh_delay`` plus up to as much again of jitter after each completes. 200 carries a
DiscoveryResponse; 304 means no change; anything else, or no answer within
``request_timeout``, is a connection failure (the next poll comes as usual)."""
from __future__ import annotations

import http.client
import json
import random

from google.protobuf import json_format

from .resources import parse_json_response
from .source_thread import SourceThread


class RestPoller(SourceThread):
    def __init__(self, source, sub, node, callbacks, rng=random.random):
        super().__init__()
        self.source = source
        self._sub = sub
        self._node = node
        self._callbacks = callbacks
        self._rng = rng

    def _run(self):
        refresh = self.source.refresh_delay_s
        while not self._stopped.is_set():
            self._poll()
            self._stopped.wait(refresh + self._rng() * refresh)

    def _poll(self):
        """One request and what its answer makes of the subscription."""
        request = self._sub.poll_request()
        request.node.CopyFrom(self._node)
        body = json_format.MessageToJson(request, indent=None).encode()
        path = self._sub.rtype.rest_path
        connection = http.client.HTTPConnection(self.source.host, self.source.port,
                                                timeout=self.source.request_timeout_s)
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            reply = connection.getresponse()
            status, data = reply.status, reply.read()
        except (OSError, http.client.HTTPException) as error:
            self._failed(f"{type(error).__name__}: {error}")
            return
        finally:
            connection.close()
        if status == 304:
            return
        if status != 200:
            self._failed(f"HTTP status {status}")
            return
        try:
            parsed = parse_json_response(json.loads(data))
        except ValueError as error:        # json's JSONDecodeError is one
            self._sub.reject_unreadable(f"{path}: {error}")
            return
        self._sub.handle(*parsed)

    def _failed(self, error: str):
        self._callbacks.event(event="connection_failure", source=self.source.describe(),
                              type_urls=[self._sub.type_url], error=error)
