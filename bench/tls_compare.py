"""TLS side by side: Envoy and hotproxy terminating TLS in front of nginx, on one core each, with
the same config (bench/configs/https.yaml). Interleaved repetitions, medians.

- Full handshakes and resumed ones: ``openssl s_time -new`` / ``-reuse`` for N seconds against each
  proxy; the proxy's CPU per handshake (user+system of its process tree, from /proc) gives the
  handshakes one core can do per second.
- Keep-alive requests over TLS: wrk over https at 12 B and 64 KiB, CPU per request.

    python bench/tls_compare.py                    # 3 repetitions, 8 s points
    python bench/tls_compare.py --quick
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from compare import LOAD_CPU, PROXY_CPU, ROOT, WRK_LUA, Bench, machine, median, tree_cpu_seconds

_S_TIME = re.compile(r"(\d+) connections in ([\d.]+)s")


class TlsBench(Bench):
    def run(self):
        nginx_port, _h2_port, _nginx = self.start_nginx()
        certs = self.dir / "certs"
        subprocess.run(["bash", str(ROOT / "deploy/double-proxy/gen-certs.sh"), str(certs)], check=True,
                       capture_output=True)
        targets = self.proxies("https.yaml", upstream=nginx_port, cert=certs / "edge-server.pem",
                               key=certs / "edge-server.key")
        lua = self.dir / "report.lua"
        lua.write_text(WRK_LUA)
        samples = {}
        for rep in range(self.args.reps):
            for target in targets:
                for mode in ("new", "reuse"):
                    result = self.handshakes(target, mode)
                    samples.setdefault((f"handshake {mode}", target.name), []).append(result)
                    print(f"  rep {rep + 1} {mode:5} {target.name:8} {result['per_s']:7.0f}/s "
                          f"{result['cpu_us']:7.1f} us CPU each", file=sys.stderr)
                for body, path in (("12 B", "/"), ("64 KiB", "/64k")):
                    result = self.https_requests(target, path, lua)
                    samples.setdefault((f"keep-alive {body}", target.name), []).append(result)
                    print(f"  rep {rep + 1} {body:6} {target.name:8} {result['rps']:7.0f} rps "
                          f"{result['cpu_us']:7.1f} us/req  p99 {result['p99']:.2f} ms", file=sys.stderr)
        return samples

    def handshakes(self, target, mode):
        before = tree_cpu_seconds(target.pid)
        out = subprocess.run(["taskset", "-c", LOAD_CPU, "openssl", "s_time", "-connect",
                              f"127.0.0.1:{target.port}", f"-{mode}", "-time", str(self.args.duration)],
                             capture_output=True, text=True, timeout=self.args.duration + 60).stdout
        cpu = tree_cpu_seconds(target.pid) - before
        count, seconds = (float(x) for x in _S_TIME.findall(out)[0])
        return {"per_s": count / seconds, "cpu_us": cpu * 1e6 / max(count, 1)}

    def https_requests(self, target, path, lua):
        before = tree_cpu_seconds(target.pid)
        out = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{self.args.conns}",
                              f"-d{self.args.duration}s", "-s", str(lua), f"https://127.0.0.1:{target.port}{path}"],
                             capture_output=True, text=True, timeout=self.args.duration + 60).stdout
        cpu = tree_cpu_seconds(target.pid) - before
        requests, p50, p99, errors = (int(x) for x in next(
            line for line in out.splitlines() if line.startswith("RESULT")).split()[1:])
        return {"rps": requests / self.args.duration, "cpu_us": cpu * 1e6 / max(requests, 1),
                "p99": p99 / 1000, "errors": errors}


def table(samples):
    lines = ["| measure | target | rate | CPU µs each | per-core capacity | CPU vs Envoy |",
             "|---|---|---|---|---|---|"]
    for measure in ("handshake new", "handshake reuse", "keep-alive 12 B", "keep-alive 64 KiB"):
        envoy = samples.get((measure, "envoy"))
        for target in ("envoy", "hotproxy", "hotproxy-base"):
            rows = samples.get((measure, target))
            if not rows:
                continue
            rate = median(rows, "per_s" if measure.startswith("handshake") else "rps")
            cpu = median(rows, "cpu_us")
            ratio = f"{cpu / median(envoy, 'cpu_us'):.2f}x" if envoy else "—"
            lines.append(f"| {measure} | {target} | {rate:.0f}/s | {cpu:.1f} | {1e6 / cpu:.0f}/s | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument("--targets", type=lambda v: v.split(","), default=["envoy", "hotproxy"])
    parser.add_argument("--baseline", metavar="DIR")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.duration, args.reps = 3, 1
    bench = TlsBench(args)
    try:
        samples = bench.run()
    finally:
        bench.stop_all()
    command = "python bench/tls_compare.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join([f"Command: `{command.strip()}`", f"Machine: {machine()}",
                      f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {args.reps} interleaved repetitions "
                      f"of {args.duration} s, medians; proxy on CPU {PROXY_CPU}, load on CPU {LOAD_CPU}; "
                      f"keep-alive at {args.conns} connections.", "", table(samples),
                      *[f"- {note}" for note in bench.notes]]) + "\n"
    print(text)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"tls-{datetime.now():%Y%m%d-%H%M%S}.md").write_text(text)


if __name__ == "__main__":
    main()
