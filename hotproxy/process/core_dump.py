"""``--enable-core-dump``: core files for every hotproxy process, as Envoy's flag asks."""
from __future__ import annotations

import resource

import prctl


def enable_core_dumps() -> int:
    """Raise RLIMIT_CORE as far as this process may (children inherit it) and make the process
    dumpable again (a change of credentials clears that). Returns the soft limit now in force."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):   # not privileged: as far as the hard limit
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    prctl.set_dumpable(True)
    return resource.getrlimit(resource.RLIMIT_CORE)[0]
