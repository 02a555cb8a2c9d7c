"""The zygote imports the TLS modules a worker leaves out until its config asks for TLS: a name
that no longer imports would stop the zygote, and every reload would fall back to fork+exec."""
import importlib
import subprocess
import sys

from hotproxy.process.zygote import TLS_MODULES


def test_every_tls_module_the_zygote_preloads_imports():
    for name in TLS_MODULES:
        importlib.import_module(name)


def test_a_plain_worker_imports_none_of_them():
    code = ("import sys, hotproxy.process.worker; "
            "print(sorted(m for m in sys.modules if m in {'ssl', '_ssl', '_hashlib', 'hashlib'} "
            "or m.startswith('hotproxy.tls')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
