"""HTTP/2 side by side (issue 19's performance point): h2load over h2c (prior knowledge) to
{nginx directly, Envoy → nginx, hotproxy → nginx}, with the proxies speaking HTTP/1.1 to nginx
(bench/configs/http.yaml) and, as the second point, h2c (bench/configs/http-h2-upstream.yaml).
compare.py's process handling: the proxy under test pinned to CPU 0 with one worker (Envoy
``--concurrency 1``), nginx and h2load on CPU 1, every proxy on the same config file.

Each point is h2load ``-c C -m M`` for ``--duration`` seconds (``--settings``, ``CxM`` each),
at 12 B and 64 KiB. CPU per request is the user+system time of the target's whole process tree
(arbiter and worker; Envoy's one process) from /proc over the run, divided by the requests
h2load completed; p50 and p99 come from h2load's per-request log. The points are interleaved
within a repetition and the figures are medians of the repetitions; a note says when Envoy's own
figure moved by more than 10% between them.

    python bench/h2_compare.py                                  # 3 reps, 5 s points, ~9 min
    python bench/h2_compare.py --quick                          # 3 s points, one repetition
    python bench/h2_compare.py --settings 10x5 --upstreams h1 --bodies "12 B"
    python bench/h2_compare.py --targets envoy,hotproxy,hotproxy-base --baseline /tmp/base
    python bench/h2_compare.py --fresh        # new proxies for each repetition

A run in which a target completed no request is left out of the medians and named under the
table (hotproxy on an h2 upstream stalls once abandoned streams used up the upstream connection's
window: tests/integration/test_upstream_http2_window.py; ``--fresh`` keeps each repetition
below that).
"""
from __future__ import annotations

import sys

import h2load_compare
import h2load_run
from compare import Bench
from compare_args import comma_list
from compare_common import LOAD_CPU, Target

#: the proxies' upstream protocol: the config each runs, and how the table names it
UPSTREAMS = {"h1": ("http.yaml", "h2c → proxy → HTTP/1.1"), "h2": ("http-h2-upstream.yaml", "h2c → proxy → h2c")}
DIRECT = "direct"
DIRECT_LABEL = "h2c → nginx (no proxy)"
BODY_PATHS = {"12 B": "/", "64 KiB": "/64k"}


class H2Bench(Bench):
    def run(self):
        nginx = self.start_nginx()
        groups, started, samples = None, len(self.processes), {}
        for rep in range(self.args.reps):
            if groups is None or self.args.fresh:
                self.stop_since(started)
                groups = self.start_targets(*nginx)
            for conns, streams in self.args.settings:
                for body, path in self.paths().items():
                    for kind, targets in groups.items():
                        for target in targets:
                            result = h2load_run.run(target, f"http://127.0.0.1:{target.port}{path}", conns,
                                                    streams, self.args.duration, self.dir / "h2load.log")
                            samples.setdefault((kind, (conns, streams), body, target.name), []).append(result)
                            print(f"  rep {rep + 1} {kind:6} {conns}x{streams:<3} {body:>6} {target.name:13} "
                                  f"{result['rps']:8.0f} rps  p50 {result['p50']:6.2f}  p99 {result['p99']:6.2f} ms  "
                                  f"{result['cpu_us']:6.1f} us/req  {result['errors']} errors", file=sys.stderr)
        return groups, samples

    def start_targets(self, nginx_port, nginx_h2_port, nginx):
        """The proxies on each upstream protocol (and nginx itself), warmed; by upstream kind."""
        groups = {}
        if DIRECT in self.args.targets:
            groups[DIRECT] = [Target(DIRECT, nginx_h2_port, nginx.pid)]
        for kind in self.args.upstreams:
            groups[kind] = self.proxies(UPSTREAMS[kind][0], upstream=nginx_port, upstream_h2=nginx_h2_port)
        for targets in groups.values():
            for target in targets:
                for path in self.paths().values():
                    h2load_run.warm(target, f"http://127.0.0.1:{target.port}{path}")
        return groups

    def paths(self):
        return {body: BODY_PATHS[body] for body in self.args.bodies}



def table(groups, samples, args):
    lines = ["| path | c × m | body | target | rps | p50 ms | p99 ms | CPU µs/req | CPU vs Envoy | p99 vs Envoy "
             "| errors |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for conns, streams in args.settings:
        for body in args.bodies:
            for kind, targets in groups.items():
                label = DIRECT_LABEL if kind == DIRECT else UPSTREAMS[kind][1]
                lines += h2load_compare.point_rows(
                    (label, f"{conns} × {streams}", body), targets,
                    lambda name: samples.get((kind, (conns, streams), body, name)))
    return "\n".join(lines)


def point(key):
    """A sample's point in words."""
    kind, (conns, streams), body, _ = key
    return f"{DIRECT_LABEL if kind == DIRECT else UPSTREAMS[kind][1]}, {conns} × {streams}, {body}"


def parse_args(argv):
    parser = h2load_compare.parser(__doc__, [(10, 10), (50, 1), (10, 5)], UPSTREAMS,
                                   "the proxies' upstream protocol: h1, h2 (default both)",
                                   [DIRECT, "envoy", "hotproxy"])
    parser.add_argument("--bodies", type=comma_list(), default=list(BODY_PATHS))
    parser.add_argument("--fresh", action="store_true",
                        help="start the proxies afresh for each repetition (a hotproxy whose h2 upstream "
                             "connection's window leaked stalls; tests/integration/test_upstream_http2_window.py)")
    return h2load_compare.parse(parser, argv, {"--bodies": BODY_PATHS, "--upstreams": UPSTREAMS})


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    bench = H2Bench(args)
    groups, samples = h2load_compare.measure(bench)
    fresh = "; the proxies started afresh for each repetition" if args.fresh else ""
    h2load_compare.report("h2", argv, args, f"nginx on CPU {LOAD_CPU}; c × m: h2load connections × concurrent "
                          f"streams on each{fresh}", table(groups, samples, args),
                          h2load_compare.notes(samples, point, "CPU per request") + bench.notes)


if __name__ == "__main__":
    main()
