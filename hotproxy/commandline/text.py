"""What ``--help`` and ``--version`` print."""
from __future__ import annotations

import os
import ssl
import subprocess
import textwrap

from .. import __version__
from .flags import ENVOY_FLAGS, HOTPROXY_FLAGS, Flag

_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_UNKNOWN_REVISION = "0" * 40

INTRODUCTION = """\
usage: hotproxy -c CONFIG [FLAGS]

hotproxy takes Envoy's command line: every flag of Envoy 1.40 under Envoy's name, with Envoy's
meaning where hotproxy has the concept; the few it refuses say why. hotproxy's own flags follow
Envoy's. Signals to the arbiter: HUP reload, TERM/INT stop, QUIT drain then stop, USR1 reopen
the access logs, USR2 hot restart, TTIN/TTOU one worker more/less.
"""


def help_text() -> str:
    sections = [INTRODUCTION, "Envoy's flags:", *map(_describe, ENVOY_FLAGS),
                "  --, --ignore_rest\n      ignore every argument after it",
                "", "hotproxy's own flags:", *map(_describe, HOTPROXY_FLAGS)]
    return "\n".join(sections) + "\n"


def _describe(flag: Flag) -> str:
    head = "  " + ", ".join(flag.names) + (f" {flag.metavar}" if flag.metavar else "")
    body = textwrap.fill(flag.help, width=96, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return f"{head}\n{body}"


def version_text() -> str:
    """Envoy's --version layout, naming hotproxy: revision/version/tree status/build/TLS library."""
    return f"\nhotproxy  version: {build_version()}\n\n"


def build_version() -> str:
    revision, status = _UNKNOWN_REVISION, "Clean"
    if os.path.isdir(os.path.join(_SOURCE_ROOT, ".git")):
        revision = _git("rev-parse", "HEAD") or _UNKNOWN_REVISION
        if _git("status", "--porcelain", "--untracked-files=no"):
            status = "Modified"
    tls_library = ssl.OPENSSL_VERSION.split()[0]
    return f"{revision}/{__version__}/{status}/RELEASE/{tls_library}"


def _git(*args) -> str:
    try:
        return subprocess.run(["git", "-C", _SOURCE_ROOT, *args], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
