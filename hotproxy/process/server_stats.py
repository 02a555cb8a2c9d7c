"""What the arbiter measures of the server as a whole: the memory of every hotproxy process
(admin /memory, and the ``server.memory_*`` gauges) and the ``server.*`` gauges Envoy reports
from its main thread (state, uptime, concurrency, epoch, connections, version), plus hotproxy's
own per-generation figures."""
from __future__ import annotations

import psutil

from .. import __version__

LIVE, DRAINING, PRE_INITIALIZING = 0, 1, 2


def version_number(version):
    """``server.version`` is an integer in Envoy; "1.2.3" → 10203."""
    major, minor, patch = (int(part) for part in (version.split(".") + ["0", "0"])[:3])
    return major * 10000 + minor * 100 + patch


def memory_report(processes):
    """/memory for ``processes`` ((role, generation, worker index, pid), as the supervisor lists
    them): each one's RSS and open descriptors, the totals of each generation, and Envoy's keys
    (tcmalloc figures there) carrying the RSS of every hotproxy process here."""
    measured = []
    for role, generation, index, pid in processes:
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                rss, fds = process.memory_info().rss, process.num_fds()
        except psutil.Error:
            continue
        measured.append({"role": role, "generation": generation, "index": index, "pid": pid,
                         "rss_bytes": rss, "open_fds": fds})
    generations = {}
    for entry in measured:
        if entry["generation"] is not None:
            totals = generations.setdefault(entry["generation"], {"generation": entry["generation"],
                                                                  "workers": 0, "rss_bytes": 0,
                                                                  "open_fds": 0})
            totals["workers"] += 1
            totals["rss_bytes"] += entry["rss_bytes"]
            totals["open_fds"] += entry["open_fds"]
    total = sum(entry["rss_bytes"] for entry in measured)
    return {"allocated": str(total), "heap_size": str(total), "total_physical_bytes": str(total),
            "processes": measured, "generations": [generations[n] for n in sorted(generations)]}


def server_levels(*, state, uptime, concurrency, epoch, parent_connections, draining, gauges, memory):
    """The ``server.*`` gauges: ``state`` as LIVE/DRAINING/PRE_INITIALIZING, ``draining`` the
    number of draining generations, ``gauges`` every level the workers report (for the open
    connections), ``memory`` a ``memory_report``."""
    levels = {
        "server.live": 1 if state == LIVE else 0,
        "server.state": state,
        "server.uptime": uptime,
        "server.concurrency": concurrency,
        "server.hot_restart_epoch": epoch,
        "server.total_connections": sum(level for name, level in gauges.items()
                                        if name.startswith("listener.")
                                        and name.endswith(".downstream_cx_active")),
        "server.parent_connections": parent_connections,
        "server.version": version_number(__version__),
        "server.draining_generations": draining,
        # Envoy's: 1 once the workers run (pilot-agent's readiness probe asks for it)
        "listener_manager.workers_started": 1 if state != PRE_INITIALIZING else 0,
        "server.memory_allocated": int(memory["allocated"]),
        "server.memory_physical_size": int(memory["total_physical_bytes"]),
    }
    for generation in memory["generations"]:
        prefix = f"server.generation.{generation['generation']}."
        levels[prefix + "workers"] = generation["workers"]
        levels[prefix + "rss_bytes"] = generation["rss_bytes"]
        levels[prefix + "open_fds"] = generation["open_fds"]
    arbiter = next(p for p in memory["processes"] if p["role"] == "arbiter")
    levels["server.arbiter.rss_bytes"] = arbiter["rss_bytes"]
    levels["server.arbiter.open_fds"] = arbiter["open_fds"]
    return levels
