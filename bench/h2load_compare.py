"""What h2_compare.py and grpc_compare.py share around their h2load points (h2load_run.py): the
options, a target's row of medians beside Envoy's, the notes on Envoy's spread and on runs that
completed nothing, and the report, printed and kept in bench/results."""
from __future__ import annotations

import argparse
from datetime import datetime, timezone

import h2load_run
from compare import machine
from compare_args import comma_list
from compare_common import HERE, PROXY_CPU
from compare_tables import TARGET_ORDER
from h2load_run import median
from spread import moved_note


def setting(value):
    """``CxM``: h2load's connections and concurrent streams on each."""
    conns, _, streams = value.partition("x")
    return int(conns), int(streams)


def parser(description, settings, upstreams, upstreams_help, targets):
    """The options both scripts take; ``settings``: the default ``(conns, streams)`` points."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per h2load point (default 5)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    shown = ",".join(f"{conns}x{streams}" for conns, streams in settings)
    parser.add_argument("--settings", type=comma_list(setting), default=settings,
                        help=f"h2load connections x streams per connection (default {shown})")
    parser.add_argument("--upstreams", type=comma_list(), default=list(upstreams), help=upstreams_help)
    parser.add_argument("--targets", type=comma_list(), default=targets)
    parser.add_argument("--baseline", metavar="DIR", help="a hotproxy checkout for the hotproxy-base target")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (configs, logs)")
    parser.add_argument("--quick", action="store_true", help="3 s points, one repetition")
    return parser


def parse(parser, argv, choices):
    """The options in ``argv``. ``choices``: for a list option (``--upstreams``), the names it
    knows; any other is refused."""
    args = parser.parse_args(argv)
    for option, known in choices.items():
        unknown = [item for item in getattr(args, option[2:]) if item not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    if args.quick:
        args.duration, args.reps = 3, 1
    return args


def point_rows(cells, targets, runs):
    """The table rows of one point, a target each in TARGET_ORDER: ``cells`` (where the point
    is), then the medians of ``runs(name)`` (that target's runs), its CPU and p99 against
    Envoy's, and its errors."""
    envoy = runs("envoy")
    names = {target.name for target in targets}
    lines = []
    for name in (n for n in TARGET_ORDER if n in names):
        rows = runs(name)
        cpu, p99 = median(rows, "cpu_us"), median(rows, "p99")
        cpu_ratio = p99_ratio = "—"
        if envoy and name not in ("envoy", "direct"):
            cpu_ratio = f"{cpu / median(envoy, 'cpu_us'):.2f}x"
            p99_ratio = f"{p99 / median(envoy, 'p99'):.2f}x"
        lines.append(f"| {' | '.join(cells)} | {name} | {median(rows, 'rps'):.0f} | {median(rows, 'p50'):.2f} | "
                     f"{p99:.2f} | {cpu:.1f} | {cpu_ratio} | {p99_ratio} | {sum(r['errors'] for r in rows)} |")
    return lines


def notes(samples, where, cpu_label):
    """Where Envoy's own figure moved by more than 10%, and runs that completed nothing.
    ``samples``: runs by key, the target's name last; ``where(key)``: that point in words."""
    found = []
    for key, rows in samples.items():
        name, point = key[-1], where(key)
        found.append(h2load_run.stalled_note(f"{name} ({point})", rows))
        if name == "envoy":
            found += [moved_note(f"Envoy's {cpu_label} ({point})", rows, "cpu_us", "µs"),
                      moved_note(f"Envoy's p99 ({point})", rows, "p99", "ms")]
    return [note for note in found if note]


def measure(bench):
    """``bench.run()``'s result; the bench's processes are stopped after, whatever happened."""
    try:
        return bench.run()
    finally:
        bench.stop_all()


def report(name, argv, args, setup, table, notes):
    """Print the report of ``python bench/{name}_compare.py argv`` and keep it as
    bench/results/{name}-<time>.md. ``setup``: what shares the load CPU with h2load, and the
    rest of what the figures are."""
    command = f"python bench/{name}_compare.py " + " ".join(argv)
    text = "\n".join([
        f"Command: `{command.strip()}`", f"Machine: {machine()}",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.reps} interleaved repetitions of "
        f"{args.duration} s per point, medians; proxy on CPU {PROXY_CPU} (one worker), h2load and {setup}.", "",
        table, "", *[f"- {note}" for note in notes]]) + "\n"
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}-{datetime.now():%Y%m%d-%H%M%S}.md").write_text(text)
