"""gRPC unary side by side (issue 19's performance point): h2load sends unary calls (a POST of one
length-prefixed message, ``content-type: application/grpc``, ``te: trailers``) over h2c to
{the upstream directly, Envoy → upstream, hotproxy → upstream}, both proxies on the same config
(bench/configs/grpc.yaml: the grpc route matcher, h2c to the upstream). compare.py's process
handling: the proxy pinned to CPU 0 with one worker (Envoy ``--concurrency 1``), the upstream
and h2load on CPU 1.

Two upstreams, interleaved:
- ``nginx``: a gRPC-shaped responder in C, so that the upstream does not bound the rate: nginx
  answers ``/test.Echo/Say`` with 200 ``application/grpc``, one message (``hello world``) and a
  ``grpc-status: 0`` trailer (add_trailer);
- ``grpcio``: grpcio's own server (tests/integration/grpc_upstream.py's echo service, a Python
  handler per call), about 2,500 calls per second on one core, so the proxies run below their
  capacity there and their CPU per call includes less batching.

Before measuring, a grpcio client makes one call through every target and checks the reply,
the OK status and (grpcio upstream) the trailer: what h2load counts as a success is a real gRPC
call. CPU per call is the user+system time of the target's process tree from /proc over the
h2load run, divided by the calls completed; p50 and p99 come from h2load's per-request log.

    python bench/grpc_compare.py                     # 3 reps, 5 s points, ~3 min
    python bench/grpc_compare.py --quick
    python bench/grpc_compare.py --settings 10x10 --upstreams nginx
"""
from __future__ import annotations

import struct
import sys
import time

import h2load_compare
import h2load_run
from compare import Bench
from compare_common import LOAD_CPU, ROOT, Target, free_port, wait_for_port

METHOD = "/test.Echo/Say"
REQUEST, REPLY = b"world", b"hello world"
UPSTREAMS = ("nginx", "grpcio")
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx-grpc.pid;
error_log {dir}/nginx-grpc-error.log;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  etag off;
  server {{
    listen 127.0.0.1:{port} http2;
    # the static module refuses a POST (405); the error page turns it into a GET of the reply
    location = {method} {{ error_page 405 =200 /grpc-reply; return 405; }}
    location = /grpc-reply {{
      internal;
      default_type application/grpc;
      add_trailer grpc-status 0;
      alias {dir}/grpc-reply.bin;
    }}
  }}
}}
"""
SERVE_GRPCIO = f"""
import sys, time
sys.path.insert(0, {str(ROOT / 'tests' / 'integration')!r})
from grpc_upstream import grpcio_echo_server
with grpcio_echo_server() as port:
    print(port, flush=True)
    while True:
        time.sleep(3600)
"""


def message(payload):
    """One gRPC length-prefixed message, uncompressed."""
    return struct.pack(">BI", 0, len(payload)) + payload


def call(port):
    """One unary call by grpcio's client: (reply, status code, trailing metadata as a dict)."""
    import grpc
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply, outcome = channel.unary_unary(METHOD).with_call(REQUEST, timeout=10)
        return reply, outcome.code(), dict(outcome.trailing_metadata() or ())


class GrpcBench(Bench):
    def run(self):
        groups = {}     # upstream kind -> (direct target, proxies)
        for kind in self.args.upstreams:
            port, pid = self.start_nginx_grpc() if kind == "nginx" else self.start_grpcio()
            direct = [Target("direct", port, pid)] if "direct" in self.args.targets else []
            groups[kind] = direct + self.proxies("grpc.yaml", upstream_h2=port)
        for kind, targets in groups.items():
            for target in targets:
                self.check(kind, target)
        body = self.dir / "grpc-request.bin"
        body.write_bytes(message(REQUEST))
        extra = ["-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers"]
        for targets in groups.values():
            for target in targets:
                h2load_run.warm(target, self.url(target), extra=extra)
        samples = {}
        for rep in range(self.args.reps):
            for conns, streams in self.args.settings:
                for kind, targets in groups.items():
                    for target in targets:
                        result = h2load_run.run(target, self.url(target), conns, streams, self.args.duration,
                                                self.dir / "h2load.log", extra)
                        samples.setdefault((kind, (conns, streams), target.name), []).append(result)
                        print(f"  rep {rep + 1} {kind:6} {conns}x{streams:<3} {target.name:13} {result['rps']:8.0f} "
                              f"calls/s  p50 {result['p50']:6.2f}  p99 {result['p99']:6.2f} ms  "
                              f"{result['cpu_us']:6.1f} us/call  {result['errors']} errors", file=sys.stderr)
        return groups, samples

    @staticmethod
    def url(target):
        return f"http://127.0.0.1:{target.port}{METHOD}"

    def start_nginx_grpc(self):
        port = free_port()
        (self.dir / "grpc-reply.bin").write_bytes(message(REPLY))
        conf = self.dir / "nginx-grpc.conf"
        conf.write_text(NGINX_CONF.format(dir=self.dir, port=port, method=METHOD))
        process = self.start(["nginx", "-c", str(conf), "-p", str(self.dir)], LOAD_CPU, "nginx-grpc.log")
        wait_for_port(port)
        return port, process.pid

    def start_grpcio(self):
        process = self.start([sys.executable, "-c", SERVE_GRPCIO], LOAD_CPU, "grpcio-upstream.log")
        log = self.dir / "grpcio-upstream.log"
        deadline = time.monotonic() + 30
        while not log.read_text().strip():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the grpcio upstream did not start: {log.read_text()}")
            time.sleep(0.1)
        port = int(log.read_text().split()[0])
        wait_for_port(port)
        return port, process.pid

    @staticmethod
    def check(kind, target):
        """A real gRPC client's call through the target: the reply, OK, and the upstream's trailer."""
        import grpc
        reply, code, trailers = call(target.port)
        if reply != REPLY or code != grpc.StatusCode.OK:
            raise RuntimeError(f"{target.name} ({kind}): a unary call gave {code} {reply!r}")
        if kind == "grpcio" and trailers.get("x-trailer") != "t":
            raise RuntimeError(f"{target.name} ({kind}): the upstream's trailer was lost: {trailers}")


def table(groups, samples, args):
    lines = ["| upstream | c × m | target | calls/s | p50 ms | p99 ms | CPU µs/call | CPU vs Envoy | p99 vs Envoy "
             "| errors |", "|---|---|---|---|---|---|---|---|---|---|"]
    for conns, streams in args.settings:
        for kind, targets in groups.items():
            lines += h2load_compare.point_rows((kind, f"{conns} × {streams}"), targets,
                                               lambda name: samples.get((kind, (conns, streams), name)))
    return "\n".join(lines)


def point(key):
    """A sample's point in words."""
    kind, (conns, streams), _ = key
    return f"{kind} upstream, {conns} × {streams}"


def parse_args(argv):
    parser = h2load_compare.parser(__doc__, [(10, 10), (50, 1)], UPSTREAMS,
                                   "of " + ", ".join(UPSTREAMS) + " (default both)", ["direct", "envoy", "hotproxy"])
    return h2load_compare.parse(parser, argv, {"--upstreams": UPSTREAMS})


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    bench = GrpcBench(args)
    groups, samples = h2load_compare.measure(bench)
    h2load_compare.report(
        "grpc", argv, args, f"the upstream on CPU {LOAD_CPU}; gRPC unary, {len(message(REQUEST))} B request and "
        f"{len(message(REPLY))} B reply messages; c × m: h2load connections × concurrent calls on each; direct's "
        "CPU is the upstream's own", table(groups, samples, args),
        h2load_compare.notes(samples, point, "CPU per call") + bench.notes)


if __name__ == "__main__":
    main()
