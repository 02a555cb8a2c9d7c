"""``hotproxy --mode diff -c NEW --against ADMIN_URL`` (docs/reloads.md): the reload report of
NEW against the config a running server serves, before anything is applied.

NEW is read and checked exactly as ``--mode validate`` and a reload read it. The running side
comes from the server's admin, ``/hotproxy/config_inventory``: digests of what its serving
generation parsed (config/diff.py), certificates as the bytes it loaded, no key material.
Exit status as diff(1)'s: 0 no change, 1 changes, 2 trouble (NEW is invalid, the admin cannot
be read).
"""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from ..config.diff import diff_inventories, inventory
from ..errors import ConfigError
from ..process.validate import ConfigReader

INVENTORY_PATH = "/hotproxy/config_inventory"
TIMEOUT_S = 10.0
SAME, DIFFERENT, TROUBLE = 0, 1, 2


def run_diff(options, out=sys.stdout, err=sys.stderr) -> int:
    source = options.config_source()
    try:
        _text, bootstrap = ConfigReader(source).read()
    except ConfigError as error:
        print(f"hotproxy: invalid configuration '{source.name}':\n{error}", file=err)
        return TROUBLE
    try:
        running = fetch_inventory(options.against)
    except (OSError, ValueError) as error:
        print(f"hotproxy: --against {options.against}: {error}", file=err)
        return TROUBLE
    report = diff_inventories(running["inventory"], inventory(bootstrap))
    generation = running.get("generation")
    print(f"'{source.name}' against generation {generation if generation is not None else '-'} "
          f"at {options.against}: {report.text()}", end="", file=out)
    dynamic = running.get("dynamic") or {}
    if dynamic.get("listeners") or dynamic.get("clusters"):
        print(f"  (from xDS, not compared: {len(dynamic.get('listeners', []))} listeners, "
              f"{len(dynamic.get('clusters', []))} clusters)", file=out)
    return DIFFERENT if report.changed else SAME


def fetch_inventory(admin_url: str) -> dict:
    """The running server's inventory. Raises OSError (unreachable, an HTTP error) or ValueError
    (not a hotproxy admin)."""
    base = admin_url if "://" in admin_url else f"http://{admin_url}"
    url = base.rstrip("/") + INVENTORY_PATH
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
            body = answer.read()
    except urllib.error.HTTPError as error:
        raise OSError(f"{url} answered {error.code}: is this a hotproxy admin?") from None
    except urllib.error.URLError as error:
        raise OSError(f"cannot read {url}: {error.reason}") from None
    try:
        running = json.loads(body)
    except ValueError:
        raise ValueError(f"{url} did not answer JSON") from None
    if not isinstance(running, dict) or not isinstance(running.get("inventory"), dict):
        raise ValueError(f"{url} did not answer a config inventory")
    return running
