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

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import h2load_run
from compare import Bench, machine
from compare_args import comma_list
from compare_common import LOAD_CPU, PROXY_CPU, Target
from compare_tables import TARGET_ORDER
from h2load_run import median
from spread import moved_note

#: the proxies' upstream protocol: the config each runs, and how the table names it
UPSTREAMS = {"h1": ("http.yaml", "h2c → proxy → HTTP/1.1"), "h2": ("http-h2-upstream.yaml", "h2c → proxy → h2c")}
DIRECT = "direct"
DIRECT_LABEL = "h2c → nginx (no proxy)"
BODY_PATHS = {"12 B": "/", "64 KiB": "/64k"}


def setting(value):
    conns, _, streams = value.partition("x")
    return int(conns), int(streams)


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
                envoy = samples.get((kind, (conns, streams), body, "envoy"))
                names = {target.name for target in targets}
                for name in (n for n in TARGET_ORDER if n in names):
                    rows = samples[(kind, (conns, streams), body, name)]
                    cpu, p99 = median(rows, "cpu_us"), median(rows, "p99")
                    cpu_ratio = p99_ratio = "—"
                    if envoy and name != "envoy":
                        cpu_ratio = f"{cpu / median(envoy, 'cpu_us'):.2f}x"
                        p99_ratio = f"{p99 / median(envoy, 'p99'):.2f}x"
                    label = DIRECT_LABEL if kind == DIRECT else UPSTREAMS[kind][1]
                    lines.append(f"| {label} | {conns} × {streams} | {body} | {name} | {median(rows, 'rps'):.0f} | "
                                 f"{median(rows, 'p50'):.2f} | {p99:.2f} | {cpu:.1f} | {cpu_ratio} | {p99_ratio} | "
                                 f"{sum(r['errors'] for r in rows)} |")
    return "\n".join(lines)


def notes(samples):
    """Where Envoy's own figure moved by more than 10%, and runs that completed nothing."""
    found = []
    for (kind, (conns, streams), body, name), rows in samples.items():
        path = DIRECT_LABEL if kind == DIRECT else UPSTREAMS[kind][1]
        found.append(h2load_run.stalled_note(f"{name} ({path}, {conns} × {streams}, {body})", rows))
        if name == "envoy":
            where = f"Envoy's {{}} ({path}, {conns} × {streams}, {body})"
            found += [moved_note(where.format("CPU per request"), rows, "cpu_us", "µs"),
                      moved_note(where.format("p99"), rows, "p99", "ms")]
    return [note for note in found if note]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per h2load point (default 5)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--settings", type=comma_list(setting), default=[(10, 10), (50, 1), (10, 5)],
                        help="h2load connections x streams per connection (default 10x10,50x1,10x5)")
    parser.add_argument("--bodies", type=comma_list(), default=list(BODY_PATHS))
    parser.add_argument("--upstreams", type=comma_list(), default=list(UPSTREAMS),
                        help="the proxies' upstream protocol: h1, h2 (default both)")
    parser.add_argument("--targets", type=comma_list(), default=[DIRECT, "envoy", "hotproxy"])
    parser.add_argument("--baseline", metavar="DIR", help="a hotproxy checkout for the hotproxy-base target")
    parser.add_argument("--fresh", action="store_true",
                        help="start the proxies afresh for each repetition (a hotproxy whose h2 upstream "
                             "connection's window leaked stalls; tests/integration/test_upstream_http2_window.py)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (configs, logs)")
    parser.add_argument("--quick", action="store_true", help="3 s points, one repetition")
    args = parser.parse_args(argv)
    for option, given, known in (("--bodies", args.bodies, BODY_PATHS), ("--upstreams", args.upstreams, UPSTREAMS)):
        unknown = [item for item in given if item not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    if args.quick:
        args.duration, args.reps = 3, 1
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    bench = H2Bench(args)
    try:
        groups, samples = bench.run()
    finally:
        bench.stop_all()
    command = "python bench/h2_compare.py " + " ".join(argv)
    text = "\n".join([
        f"Command: `{command.strip()}`", f"Machine: {machine()}",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.reps} interleaved repetitions of "
        f"{args.duration} s per point, medians; proxy on CPU {PROXY_CPU} (one worker), h2load and nginx on CPU "
        f"{LOAD_CPU}; c × m: h2load connections × concurrent streams on each"
        f"{'; the proxies started afresh for each repetition' if args.fresh else ''}.", "",
        table(groups, samples, args), "",
        *[f"- {note}" for note in notes(samples) + bench.notes]]) + "\n"
    print(text)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"h2-{datetime.now():%Y%m%d-%H%M%S}.md").write_text(text)


if __name__ == "__main__":
    main()
