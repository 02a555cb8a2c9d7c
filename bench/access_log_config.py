"""A file access log in its default format on every HTTP connection manager of a bench config,
for Envoy and hotproxy alike (compare.py --access-log)."""
from __future__ import annotations

import yaml

HCM = "envoy.filters.network.http_connection_manager"
FILE_ACCESS_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"


def with_file_access_log(config_text, path):
    """``config_text`` with one file access log (no format: the default one) writing to ``path``
    added to each HTTP connection manager. Raises ValueError when the config has none, since a
    variant that logs nothing would measure nothing."""
    config = yaml.safe_load(config_text)
    managers = 0
    for listener in config.get("static_resources", {}).get("listeners", []):
        for chain in listener.get("filter_chains", []):
            for network_filter in chain.get("filters", []):
                if network_filter.get("name") != HCM:
                    continue
                logs = network_filter["typed_config"].setdefault("access_log", [])
                logs.append({"name": "envoy.access_loggers.file",
                             "typed_config": {"@type": FILE_ACCESS_LOG, "path": str(path)}})
                managers += 1
    if not managers:
        raise ValueError("the config has no http_connection_manager to log from")
    return yaml.safe_dump(config, sort_keys=False)
