"""What the zygote prepares for the workers it forks: the TLS modules a worker leaves out until its
config asks for TLS (a name that no longer imports would stop the zygote, and every reload would
fall back to fork+exec), and the gevent settings a hub reads as it starts, without a hub of its
own (a fork must copy no loop)."""
import importlib
import subprocess
import sys

from hotproxy.process.zygote import TLS_MODULES


def test_every_tls_module_the_zygote_preloads_imports():
    for name in TLS_MODULES:
        importlib.import_module(name)


def test_the_hub_settings_come_resolved_and_no_hub_is_started():
    code = ("import sys, importlib; from hotproxy.process import zygote; "
            "importlib.import_module(zygote.WORKER_MODULE); zygote._resolve_hub_settings(); "
            "from gevent._hub_local import get_hub_if_exists; "
            "print(get_hub_if_exists() is None, 'pprint' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True"]


def test_a_plain_worker_imports_none_of_them():
    code = ("import sys, hotproxy.process.worker; "
            "print(sorted(m for m in sys.modules if m in {'ssl', '_ssl', '_hashlib', 'hashlib'} "
            "or m.startswith('hotproxy.tls')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
