"""What tracing costs per request: wrk → {Envoy, hotproxy} → nginx on bench/configs/http.yaml,
each with and without a Zipkin tracer that samples every request (random_sampling 100%, spans
POSTed as JSON to a collector, an nginx answering 202), interleaved repetitions, medians.

The added cost is (traced − plain) CPU µs per request of the proxy's whole process tree (/proc,
as bench/compare.py measures it); the issue's target is hotproxy's added cost ≤ Envoy's, as a
ratio of the same run. ``--baseline DIR`` also runs the plain config on another checkout (e.g. a
``git worktree`` of the commit before tracing), so that "tracing off costs nothing" is a
before/after of the plain path.

    python bench/tracing_cost.py                         # 5 repetitions of 5 s at 10 connections
    python bench/tracing_cost.py --baseline /tmp/before  # and the plain path before tracing
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from compare import (HERE, LOAD_CPU, PROXY_CPU, VENV_BIN, WRK_LUA, Bench, Target, free_port,
                     http_get, wait_for_port)
from statistics import median

COLLECTOR_CONF = """
worker_processes 1;
daemon off;
pid {dir}/collector.pid;
error_log {dir}/collector-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  client_body_buffer_size 1m;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 202; }}
  }}
}}
"""

TRACING = """          tracing:
            random_sampling: { value: 100 }
            provider:
              name: envoy.tracers.zipkin
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.ZipkinConfig
                collector_cluster: zipkin
                collector_endpoint: /api/v2/spans
                collector_endpoint_version: HTTP_JSON
"""

ZIPKIN_CLUSTER = """  - name: zipkin
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: zipkin
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: {collector} }
"""


def traced(plain):
    """http.yaml with the tracer: the block under the HCM's stat_prefix, the collector's
    cluster after the others."""
    text = re.sub(r"(\n          stat_prefix: bench\n)", lambda m: m.group(1) + TRACING, plain, 1)
    return text.rstrip("\n") + "\n" + ZIPKIN_CLUSTER


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk point")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--conns", type=int, default=10)
    parser.add_argument("--baseline", metavar="DIR", help="a checkout for the plain path before")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    # what compare.Bench reads
    args.access_log = args.compression = args.filters = args.h2 = False
    return args


def start_proxies(bench, args, nginx_port, collector_port):
    plain = (HERE / "configs" / "http.yaml").read_text().replace("{upstream}", str(nginx_port))
    texts = {"plain": plain, "traced": traced(plain).replace("{collector}", str(collector_port))}
    variants = [("envoy", "plain"), ("envoy", "traced"), ("hotproxy", "plain"),
                ("hotproxy", "traced")]
    if args.baseline:
        variants.append(("hotproxy-before", "plain"))
    targets = []
    for proxy, config in variants:
        port = free_port()
        path = bench.dir / f"{proxy}-{config}.yaml"
        path.write_text(texts[config].replace("{listen}", str(port)))
        common = ["-c", str(path), "--concurrency", "1", "-l", "error", "--base-id",
                  str(bench.base_id())]
        env = None
        if proxy == "envoy":
            argv = [str(VENV_BIN / "envoy"), *common]
        elif proxy == "hotproxy":
            argv = [str(VENV_BIN / "hotproxy"), *common]
        else:
            env = {**os.environ, "PYTHONPATH": str(Path(args.baseline).resolve())}
            argv = [sys.executable, "-m", "hotproxy", *common]
        process = bench.start(argv, PROXY_CPU, f"{proxy}-{config}.log", env)
        wait_for_port(port)
        if http_get(port, "/") != 200:
            raise RuntimeError(f"{proxy} ({config}) does not answer 200")
        targets.append(Target(f"{proxy} {config}", port, process.pid))
    return targets


def main(argv=None):
    args = parse_args(argv)
    bench = Bench(args)
    try:
        nginx_port, _h2_port, _nginx = bench.start_nginx()
        collector_port = free_port()
        (bench.dir / "collector.conf").write_text(COLLECTOR_CONF.format(dir=bench.dir,
                                                                        port=collector_port))
        bench.start(["nginx", "-c", str(bench.dir / "collector.conf"), "-p", str(bench.dir)],
                    LOAD_CPU, "collector.log")
        wait_for_port(collector_port)
        targets = start_proxies(bench, args, nginx_port, collector_port)
        lua = bench.dir / "report.lua"
        lua.write_text(WRK_LUA)
        for target in targets:      # warm up: pools, imports, the tracer's first batches
            bench.wrk(target, "/", args.conns, lua)
        samples = {}
        for rep in range(args.reps):
            for target in targets:
                result = bench.wrk(target, "/", args.conns, lua)
                samples.setdefault(target.name, []).append(result)
                print(f"  rep {rep + 1} {target.name:16} {result['rps']:8.0f} rps "
                      f"{result['cpu_us']:7.1f} us/req  {result['errors']} errors", file=sys.stderr)
        print(report(samples, args))
    finally:
        bench.stop_all()


def report(samples, args):
    cpu = {name: median([s["cpu_us"] for s in runs]) for name, runs in samples.items()}
    rps = {name: median([s["rps"] for s in runs]) for name, runs in samples.items()}
    lines = [f"wrk -c{args.conns}, {args.duration} s points, {args.reps} interleaved repetitions, "
             "medians; CPU µs per request of the proxy's process tree", "",
             "| target | req/s | CPU µs/req | spread (min–max) |", "|---|---:|---:|---:|"]
    for name, runs in samples.items():
        values = [s["cpu_us"] for s in runs]
        lines.append(f"| {name} | {rps[name]:.0f} | {cpu[name]:.1f} | "
                     f"{min(values):.1f}–{max(values):.1f} |")
    envoy_added = cpu["envoy traced"] - cpu["envoy plain"]
    hotproxy_added = cpu["hotproxy traced"] - cpu["hotproxy plain"]
    lines += ["", f"Envoy's added cost: {envoy_added:.1f} µs/req "
                  f"({envoy_added / cpu['envoy plain']:+.0%} of its plain path)",
              f"hotproxy's added cost: {hotproxy_added:.1f} µs/req "
              f"({hotproxy_added / cpu['hotproxy plain']:+.0%} of its plain path)",
              f"hotproxy added / Envoy added: {hotproxy_added / envoy_added:.2f}"
              if envoy_added > 0 else "Envoy's added cost is within noise"]
    if "hotproxy-before plain" in cpu:
        before = cpu["hotproxy-before plain"]
        lines.append(f"plain path before → after tracing: {before:.1f} → "
                     f"{cpu['hotproxy plain']:.1f} µs/req ({cpu['hotproxy plain'] / before - 1:+.1%})")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
