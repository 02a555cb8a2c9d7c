"""tcp_proxy hash_policy: source_ip for RING_HASH and MAGLEV clusters."""
import pytest

from hotproxy.config import parse_text
from hotproxy.errors import ConfigError

CONFIG = """
static_resources:
  listeners:
  - name: tcp
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: c
          %s
  clusters:
  - name: c
    lb_policy: RING_HASH
    load_assignment: {cluster_name: c, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]}
"""


def tcp_proxy(extra):
    return parse_text(CONFIG % extra).listeners[0].filter_chains[0].filters[0]


def test_source_ip_hashing_is_read():
    assert tcp_proxy("hash_policy: [{source_ip: {}}]").hash_source_ip
    assert not tcp_proxy("").hash_source_ip


@pytest.mark.parametrize("extra, reason", [
    ("hash_policy: [{filter_state: {key: k}}]", "not supported by hotproxy yet"),
    ("hash_policy: [{}]", "exactly one of source_ip, filter_state is required"),
])
def test_what_is_refused(extra, reason):
    with pytest.raises(ConfigError) as info:
        tcp_proxy(extra)
    assert reason in str(info.value)
