"""The reload report (config/diff.py): what changes between two parsed configs, by listener,
cluster, virtual host and certificate, with the fields that differ."""
import json
import subprocess
import sys

import yaml

from certs import CA
from config_helpers import CLUSTER, HCM, LISTENER, ROUTE, VHOST, base_tree, parse_with
from hotproxy.config import parse_bootstrap
from hotproxy.config.diff import diff_configs, diff_inventories, empty_inventory, inventory

CHAIN_PATH = f"{LISTENER}.filter_chains[0]"
TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"


def report(old_edits, new_edits):
    return diff_configs(parse_with(old_edits), parse_with(new_edits))


def test_the_same_config_parsed_twice_changes_nothing():
    same = report({}, {})
    assert not same.changed
    assert same.summary() == "no change"
    assert same.text() == "no change\n"


def test_the_inventory_is_the_same_in_another_process():
    """What another epoch or the admin sends is compared with what this process made."""
    code = ("import json, yaml; from hotproxy.config import parse_bootstrap; "
            "from hotproxy.config.diff import inventory; "
            f"print(json.dumps(inventory(parse_bootstrap(yaml.safe_load({yaml.safe_dump(base_tree())!r})))))")
    elsewhere = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True, env={"PYTHONHASHSEED": "123"}).stdout)
    assert not diff_inventories(elsewhere, inventory(parse_bootstrap(base_tree()))).changed


def test_added_removed_and_modified_clusters_with_the_fields_that_differ():
    canary_gone = {"static_resources.clusters[1]": {"name": "fresh", "connect_timeout": "1s"},
                   f"{CLUSTER}.connect_timeout": "2s", f"{CLUSTER}.lb_policy": "RANDOM"}
    changes = report({}, canary_gone)
    assert [(c.action, c.name, c.reason) for c in changes.clusters] == [
        ("added", "fresh", ""), ("removed", "canary", ""), ("modified", "backend", "connect_timeout, lb_policy")]
    assert changes.summary() == "clusters +1 -1 ~1"
    assert not changes.listeners and not changes.routes


def test_a_route_edit_is_a_virtual_host_change_not_a_listener_change():
    changes = report({}, {f"{ROUTE}.route.timeout": "3s"})
    assert [(c.action, c.name, c.reason) for c in changes.routes] == [("modified", "local_route/app", "routes")]
    assert not changes.listeners
    added = report({}, {f"{HCM}.route_config.virtual_hosts[1]": {"name": "admin", "domains": ["admin.local"],
                                                                   "routes": []}})
    assert [(c.action, c.name) for c in added.routes] == [("added", "local_route/admin")]
    domains = report({}, {f"{VHOST}.domains": ["example.com"]})
    assert domains.routes[0].reason == "domains"


def test_a_listener_change_names_its_fields():
    changes = report({}, {f"{LISTENER}.per_connection_buffer_limit_bytes": 4096, f"{HCM}.stat_prefix": "other"})
    assert [(c.action, c.name, c.reason) for c in changes.listeners] == [
        ("modified", "http", "filter_chains, per_connection_buffer_limit_bytes")]
    removed = report({}, {"static_resources.listeners": [base_tree()["static_resources"]["listeners"][0]]})
    assert [(c.action, c.name) for c in removed.listeners] == [("removed", "tcp")]


def test_other_bootstrap_fields_are_named():
    changes = report({}, {"stats_flush_interval": "10s"})
    assert changes.other == ("stats_flush_interval",)
    assert changes.summary() == "other: stats_flush_interval"


def _tls(cert_path, key_path):
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": TLS_TYPE, "common_tls_context": {"tls_certificates": [{
            "certificate_chain": {"filename": str(cert_path)}, "private_key": {"filename": str(key_path)}}]}}}


def test_a_certificate_is_known_by_its_file_and_content(tmp_path):
    ca = CA()
    cert, key = ca.issue("a", dns=["a.example.com"]).write(tmp_path, "a")
    old = parse_with({f"{CHAIN_PATH}.transport_socket": _tls(cert, key)})
    ca.issue("a", dns=["a.example.com"]).write(tmp_path, "a")      # rotated in place
    new = parse_with({f"{CHAIN_PATH}.transport_socket": _tls(cert, key)})
    changes = diff_configs(old, new)
    assert [(c.action, c.name) for c in changes.certificates] == [("modified", str(cert))]
    assert "content changed" in changes.certificates[0].reason
    assert not changes.listeners, "the same file with new content is a certificate change only"
    other_cert, other_key = ca.issue("b").write(tmp_path, "b")
    moved = diff_configs(new, parse_with({f"{CHAIN_PATH}.transport_socket": _tls(other_cert, other_key)}))
    assert [(c.action, c.name) for c in moved.certificates] == [("added", str(other_cert)), ("removed", str(cert))]
    assert moved.listeners[0].reason == "filter_chains"


def test_no_key_material_is_in_the_inventory(tmp_path):
    cert, key = CA().issue("a").write(tmp_path, "a")
    held = json.dumps(inventory(parse_with({f"{CHAIN_PATH}.transport_socket": _tls(cert, key)})))
    assert "PRIVATE KEY" not in held and "BEGIN CERTIFICATE" not in held


def test_the_first_config_adds_everything_and_the_json_rendering():
    changes = diff_inventories(empty_inventory(), inventory(parse_bootstrap(base_tree())))
    rendered = changes.to_json()
    assert rendered["changed"] is True
    assert rendered["listeners"] == {"added": ["http", "tcp"], "removed": [], "modified": {}}
    assert rendered["clusters"]["added"] == ["backend", "canary"]
    assert rendered["routes"]["added"] == ["local_route/app"]
    assert json.loads(json.dumps(rendered)) == rendered


def test_the_text_rendering_lists_each_change_under_the_summary():
    text = report({}, {f"{CLUSTER}.connect_timeout": "2s", f"{ROUTE}.route.timeout": "3s"}).text()
    assert text == ("clusters ~1; routes ~1\n"
                    "  ~ cluster 'backend': connect_timeout\n"
                    "  ~ virtual host 'local_route/app': routes\n")


def test_route_table_wide_headers_are_their_own_entry():
    changes = report({}, {f"{HCM}.route_config.response_headers_to_add": [
        {"header": {"key": "x-a", "value": "1"}}]})
    assert [(c.action, c.name) for c in changes.routes] == [("added", "local_route")]


def test_a_tls_context_from_sds_compares_by_the_secrets_it_names():
    """The serving config holds what SDS sent; a config read on its own (--mode diff) holds none
    of it: that is no change. Naming another secret is one."""
    from hotproxy.config.resources import parse_resource
    leaf = CA().issue("a", dns=["a.example.com"])
    pem = {"certificate_chain": {"inline_string": leaf.chain_pem.decode()},
           "private_key": {"inline_string": leaf.key_pem().decode()}}
    sent = {"server-cert": parse_resource("secrets", {"name": "server-cert", "tls_certificate": pem})[0][1]}

    def with_secret(name):
        tree = base_tree()
        chain = tree["static_resources"]["listeners"][0]["filter_chains"][0]
        chain["transport_socket"] = {"name": "tls", "typed_config": {"@type": TLS_TYPE, "common_tls_context": {
            "tls_certificate_sds_secret_configs": [{"name": name, "sds_config": {"ads": {}}}]}}}
        tree["dynamic_resources"] = {"ads_config": {"api_type": "GRPC", "grpc_services": [
            {"envoy_grpc": {"cluster_name": tree["static_resources"]["clusters"][0]["name"]}}]}}
        return tree

    serving = parse_bootstrap(with_secret("server-cert"), sds_secrets=sent)
    assert serving.listeners[0].filter_chains[0].transport_socket.common.tls_certificates
    assert not diff_configs(serving, parse_bootstrap(with_secret("server-cert"))).changed
    renamed = diff_configs(serving, parse_bootstrap(with_secret("other-cert")))
    assert [change.name for change in renamed.listeners] == [serving.listeners[0].name]
