"""Where bench/xds_scale.py's time goes: each step hotproxy takes for a control plane of 1,000 EDS
clusters and 10,000 endpoints, timed on its own, in one process, with the product's own
functions (best of ``--repeat`` runs, so that a shared machine's noise counts less than in the
end-to-end figures).

    python bench/xds_scale_parts.py                     # 1,000 clusters, 10,000 endpoints
    python bench/xds_scale_parts.py --hotproxy-tree /tmp/head --clusters 2000 --endpoints 20000

The steps, by the process that takes them:
- xDS process, per update of a type (state of the world: every resource of the type comes):
  the protobuf Any to dict of each resource (xds/resources.py's decode_any), the catalog's check
  (each resource parsed; for clusters also the bootstrap composed with all of them, parsed and
  compiled), and the snapshot it sends the arbiter (msgpack);
- arbiter: the snapshot read, the memberships compared, the changed ones sent to each worker;
  for a reload, the config composed and checked again, and a worker's command line;
- worker: its command line read (argparse), the composed config parsed, and the memberships of
  its first message (or of an EDS update) parsed and applied to its clusters.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))


def best(repeat, fn):
    """(seconds of the fastest of ``repeat`` calls, the last result)."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hotproxy-tree", metavar="DIR", help="import hotproxy from this checkout")
    args = parser.parse_args(argv)
    if args.hotproxy_tree:
        sys.path.insert(0, str(Path(args.hotproxy_tree).resolve()))

    from envoy.config.endpoint.v3 import endpoint_pb2
    from google.protobuf import any_pb2, json_format

    from hotproxy.config import parse_text
    from hotproxy.config.trees import text_tree
    from hotproxy.config.resources import parse_resource
    from hotproxy.config.xds import CLUSTERS, ENDPOINTS, ROUTES
    from hotproxy.listener.connection_counts import ConnectionCounts
    from hotproxy.process.channel import decode, encode
    from hotproxy.process.validate import check_route_table, check_text, check_tree
    from hotproxy.process.worker import _parse_args
    from hotproxy.process.overload import _keys
    from hotproxy.process.worker_xds import apply_endpoints
    from hotproxy.process.xds_link import _changed
    from hotproxy.upstream.cluster_manager import ClusterManager
    from hotproxy.xds.catalog import Catalog, compose
    from hotproxy.xds.resources import decode_any
    from hotproxy.xds.type_urls import BY_SHORT_NAME

    from xds_configs import ads_bootstrap, assignment, eds_cluster, rds_listener

    n, per = args.clusters, max(1, args.endpoints // args.clusters)
    names = [f"c{i:04d}" for i in range(n)]
    clusters = {name: eds_cluster(name) for name in names}
    endpoints = {name: assignment(name, *[20000 + (i * per + j) % 20000 for j in range(per)])
                 for i, name in enumerate(names)}
    routes = {"name": "routes", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": f"/{name}/"}, "route": {"cluster": name}} for name in names]}]}
    listeners = {"web": rds_listener("web", 10000, "routes")}
    bootstrap_text = json.dumps(ads_bootstrap(18000, 19000))
    tree, _ = text_tree(bootstrap_text)
    rows, sizes = [], []

    def step(process, what, fn):
        seconds, result = best(args.repeat, fn)
        rows.append((process, what, seconds))
        print(f"  {process:8} {what:70} {seconds * 1000:9.1f} ms", file=sys.stderr, flush=True)
        return result

    # xDS process
    eds_type = BY_SHORT_NAME[ENDPOINTS]
    packed = []
    for body in endpoints.values():
        message = json_format.ParseDict(body, endpoint_pb2.ClusterLoadAssignment())
        wrapped = any_pb2.Any()
        wrapped.Pack(message)
        packed.append(wrapped)
    step("xds", f"decode {n} ClusterLoadAssignments (protobuf to dict)",
         lambda: [decode_any(a, eds_type, "1") for a in packed])
    catalog = Catalog(tree, parse_text(bootstrap_text), check_resource=check_route_table, check_bootstrap=check_tree)
    checked = step("xds", f"check {n} clusters (each parsed; the composed bootstrap parsed, compiled)",
                   lambda: catalog.check(CLUSTERS, clusters)[0])
    catalog.apply(CLUSTERS, "1", checked)
    checked = step("xds", f"check {n} assignments ({n * per} endpoints, each parsed)",
                   lambda: catalog.check(ENDPOINTS, endpoints)[0])
    catalog.apply(ENDPOINTS, "1", checked)
    message = step("xds", "snapshot to the arbiter: made and encoded (msgpack)",
                   lambda: encode({"t": "xds_snapshot", **catalog.snapshot(True)}))
    sizes.append(("xds", "the snapshot, KiB", len(message) / 1024))

    # arbiter
    step("arbiter", "snapshot decoded", lambda: decode(message))
    changed_one = dict(endpoints)
    changed_one[names[-1]] = assignment(names[-1], 1, 2, 3)
    step("arbiter", f"memberships compared ({n}, one changed)", lambda: _changed(endpoints, changed_one))
    broadcast = {"t": "xds_endpoints", "endpoints": endpoints}
    step("arbiter", f"all {n} memberships encoded for one worker", lambda: encode(broadcast))
    composed = step("arbiter", f"reload: compose the config ({n} clusters) as JSON",
                    lambda: json.dumps(compose(tree, listeners, clusters), indent=1))
    step("arbiter", "reload: the composed config parsed and checked again", lambda: check_text(composed))
    bootstrap = parse_text(composed)
    counts = ConnectionCounts()
    keys = _keys(bootstrap)
    counts.claim_slot("w")
    argv = step("arbiter", f"a worker's command line ({len(keys)} shared counters)",
                lambda: counts.worker_argv("w", keys))
    sizes.append(("arbiter", "a worker's command line, arguments", len(argv)))
    sizes.append(("arbiter", "a worker's command line, KiB (Linux's ARG_MAX: 2,048 KiB with the environment)",
                  sum(len(a) + 1 for a in argv) / 1024))

    # worker
    for module in ("hotproxy.process.worker", "hotproxy.process.xds_child"):
        command = [sys.executable, "-c", f"import {module}"]
        env = {**os.environ, "PYTHONPATH": args.hotproxy_tree} if args.hotproxy_tree else None
        step("process", f"a fresh interpreter that imports {module}",
             lambda: subprocess.run(command, check=True, env=env))
    worker_argv = ["--config-fd", "3", "--channel-fd", "4", "--arbiter-pid", "1", "--access-log-fd", "5",
                   "--listen-fd", "web=6", *argv]
    step("worker", f"its command line read (argparse, {len(worker_argv)} arguments)",
         lambda: _parse_args(worker_argv))
    step("worker", "the composed config parsed", lambda: parse_text(composed))
    first = encode({"t": "health_all", "xds_routes": {"routes": routes}, "xds_endpoints": endpoints})
    step("worker", "its first message decoded (routes and memberships)", lambda: decode(first))
    manager = ClusterManager(bootstrap.clusters)
    apply_endpoints(manager, endpoints)
    # every endpoint changes at each call, as in bench/xds_scale.py's eds-all
    moved = {name: assignment(name, *[40000 + (i * per + j) % 20000 for j in range(per)])
             for i, name in enumerate(names)}
    sets = itertools.cycle([moved, endpoints])
    step("worker", f"{n} memberships parsed and applied ({n * per} endpoints, all of them new)",
         lambda: apply_endpoints(manager, next(sets)))
    step("worker", "one membership parsed and applied", lambda: apply_endpoints(manager, {names[-1]: endpoints[names[-1]]}))
    step("worker", f"the route table ({n} routes) parsed and compiled",
         lambda: check_route_table(ROUTES, parse_resource(ROUTES, routes)[0]))
    sizes.append(("worker", "its first message, KiB", len(first) / 1024))

    print(f"\n| process | step ({n} clusters, {n * per} endpoints), best of {args.repeat} | ms |\n|---|---|---|")
    for process, what, seconds in rows:
        print(f"| {process} | {what} | {seconds * 1000:.1f} |")
    print("\n| process | size | |\n|---|---|---|")
    for process, what, value in sizes:
        print(f"| {process} | {what} | {value:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
