"""/config_dump: the configuration the serving generation runs, in Envoy's ConfigDump shape,
with secrets redacted."""
from __future__ import annotations

from ..config.trees import text_tree

_ADMIN = "type.googleapis.com/envoy.admin.v3."
_SECRET_KEYS = frozenset(("private_key", "password", "secret", "session_ticket_keys",
                          "oauth_token", "hmac_secret"))
REDACTED = "[redacted]"


def config_dump(config_text, loaded_at):
    """The ConfigDump of ``config_text`` (already validated), ``loaded_at`` an RFC 3339 time."""
    tree, _problems = text_tree(config_text)
    tree = redact(tree or {})
    resources = tree.get("static_resources", {})
    return {"configs": [
        {"@type": _ADMIN + "BootstrapConfigDump", "bootstrap": tree, "last_updated": loaded_at},
        {"@type": _ADMIN + "ClustersConfigDump",
         "static_clusters": [{"cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
                                          **cluster}, "last_updated": loaded_at}
                             for cluster in resources.get("clusters", [])]},
        {"@type": _ADMIN + "ListenersConfigDump",
         "static_listeners": [{"listener": {"@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
                                            **listener}, "last_updated": loaded_at}
                              for listener in resources.get("listeners", [])]},
        {"@type": _ADMIN + "SecretsConfigDump"},
    ]}


def redact(value, secret=False):
    """A copy of ``value`` in which every scalar under a secret-bearing key is "[redacted]"."""
    if isinstance(value, dict):
        return {key: redact(item, secret or key in _SECRET_KEYS) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, secret) for item in value]
    return REDACTED if secret else value
