"""The xDS protocol as the test suite's management server (xds_server.py) speaks it, without
sockets: per stream, what the client subscribed to and what it was last sent, which request is
an ACK or a NACK, and which responses to send, for a request or for a change of the store.

Sans-IO so that the rules can be read in one place: the gRPC and REST plumbing only hands
requests in and sends the responses out, under the server's one lock. The rules follow Envoy's
go-control-plane, simplified where the tests do not need more:

- State of the world: a response carries the type's version, a fresh nonce and, for LDS and
  CDS (wildcard), every resource of the type, else those of the requested names that exist.
  A request whose response_nonce is the last one sent and whose version_info is the version sent
  is an ACK; with error_detail it is a NACK; either way the same version is not sent again. A
  request with an older nonce is stale: recorded, not answered (the client has a newer response
  on its way). A stream's first request for a type, a change of its resource_names, and a
  request repeating a nonce already ACKed or NACKed (a client that subscribes again to the same
  names: Envoy warming an updated EDS cluster) are answered; a set() of the type answers every
  stream subscribed to it.
- Delta: per stream and type, the subscribed names (or wildcard: LDS/CDS whose first request
  subscribes to nothing, or any "*"), and the version the client has of each resource (its
  initial_resource_versions, then what it was sent). A response carries only the resources
  added or changed since and the names removed; an ACK or NACK names a response by its nonce.
  A name subscribed to again is sent again, and so are the endpoints of an EDS cluster sent
  (see warming_endpoints).
- A type never set has no version and gets no answer (go-control-plane's "no snapshot"): the
  stream waits for the first set(), which may be of no resources.
"""
from __future__ import annotations

import itertools
import os
import time

from envoy.config.cluster.v3 import cluster_pb2
from envoy.service.discovery.v3 import discovery_pb2

from xds_resources import BY_SHORT, BY_URL

CDS, EDS = BY_SHORT["clusters"].type_url, BY_SHORT["endpoints"].type_url

_STREAM_IDS = itertools.count(1)


class Nonces:
    """Nonces unique across streams and across restarts of the server (a restarted server must
    not take a client's nonce from the previous one for an answer to its own)."""

    def __init__(self):
        self.boot = os.urandom(3).hex()
        self.count = itertools.count(1)

    def __call__(self):
        return f"{self.boot}-{next(self.count)}"


def _node(request, stream):
    if request.HasField("node"):
        stream.node = {"id": request.node.id, "cluster": request.node.cluster}
    return stream.node


def _error(request):
    if not request.HasField("error_detail"):
        return None
    return {"code": request.error_detail.code, "message": request.error_detail.message}


def _record(kind, service, stream_id, node, request, **fields):
    rtype = BY_URL.get(request.type_url)
    record = {"kind": kind, "service": service, "stream": stream_id, "time": time.time(),
              "type_url": request.type_url, "type": rtype.short if rtype else None,
              "response_nonce": request.response_nonce, "error_detail": _error(request),
              "node": node}
    record.update(fields)
    return record


def _wildcard_of(type_url, names):
    """SotW: LDS and CDS with no names, or any request naming "*", asks for every resource."""
    rtype = BY_URL.get(type_url)
    return "*" in names or (not names and rtype is not None and rtype.wildcard)


class _SotwType:
    def __init__(self):
        self.wildcard, self.names = False, frozenset()
        self.nonce = None           # of the last response sent; None before the first
        self.version = None         # the version that response carried
        self.answered_nonce = None  # the last nonce the client ACKed or NACKed
        self.sent_subscription = None
        self.versions = {}          # nonce -> version, to say which version a request answers


class SotwStream:
    """A StreamAggregatedResources or Stream<Type> call. ``only_type``: the per-type services
    serve one type, whatever (or nothing) a request's type_url says."""

    kind = "sotw"

    def __init__(self, store, nonces, service, only_type=None):
        self.id = next(_STREAM_IDS)
        self.store, self.nonces, self.service, self.only_type = store, nonces, service, only_type
        self.node = None
        self.types = {}             # type URL -> _SotwType

    def subscriptions(self):
        return {url: "*" if sub.wildcard else sorted(sub.names) for url, sub in self.types.items()}

    def on_request(self, request):
        """(record, responses) for one DiscoveryRequest."""
        if self.only_type and not request.type_url:
            request.type_url = self.only_type
        node = _node(request, self)
        url = request.type_url
        sub = self.types.setdefault(url, _SotwType())
        nonce = request.response_nonce
        latest = bool(nonce) and nonce == sub.nonce
        # A second request naming a response already ACKed or NACKed is not another answer to
        # it but a new request for the same names: Envoy sends one when a cluster it updated
        # starts warming and needs its endpoints again (and holds CDS's ACK until it has them).
        repeat = latest and nonce == sub.answered_nonce
        if latest and not repeat and request.HasField("error_detail"):
            flag = "nack"
        elif latest and not repeat and request.version_info == sub.version:
            flag = "ack"
        else:
            flag = "request"
        if flag != "request":
            sub.answered_nonce = nonce
        stale = bool(nonce) and not latest
        record = _record(self.kind, self.service, self.id, node, request,
                         version_info=request.version_info,
                         resource_names=list(request.resource_names), flag=flag, stale=stale,
                         response_version=sub.versions.get(nonce))
        if stale or (self.only_type and url != self.only_type):
            return record, []
        names = list(request.resource_names)
        sub.wildcard, sub.names = _wildcard_of(url, names), frozenset(names) - {"*"}
        if sub.nonce is None or repeat or (sub.wildcard, sub.names) != sub.sent_subscription:
            return record, self._respond(url, sub)
        return record, []

    def on_set(self, type_url):
        """Responses after a set() of ``type_url``: the new version to a subscribed stream."""
        sub = self.types.get(type_url)
        return [] if sub is None else self._respond(type_url, sub)

    def _respond(self, url, sub):
        version = self.store.version(url)
        if version is None or not (sub.wildcard or sub.names):
            return []
        sub.nonce, sub.version = self.nonces(), version
        sub.sent_subscription = (sub.wildcard, sub.names)
        sub.versions[sub.nonce] = version
        return [discovery_pb2.DiscoveryResponse(
            version_info=version, type_url=url, nonce=sub.nonce,
            resources=self.store.select(url, sub.wildcard, sub.names))]


class _DeltaType:
    def __init__(self):
        self.started = False
        self.answered = False
        self.wildcard, self.names = False, set()
        self.known = {}             # name -> the version the client has
        self.versions = {}          # nonce -> system version of that response


class DeltaStream:
    """A DeltaAggregatedResources or Delta<Type> call."""

    kind = "delta"

    def __init__(self, store, nonces, service, only_type=None):
        self.id = next(_STREAM_IDS)
        self.store, self.nonces, self.service, self.only_type = store, nonces, service, only_type
        self.node = None
        self.types = {}             # type URL -> _DeltaType

    def subscriptions(self):
        return {url: (["*"] if sub.wildcard else []) + sorted(sub.names)
                for url, sub in self.types.items()}

    def on_request(self, request):
        """(record, responses) for one DeltaDiscoveryRequest. Subscription changes are applied
        whatever its nonce: unlike a SotW request, a delta request is not a whole state that a
        newer one replaces."""
        if self.only_type and not request.type_url:
            request.type_url = self.only_type
        node = _node(request, self)
        url = request.type_url
        sub = self.types.setdefault(url, _DeltaType())
        nonce = request.response_nonce
        answered = bool(nonce) and nonce in sub.versions
        flag = ("nack" if request.HasField("error_detail") else "ack") if answered else "request"
        record = _record(self.kind, self.service, self.id, node, request,
                         version_info=None, subscribe=list(request.resource_names_subscribe),
                         unsubscribe=list(request.resource_names_unsubscribe),
                         initial_resource_versions=dict(request.initial_resource_versions),
                         flag=flag, stale=False, response_version=sub.versions.get(nonce))
        if self.only_type and url != self.only_type:
            return record, []
        first = not sub.started
        if first:
            sub.started = True
            sub.known = dict(request.initial_resource_versions)
            rtype = BY_URL.get(url)
            sub.wildcard = not request.resource_names_subscribe and rtype is not None and rtype.wildcard
        for name in request.resource_names_subscribe:
            if name == "*":
                sub.wildcard = True
            else:
                sub.names.add(name)
                if not first:
                    # The protocol: a name subscribed again is sent again, even if the server
                    # thinks the client has it (it may have forgotten it).
                    sub.known.pop(name, None)
        for name in request.resource_names_unsubscribe:
            if name == "*":
                sub.wildcard = False
            else:
                sub.names.discard(name)
                sub.known.pop(name, None)   # a later subscribe must send it again
        return record, self._respond(url, sub)

    def on_set(self, type_url):
        sub = self.types.get(type_url)
        return [] if sub is None or not sub.started else self._respond(type_url, sub)

    def resend(self, type_url, names):
        """Send ``names`` again, changed or not, if this stream is subscribed to them."""
        sub = self.types.get(type_url)
        if sub is None or not sub.started:
            return []
        entries = self.store.entries(type_url)
        for name in names:
            if name in entries and (sub.wildcard or name in sub.names):
                sub.known.pop(name, None)
        return self._respond(type_url, sub)

    def _respond(self, url, sub):
        version = self.store.version(url)
        if version is None:
            return []
        entries = self.store.entries(url)
        wanted = [e for e in entries.values() if sub.wildcard or e.name in sub.names]
        changed = [e for e in wanted if sub.known.get(e.name) != e.version]
        removed = sorted(name for name in sub.known
                         if name not in entries or not (sub.wildcard or name in sub.names))
        # A wildcard stream's first answer goes out even if empty: Envoy waits for it to
        # finish initializing (go-control-plane does the same).
        if not changed and not removed and (sub.answered or not sub.wildcard):
            return []
        sub.answered = True
        for entry in changed:
            sub.known[entry.name] = entry.version
        for name in removed:
            del sub.known[name]
        nonce = self.nonces()
        sub.versions[nonce] = version
        response = discovery_pb2.DeltaDiscoveryResponse(
            system_version_info=version, type_url=url, nonce=nonce, removed_resources=removed)
        for entry in changed:
            response.resources.add(name=entry.name, version=entry.version, resource=entry.packed)
        return [response]


def warming_endpoints(response):
    """The endpoints (ClusterLoadAssignment names) that the EDS clusters in a delta CDS response
    read. Envoy warms an added or changed cluster until it is sent its endpoints, and holds the
    CDS ACK meanwhile ("the management server is expected to provide the EDS/RDS updates during
    warming", xDS protocol, Resource warming); a delta client already subscribed to those names
    does not ask again, so the server sends them unasked."""
    if not isinstance(response, discovery_pb2.DeltaDiscoveryResponse) or response.type_url != CDS:
        return []
    names = []
    for resource in response.resources:
        cluster = cluster_pb2.Cluster()
        if resource.resource.Unpack(cluster) and cluster.type == cluster_pb2.Cluster.EDS:
            names.append(cluster.eds_cluster_config.service_name or cluster.name)
    return names


def rest_exchange(store, request, type_url, service):
    """(record, HTTP status, DiscoveryResponse or None) for a REST DiscoveryRequest, as
    go-control-plane's HTTP gateway answers it: 304 when the client already has the version
    (its version_info, which Envoy's REST client sends back as its only acknowledgement, is
    recorded as an ACK of it), 503 for a type never set, else 200 and the resources: every one
    when no names are asked for, else those named."""
    request.type_url = type_url
    version = store.version(type_url)
    if request.HasField("error_detail"):
        flag = "nack"
    elif version is not None and request.version_info == version:
        flag = "ack"
    else:
        flag = "request"
    node = {"id": request.node.id, "cluster": request.node.cluster} if request.HasField("node") else None
    record = _record("rest", service, None, node, request, version_info=request.version_info,
                     resource_names=list(request.resource_names), flag=flag, stale=False,
                     response_version=request.version_info if flag == "ack" else None)
    if version is None:
        return record, 503, None
    if flag == "ack":
        return record, 304, None
    names = set(request.resource_names)
    response = discovery_pb2.DiscoveryResponse(
        version_info=version, type_url=type_url,
        resources=store.select(type_url, not names or "*" in names, names))
    return record, 200, response
