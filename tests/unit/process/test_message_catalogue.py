"""process/messages.py: one meaning per name on each channel."""
from hotproxy.process import messages


def kinds(prefix_filter):
    return {name: value for name, value in vars(messages).items()
            if name.isupper() and prefix_filter(name)}


def test_each_channel_s_kinds_are_distinct():
    worker = kinds(lambda name: not name.startswith("RESTART_"))
    restart = kinds(lambda name: name.startswith("RESTART_"))
    assert len(set(worker.values())) == len(worker)
    assert len(set(restart.values())) == len(restart)
    assert {"heartbeat", "stats", "outcomes", "ready", "handoff", "adopt", "drain", "stop", "health",
            "health_all", "dns_hosts", "ejected", "stats_flush", "healthcheck", "overload",
            "close_connections", "stop_listeners", "log_level"} <= set(worker.values())
    assert {"hello", "get_listen_socket", "shutdown_admin", "stats", "health", "drain", "terminate",
            "reply", "refused", "connection", "final_stats", "config_inventory"} == set(restart.values())
