"""compare.py's report: one Markdown table per point, medians of the repetitions, ratios to
Envoy in the same run, and a note wherever Envoy's own figure moved by more than 10%."""
from __future__ import annotations

from reload_load import ENVOY_DRAIN_ARGS, RELOAD_EVERY_S
from spread import median, moved_note

HOTPROXY_TARGETS = ("hotproxy", "hotproxy-scraped", "hotproxy-base")
TARGET_ORDER = ("direct", "envoy", *HOTPROXY_TARGETS)
BODIES = ("12 B", "64 KiB", "1 MiB")


def http_table(samples, args):
    lines = ["| body | conns | target | rps | p50 ms | p99 ms | CPU µs/req | CPU vs Envoy | p99 vs Envoy | errors |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for body in BODIES:
        for conns in args.conns:
            envoy = samples.get((body, conns, "envoy"))
            for target in TARGET_ORDER:
                rows = samples.get((body, conns, target))
                if not rows:
                    continue
                cpu, p99 = median(rows, "cpu_us"), median(rows, "p99")
                cpu_ratio = p99_ratio = "—"
                if envoy and target != "direct":
                    cpu_ratio = f"{cpu / median(envoy, 'cpu_us'):.2f}x"
                    p99_ratio = f"{p99 / median(envoy, 'p99'):.2f}x"
                lines.append(f"| {body} | {conns} | {target} | {median(rows, 'rps'):.0f} | {median(rows, 'p50'):.2f} | "
                             f"{p99:.2f} | {cpu:.1f} | {cpu_ratio} | {p99_ratio} | {sum(r['errors'] for r in rows)} |")
    return "\n".join(lines)


def http_envoy_moved(samples, args):
    notes = []
    for body in BODIES:
        for conns in args.conns:
            rows = samples.get((body, conns, "envoy"))
            if rows:
                notes += [moved_note(f"Envoy's {label} at {body}, c={conns},", rows, key, unit)
                          for key, label, unit in (("cpu_us", "CPU per request", "µs"), ("p99", "p99", "ms"))]
    return [note for note in notes if note]


def tcp_table(samples):
    lines = ["| target | MB/s | CPU s per GB | throughput vs Envoy |", "|---|---|---|---|"]
    envoy = samples.get("envoy")
    for target in TARGET_ORDER:
        rows = samples.get(target)
        if not rows:
            continue
        mbps = median(rows, "mbps")
        ratio = f"{mbps / median(envoy, 'mbps'):.2f}x" if envoy and target != "direct" else "—"
        lines.append(f"| {target} | {mbps:.0f} | {median(rows, 'cpu_s_per_gb'):.2f} | {ratio} |")
    return "\n".join(lines)


def tcp_envoy_moved(samples):
    rows = samples.get("envoy")
    note = rows and moved_note("Envoy's TCP throughput", rows, "mbps", "MB/s")
    return [note] if note else []


def memory_table(samples):
    lines = ["| target | RSS per worker MB | whole tree MB | KB per idle conn | KB/conn vs Envoy | "
             "idle conns open | failed |", "|---|---|---|---|---|---|---|"]
    envoy = samples.get("envoy")
    for target in TARGET_ORDER:
        rows = samples.get(target)
        if not rows:
            continue
        per_conn = median(rows, "kb_per_conn")
        ratio = f"{per_conn / median(envoy, 'kb_per_conn'):.2f}x" if envoy and median(envoy, "kb_per_conn") > 0 \
            else "—"
        lines.append(f"| {target} | {median(rows, 'rss_mb_per_holder'):.1f} | {median(rows, 'tree_rss_mb'):.1f} | "
                     f"{per_conn:.1f} | {ratio} | {min(r['open'] for r in rows)} | "
                     f"{sum(r['failed'] for r in rows)} |")
    return "\n".join(lines)


def memory_envoy_moved(samples):
    rows = samples.get("envoy")
    note = rows and moved_note("Envoy's KB per idle connection", rows, "kb_per_conn", "KB")
    return [note] if note else []


def reload_table(samples):
    lines = ["| target | reloads | conns | rps | p50 ms | p99 ms | p99 without reloads ms | p99 added ms | "
             "reloads done | errors |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (label, conns, mode), rows in sorted(samples.items()):
        if mode != "reload":
            continue
        base = samples.get((label, conns, "steady"))
        p99 = median(rows, "p99")
        base_p99 = median(base, "p99") if base else float("nan")
        lines.append(f"| {label} | every {rows[0]['every_s']:g} s | {conns} | {median(rows, 'rps'):.0f} | "
                     f"{median(rows, 'p50'):.2f} | {p99:.2f} | {base_p99:.2f} | {p99 - base_p99:+.2f} | "
                     f"{sum(r['generations'] for r in rows)} of {sum(r['reloads'] for r in rows)} | "
                     f"{sum(r['errors'] for r in rows)} (steady {sum(r['errors'] for r in base or [])}) |")
    return "\n".join(lines)


def reload_envoy_moved(samples):
    notes = []
    for (label, conns, mode), rows in sorted(samples.items()):
        if label.startswith("envoy"):
            notes.append(moved_note(f"Envoy's p99 at c={conns} ({mode})", rows, "p99", "ms"))
    return [note for note in notes if note]


def result_sections(args, http, tcp, memory, reloads):
    """The tables of the points that ran (None: did not), and the notes on Envoy's movement."""
    lines, moved = [], []
    if http is not None:
        lines += ["", http_table(http, args)]
        moved += http_envoy_moved(http, args)
    if tcp is not None:
        lines += ["", f"TCP proxy bulk transfer ({args.tcp_seconds} s per run):", "", tcp_table(tcp)]
        moved += tcp_envoy_moved(tcp)
    if memory is not None:
        lines += ["", f"Memory: RSS per worker after a warm-up (Envoy: its one process), and the RSS that "
                  f"{args.idle_conns} idle keep-alive connections (one request each) added to the processes "
                  "holding them, per connection:", "", memory_table(memory)]
        moved += memory_envoy_moved(memory)
    if reloads is not None:
        lines += ["", f"Reload under load: 12 B, {args.duration} s per run, a reload every {RELOAD_EVERY_S:g} s "
                  "against a run without right before it. hotproxy's reload is a SIGHUP (a new worker "
                  "generation); Envoy's is a hot restart (a new epoch, "
                  f"{' '.join(ENVOY_DRAIN_ARGS)}), since it has no in-process reload of a static config. "
                  "\"reloads done\": the generations or epochs the proxy reached of those asked for.", "",
                  reload_table(reloads)]
        moved += reload_envoy_moved(reloads)
    return lines, moved
