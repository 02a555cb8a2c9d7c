"""compare.py's memory and reload-under-load points, as methods of its Bench."""
from __future__ import annotations

import sys

import idle_memory
import reload_load
from compare_common import LOAD_CPU, PROXY_CPU, VENV_BIN, Target, free_port, wait_for_port
from compare_tables import HOTPROXY_TARGETS


class MemoryAndReloadPoints:
    """Mixed into compare.Bench: uses its args, proxies(), render(), start(), wrk()."""

    def run_memory(self, nginx_port, nginx_h2_port):
        """A fresh proxy per target and repetition: RSS per worker, KB per idle connection."""
        idle_memory.raise_open_files_limit(idle_memory.open_files_needed(self.args.idle_conns))
        names = [name for name in ("envoy", *HOTPROXY_TARGETS) if name in self.args.targets]
        samples = {}
        for rep in range(self.args.reps):
            for name in names:
                started = len(self.processes)
                targets = self.proxies(self.http_config(), names=(name,), upstream=nginx_port,
                                       upstream_h2=nginx_h2_port)
                try:
                    for target in targets:
                        result = idle_memory.measure(target.port, target.pid, self.args.idle_conns, LOAD_CPU)
                        samples.setdefault(target.name, []).append(result)
                        print(f"  rep {rep + 1} memory {target.name:8} {result['rss_mb_per_holder']:6.1f} MB/worker "
                              f"{result['kb_per_conn']:6.1f} KB/idle conn ({result['open']} open)", file=sys.stderr)
                finally:
                    self.stop_since(started)
        return samples

    # reload under load

    def run_reload(self, nginx_port, nginx_h2_port, lua):
        config = self.http_config()
        ports = {"upstream": nginx_port, "upstream_h2": nginx_h2_port}
        reloaders = []
        if "envoy" in self.args.targets and (VENV_BIN / "envoy").exists():
            port = free_port()
            rendered = self.render(config, "envoy-reload", listen=port, **ports)
            reloaders.append((reload_load.EnvoyHotRestarts(self.start, VENV_BIN / "envoy", PROXY_CPU, rendered,
                                                           self.base_id()), port))
            wait_for_port(port)
        for target in self.proxies(config, names=[n for n in HOTPROXY_TARGETS if n in self.args.targets], **ports):
            reloaders.append((reload_load.HotproxyReloads(target), target.port))
        samples = {}
        for reloader, port in reloaders:
            self.wrk(Target(reloader.label, port, reloader.pid), "/", max(self.args.reload_conns), lua)
        for rep in range(self.args.reps):
            for conns in self.args.reload_conns:
                for reloader, port in reloaders:
                    def load():
                        return self.wrk(Target(reloader.label, port, reloader.pid), "/", conns, lua)
                    for mode, run in (("steady", reload_load.steady), ("reload", reload_load.under_reloads)):
                        result = {**run(reloader, load), "every_s": reload_load.RELOAD_EVERY_S}
                        samples.setdefault((reloader.label, conns, mode), []).append(result)
                        print(f"  rep {rep + 1} {mode:6} c={conns:<3} {reloader.label:17} p99 {result['p99']:6.2f} ms "
                              f"{result['generations']}/{result['reloads']} reloads {result['errors']} errors",
                              file=sys.stderr)
        return samples
