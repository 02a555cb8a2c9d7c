"""bench/xds_scale.py's report: medians with their spread, the timing, CPU and RSS tables."""
from __future__ import annotations

import os
import platform
import statistics

# --- the report ----------------------------------------------------------------------------------

def summarize(values):
    """'median [min–max]' and whether the spread is large against the median."""
    med = statistics.median(values)
    low, high = min(values), max(values)
    noisy = len(values) > 1 and med > 0 and (high - low) / med > 0.5
    return med, low, high, noisy


def fmt(value, metric):
    if "errors" in metric or metric.startswith("reload failed"):
        return f"{value:.0f}"
    if "(ms)" in metric:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(values, metric):
    if not values:
        return "—"
    med, low, high, noisy = summarize(values)
    text = fmt(med, metric)
    if len(values) > 1:
        text += f" [{fmt(low, metric)}–{fmt(high, metric)}]"
    return text + (" ‡" if noisy else "")


PHASES = ("start", "rest", "idle, per minute", "eds-1", "eds-all", "cds-add", "cds-remove")
#: the figures measured the same way for both proxies, for the ratio column
COMPARABLE = {"first 200 through the probe cluster", "every worker moved", "  the same, from set()'s return",
              "  ACK at the control plane", "first 200 through the new cluster",
              "first refused request through the removed cluster", "CPU per probe request (ms)"}


def timing_table(runs, targets):
    samples = {}
    order = []
    for run in runs:
        for phase, metric, value in run.results:
            key = (phase, metric)
            if key not in order:
                order.append(key)
            samples.setdefault((run.kind, phase, metric), []).append(value)
    order.sort(key=lambda key: PHASES.index(key[0]))
    head = "| phase | figure (seconds unless said) | " + " | ".join(targets)
    lines = [head + (" | hotproxy / Envoy |" if len(targets) == 2 else " |"),
             "|---|---|" + "---|" * (len(targets) + (1 if len(targets) == 2 else 0))]
    for phase, metric in order:
        row = [cell(samples.get((t, phase, metric), []), metric) for t in targets]
        ratio = []
        if len(targets) == 2:
            a, b = (samples.get((t, phase, metric)) for t in targets)
            ratio = ["—"]
            if a and b and metric in COMPARABLE and statistics.median(b) > 0:
                # under 50 ms, Envoy's figure is a few probe spacings: the ratio is rough
                rough = "(ms)" not in metric and statistics.median(b) < 0.05
                ratio = [f"{'~' if rough else ''}{statistics.median(a) / statistics.median(b):.{0 if rough else 1}f}x"]
        lines.append(f"| {phase} | {metric} | " + " | ".join(row + ratio) + " |")
    return "\n".join(lines)


def cpu_table(runs, targets):
    samples, roles_seen = {}, []
    for run in runs:
        for phase, roles in run.cpu:
            for role, seconds in roles.items():
                if role not in roles_seen:
                    roles_seen.append(role)
                samples.setdefault((run.kind, phase, role), []).append(seconds)
    preferred = ["arbiter", "xds", "worker", "flusher", "envoy", "control-plane"]
    roles = [r for r in preferred if r in roles_seen] + [r for r in roles_seen if r not in preferred]
    lines = ["| target | phase | " + " | ".join("workers (all)" if r == "worker" else r for r in roles) + " |",
             "|---|---|" + "---|" * len(roles)]
    for target in targets:
        for phase in PHASES:
            row = [cell(samples.get((target, phase, role), []), "cpu") for role in roles]
            if all(c == "—" for c in row):
                continue
            lines.append(f"| {target} | {phase} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def rss_table(runs, targets):
    lines = ["| target | process | RSS MiB after the first generation | at the end |", "|---|---|---|---|"]
    for target in targets:
        mine = [run for run in runs if run.kind == target]
        roles = []
        for run in mine:
            roles += [r for r in run.rss if r not in roles]
        for role in roles:
            def values(attr):
                out = []
                for run in mine:
                    for rss in getattr(run, attr, {}).get(role, []):
                        out.append(rss / 2**20)
                return out
            count = max(len(run.rss.get(role, [])) for run in mine)
            name = role + (f" (each of {count})" if count > 1 else "")
            lines.append(f"| {target} | {name} | {cell(values('rss'), 'rss')} | {cell(values('rss_end'), 'rss')} |")
    return "\n".join(lines)


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, {model}, Linux {platform.release()}, Python {platform.python_version()}; "
            f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
