"""Each RDS and EDS resource's stats under Envoy's names, from a real hotproxy under the test
control plane: ``http.<prefix>.rds.<name>.*`` and ``cluster.<name>.update_*``."""
from harness import admin_counter, free_port, wait_for_port
from test_xds_dynamic import start_proxy, wait_until, xds  # noqa: F401 (the fixture)
from xds_configs import assignment, eds_cluster, rds_listener, route_config, serve


def test_route_configurations_and_assignments_count_their_updates(proxy_factory, upstream, xds):  # noqa: F811
    port = free_port()
    serve(xds, listeners=[rds_listener("web", port, "routes", stat_prefix="ingress")],
          clusters=[eds_cluster("svc")], endpoints=[assignment("svc", upstream.port)],
          routes=[route_config("routes", "svc")], version="1")
    proxy = start_proxy(proxy_factory, xds, concurrency=1)
    wait_for_port(port, process=proxy.process)
    admin = proxy.ports["admin"]
    rds, eds = "http.ingress.rds.routes.", "cluster.svc."

    def stat(name):
        return admin_counter(admin, name)

    assert [stat(rds + name) for name in ("update_success", "config_reload")] == [1, 1]
    assert stat(eds + "update_success") == 1 and stat(eds + "update_empty") == 0
    first_version = stat(rds + "version")
    assert first_version != 0

    xds.set("routes", [route_config("routes", "svc", prefix="/v2")], version="2")
    wait_until(lambda: stat(rds + "config_reload") == 2, what="the second route configuration")
    assert stat(rds + "version") not in (0, first_version)
    xds.set("endpoints", [assignment("svc")], version="2")
    wait_until(lambda: stat(eds + "update_empty") == 1, what="the empty assignment")
    assert stat(eds + "update_success") == 2
