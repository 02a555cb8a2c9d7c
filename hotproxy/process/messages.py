"""Every kind of message the arbiter's channels carry, in one place.

A message is a msgpack map whose ``"t"`` names its kind (process/channel.py); descriptors travel
with the message that names them (SCM_RIGHTS). Two channels use these names: arbiter ⇄ worker (a
socketpair per worker) and epoch E+1 ⇄ epoch E (the hot-restart RPC, process/hotrestart/). A
name means one thing on one channel; the hot-restart kinds that share a string with a worker
kind ("stats", "health", "drain") are different messages, hence their ``RESTART_`` names.
"""

# --- worker → arbiter

#: every HEARTBEAT_INTERVAL_S from the worker's hub; no fields. A wedged hub stops them.
HEARTBEAT = "heartbeat"
#: once the worker accepts; ``pid``.
READY = "ready"
#: counter deltas ``c``, gauge levels ``g``/``gm``, histogram deltas ``h``, ``hosts``; ``id`` when
#: it answers a STATS_FLUSH.
STATS = "stats"
#: one cluster's request outcomes for outlier detection and passive health: ``cluster``,
#: ``hosts`` {"ip:port": [codes]}.
OUTCOMES = "outcomes"
#: a draining worker's idle keep-alive connection, for the next generation: ``listener``, + fd.
HANDOFF = "handoff"
#: the worker accepts no more (its answer to DRAIN): a reload says it serves only once every
#: older worker has said so, so a connection made after that reaches the new config; no fields.
STOPPED_ACCEPTING = "stopped_accepting"

# --- arbiter → worker

#: a connection handed off by an older generation (or epoch) to serve as if just accepted:
#: ``listener``, + fd.
ADOPT = "adopt"
#: stop accepting, move or close connections: ``move`` (listener names the next generation
#: serves), ``drain_time``, ``immediate``.
DRAIN = "drain"
#: stop now (SIGTERM follows); no fields.
STOP = "stop"
#: start accepting on the listening sockets: sent to a generation whose first message said
#: ``hold_accepting`` (its reload probe had to pass first, docs/reloads.md); no fields.
ACCEPT = "accept"
#: the first message every worker gets (awaited before it serves when its config has health
#: checks, outlier detection or DNS clusters, or a layered_runtime): ``clusters`` {name:
#: {healthy, excluded}}, ``ejected`` {name: [[ip, port]]}, ``dns`` {name: [[ip, port, endpoint
#: index]]}, ``runtime`` (the runtime's values, as RUNTIME's ``values``).
#: ``hold_accepting``: serve adopted connections only until ACCEPT comes.
HEALTH_ALL = "health_all"
#: one cluster's active health changed: ``cluster``, ``healthy``, ``excluded`` ([[ip, port]]).
HEALTH = "health"
#: one DNS cluster's membership changed: ``cluster``, ``hosts`` [[ip, port, endpoint index]].
DNS_HOSTS = "dns_hosts"
#: one cluster's outlier ejections changed: ``cluster``, ``hosts`` [[ip, port]].
EJECTED = "ejected"
#: ship a STATS message now, for an admin read: ``id``, which the reply repeats.
STATS_FLUSH = "stats_flush"
#: admin /healthcheck/fail or /healthcheck/ok: ``failed``.
HEALTHCHECK = "healthcheck"
#: the overload manager's action states for the worker's generation: ``actions``.
OVERLOAD = "overload"
#: admin /drain_listeners?graceful: these listeners' connections close over ``drain_time``:
#: ``listeners``, ``drain_time``.
CLOSE_CONNECTIONS = "close_connections"
#: admin /drain_listeners: these listeners accept no more: ``listeners``.
STOP_LISTENERS = "stop_listeners"
#: admin /logging: ``level``, ``logger`` (None: every component).
LOG_LEVEL = "log_level"
#: the layered runtime's final values changed (disk swap, /runtime_modify, RTDS, reload):
#: ``values`` {key: value} (Runtime.snapshot()), installed whole (process/runtime_layers.py).
RUNTIME = "runtime"

#: RDS sent new route tables: ``routes`` {route_config_name: RouteConfiguration body}; the
#: first message of a worker whose config uses RDS or EDS carries all of them as ``xds_routes``.
XDS_ROUTES = "xds_routes"
#: EDS sent new memberships: ``endpoints`` {service name: ClusterLoadAssignment body}; in a
#: first message, ``xds_endpoints``.
XDS_ENDPOINTS = "xds_endpoints"
#: SDS sent new secrets: ``secrets`` {name: Secret body}; new handshakes use them. In a first
#: message (which the worker reads before its config: TLS contexts name them), ``xds_secrets``.
XDS_SECRETS = "xds_secrets"

# --- the arbiter ⇄ the xDS process (process/xds_child.py)

#: arbiter → xDS process, first on its channel: ``snapshot``, the last XDS_SNAPSHOT the arbiter
#: holds (None at first), which a respawned process starts from.
XDS_SEED = "xds_seed"
#: xDS process → arbiter: what to serve: ``initial``, ``listeners``, ``clusters``, ``routes``,
#: ``endpoints`` (name → body), ``versions``, ``resources`` (per resource [version, time]),
#: ``warming``, ``unknown_fields`` (xds/catalog.py's snapshot).
XDS_SNAPSHOT = "xds_snapshot"
#: xDS process → arbiter: a client event for stats: ``event`` (connected, disconnected, ack,
#: nack, connection_failure...), ``type`` (listeners, clusters...), ``version_info``, ``error``.
XDS_EVENT = "xds_event"

# --- hot restart, epoch E+1 → epoch E (requests carry an ``id`` that the reply repeats)

#: ``version``; the reply says ``ok``, the parent's ``pid`` and ``epoch``, or ``error``.
RESTART_HELLO = "hello"
#: the parent's listening socket for ``address`` [host, port]; the reply carries it as an fd.
RESTART_GET_LISTEN_SOCKET = "get_listen_socket"
#: the parent stops its admin server; the reply carries ``original_start_time``.
RESTART_SHUTDOWN_ADMIN = "shutdown_admin"
#: the parent's counter deltas since the last export, its levels and ``connections``.
RESTART_STATS = "stats"
#: the parent's active health-check states, ``health`` {checker key: {label: [healthy, excluded]}}.
RESTART_HEALTH = "health"
#: the child serves: the parent drains (``move``, ``drain_time``, ``immediate``, as DRAIN).
RESTART_DRAIN = "drain"
#: the parent reached the child's --parent-shutdown-time-s: it stops now.
RESTART_TERMINATE = "terminate"
#: what the parent serves, as config/diff.py compares it: the reply's ``inventory`` (for the
#: new epoch's reload report, docs/reloads.md). An older epoch answers ``ok`` False.
RESTART_CONFIG_INVENTORY = "config_inventory"

# --- hot restart, epoch E → epoch E+1

#: the answer to a request: the request's ``id`` and the answer's fields (``ok``/``error`` where
#: it can fail), descriptors attached.
RESTART_REPLY = "reply"
#: the parent will not be taken over (still starting, already handed over, busy): ``error``.
RESTART_REFUSED = "refused"
#: a pushed idle connection of a draining parent worker: ``listener``, + fd.
RESTART_CONNECTION = "connection"
#: the parent's last counts as it exits (as RESTART_STATS' reply), pushed.
RESTART_FINAL_STATS = "final_stats"
