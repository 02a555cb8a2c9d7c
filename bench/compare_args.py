"""compare.py's command line: what runs, and the sentences that say how a run differs from the
default one."""
from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: each body's path on nginx: random bytes, or (--compression) hex text that compresses 2:1
BODY_PATHS = {"12 B": ("/", "/"), "64 KiB": ("/64k", "/64k-text"), "1 MiB": ("/1m", "/1m-text")}
POINTS = ("http", "tcp", "memory", "reload")


def comma_list(kind=str):
    return lambda value: [kind(item.strip()) for item in value.split(",")]


def parse_args(argv, description):
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk point (default 10)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--conns", type=comma_list(int), default=[10, 50, 200])
    parser.add_argument("--bodies", type=comma_list(), default=list(BODY_PATHS),
                        help="of " + ", ".join(BODY_PATHS) + " (default: all)")
    parser.add_argument("--targets", type=comma_list(), default=["direct", "envoy", "hotproxy"])
    parser.add_argument("--points", type=comma_list(), default=list(POINTS),
                        help="of " + ", ".join(POINTS) + " (default: all)")
    parser.add_argument("--access-log", action="store_true",
                        help="a file access log in the default format on both proxies")
    parser.add_argument("--idle-conns", type=int, default=5000,
                        help="idle keep-alive connections of the memory point (default 5000)")
    parser.add_argument("--reload-conns", type=comma_list(int), default=[50],
                        help="wrk connections of the reload point (default 50)")
    parser.add_argument("--compression", action="store_true",
                        help="the compressor filter (gzip) on compressible text bodies, Accept-Encoding: gzip")
    parser.add_argument("--filters", action="store_true",
                        help="cors, local_ratelimit and rbac in front of the router (http-filters.yaml)")
    parser.add_argument("--h2", action="store_true",
                        help="h2load over h2c (prior knowledge): --conns connections of --streams streams")
    parser.add_argument("--streams", type=int, default=5, help="streams per h2 connection (default 5)")
    parser.add_argument("--h2-upstream", action="store_true",
                        help="HTTP/2 (h2c) from the proxies to nginx (http-h2-upstream.yaml)")
    parser.add_argument("--tcp-seconds", type=int, default=5)
    parser.add_argument("--no-tcp", action="store_true", help="the same as leaving tcp out of --points")
    parser.add_argument("--quick", action="store_true", help="3 s points, one repetition")
    parser.add_argument("--baseline", metavar="DIR", help="a hotproxy checkout for the hotproxy-base target")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (configs, logs)")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    for option, given, known in (("--bodies", args.bodies, BODY_PATHS), ("--points", args.points, POINTS)):
        unknown = [item for item in given if item not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    if args.no_tcp and "tcp" in args.points:
        args.points.remove("tcp")
    if args.quick:
        args.duration, args.reps, args.tcp_seconds = 3, 1, 3
    return args


def describe(args):
    """What differs from the default HTTP run, one sentence each."""
    return [
        *(["HTTP with the compressor filter (gzip) on both proxies: bench/configs/http-compression.yaml; "
           "wrk sends Accept-Encoding: gzip; the 64 KiB and 1 MiB bodies are hex text (2:1)."]
          if args.compression else []),
        *(["HTTP with cors, local_ratelimit and rbac on both proxies: bench/configs/http-filters.yaml; "
           "wrk sends an allowed Origin."] if args.filters else []),
        *(["HTTP/2 (h2c) from the proxies to nginx: bench/configs/http-h2-upstream.yaml."]
          if args.h2_upstream else []),
        *([f"HTTP/2 downstream (h2c) by h2load, {args.streams} streams per connection, HTTP/1.1 to "
           "nginx; p50 is h2load's mean, it reports no p99."] if args.h2 else []),
        *(["Both proxies write a file access log in the default format (one line per request)."]
          if args.access_log else []),
    ]
