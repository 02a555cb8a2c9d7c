"""The config loader on raw bytes: ``parse_text`` (JSON, else YAML) on them as text, and
``load_bootstrap`` on them as a file read as JSON (its reading and decoding, and JSON only). Each
returns a Bootstrap or raises ConfigError, whose problems are well-formed (path, reason) pairs."""
import os
from functools import lru_cache

from fuzzkit.config_checks import parsed_or_problems
from hotproxy.config import load_bootstrap, parse_text

MAX_LEN = 2048
#: The smoke test reads no more of each input: YAML is read by pure Python, 2 ms a KiB.
SMOKE_MAX_LEN = 512
DICTIONARY = (
    b"static_resources:", b"listeners:", b"clusters:", b"filter_chains:", b"typed_config:",
    b'"@type": ', b"- ", b": ", b"{ ", b" }", b"[", b"]", b"&a ", b"*a", b"<<: ", b"!!str ",
    b"!!binary ", b"? ", b"|\n", b">-\n", b"---\n", b"...\n", b"%YAML 1.1\n", b"\t", b'"\\u0000"',
    b"!!int ", b"!!float ", b"!!bool ", b"!!timestamp ", b"!!map ", b"!!seq ", b"!!set ", b"!!omap ",
    b"'", b"#", b"~", b".nan", b"-.inf", b"0x1F", b"0o17", b"1_000", b"1e400", b"yes", b"null",
    b"NaN", b"Infinity", b"{}", b"[]", b'{"": ', b"\xef\xbb\xbf",
)


@lru_cache(maxsize=1)
def _file() -> tuple[int, str]:
    """An in-memory file and its path; the path has no .yaml ending, so it is read as JSON."""
    descriptor = os.memfd_create("fuzz-bootstrap")
    return descriptor, f"/proc/self/fd/{descriptor}"


def check(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass  # load_bootstrap below refuses it
    else:
        parsed_or_problems(parse_text, text)
    descriptor, path = _file()
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, data, 0)
    parsed_or_problems(load_bootstrap, path)
