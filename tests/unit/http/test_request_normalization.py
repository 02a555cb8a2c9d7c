"""Path and Host normalization before routing; every expectation was observed on Envoy 1.40
(docs/envoy-reference.md, "Path and Host normalization")."""
from types import SimpleNamespace

import pytest

from hotproxy.http.request_normalization import (FORWARD, REDIRECT, REJECT, HostNormalizer, PathNormalizer,
                                                 canonical_path)


@pytest.mark.parametrize("path, expected", [
    (b"/a/b/../c", b"/a/c"), (b"/a/./b", b"/a/b"), (b"/a//b", b"/a//b"), (b"/a/%2e%2e/x", b"/x"),
    (b"/a/%41%42", b"/a/AB"), (b"/a/b\\c", b"/a/b/c"), (b"/a/..", b"/"), (b"/../a/x", b"/a/x"),
    (b"/a/b/%2E/c", b"/a/b/c"), (b"/a/%7e", b"/a/~"), (b"/a/%zz", b"/a/%zz"), (b"/a/b%252Fc", b"/a/b%252Fc"),
    (b"/a/%C3%A9", b"/a/%C3%A9"), (b"/a/b%2Fc", b"/a/b%2Fc"), (b"/a/b%5Cc", b"/a/b%5Cc"),
    (b"/a/b/..%2f..%2f..%2fetc", b"/a/b/..%2f..%2f..%2fetc"), (b"/a/b//../c", b"/a/b/c"),
    (b"/a/b/.../c", b"/a/b/.../c"), (b"/a/b/..c/d", b"/a/b/..c/d"), (b"/a/%2E%2e", b"/"), (b"/a/b/.", b"/a/b/"),
    (b"/a/b/..", b"/a/"), (b"/a/%2541", b"/a/%2541"), (b"/a/%2a%2D%5F%2e", b"/a/%2a-_."), (b"/a/b%3Fc", b"/a/b%3Fc"),
    (b"/a/%20", b"/a/%20"), (b"/a/b/../../../../c", b"/c"), (b"/a/b\\..\\c", b"/a/c"), (b"/", b"/"),
])
def test_canonical_path(path, expected):
    assert canonical_path(path) == expected


def test_a_nul_escape_cannot_be_normalized():
    assert canonical_path(b"/a/%00") is None
    assert PathNormalizer(normalize=True).apply(b"/a/%00") == (REJECT, b"/a/%00")


def test_the_query_is_never_touched():
    assert PathNormalizer(True, True).apply(b"/a/./b//c?x=/../y//z") == (FORWARD, b"/a/b/c?x=/../y//z")


def test_merge_slashes_alone():
    assert PathNormalizer(merge_slashes=True).apply(b"/a//b///c/../d") == (FORWARD, b"/a/b/c/../d")


@pytest.mark.parametrize("action, target, expected", [
    ("KEEP_UNCHANGED", b"/a/b%2Fc", (FORWARD, b"/a/b%2Fc")),
    ("IMPLEMENTATION_SPECIFIC_DEFAULT", b"/a/b%2Fc", (FORWARD, b"/a/b%2Fc")),
    ("REJECT_REQUEST", b"/a/b%2fc", (REJECT, b"/a/b%2fc")),
    ("REJECT_REQUEST", b"/a/b?x=%2F", (FORWARD, b"/a/b?x=%2F")),
    ("UNESCAPE_AND_REDIRECT", b"/a/b%2Fc?x=1", (REDIRECT, b"/a/b/c?x=1")),
    ("UNESCAPE_AND_REDIRECT", b"/a/b%5cc", (REDIRECT, b"/a/b\\c")),
    ("UNESCAPE_AND_REDIRECT", b"/a/b/c", (FORWARD, b"/a/b/c")),
    ("UNESCAPE_AND_FORWARD", b"/a/b%2F..%2Fc", (FORWARD, b"/a/b/../c")),
])
def test_escaped_slashes(action, target, expected):
    assert PathNormalizer(escaped_slashes=action).apply(target) == expected


def test_escaped_slashes_are_unescaped_before_normalizing_and_merging():
    assert PathNormalizer(True, False, "UNESCAPE_AND_FORWARD").apply(b"/a/b%2F..%2Fc") == (FORWARD, b"/a/c")
    assert PathNormalizer(False, True, "UNESCAPE_AND_FORWARD").apply(b"/a/b%2F%2Fc") == (FORWARD, b"/a/b/c")
    assert PathNormalizer(True, True, "UNESCAPE_AND_REDIRECT").apply(b"/a//b%2F..%2Fc?q") == (REDIRECT, b"/a/c?q")


def test_asterisk_form_is_left_alone():
    assert PathNormalizer(True, True, "REJECT_REQUEST").apply(b"*") == (FORWARD, b"*")


def hcm(**fields):
    defaults = dict(normalize_path=False, merge_slashes=False, path_with_escaped_slashes_action="IMPLEMENTATION_SPECIFIC_DEFAULT",
                    strip_trailing_host_dot=False, strip_host_port="NONE")
    return SimpleNamespace(**{**defaults, **fields})


def test_no_normalizer_unless_configured():
    assert PathNormalizer.from_config(hcm()) is None
    assert HostNormalizer.from_config(hcm()) is None
    assert PathNormalizer.from_config(hcm(merge_slashes=True)) is not None
    assert HostNormalizer.from_config(hcm(strip_host_port="ANY")) is not None


@pytest.mark.parametrize("host, dot, any_port, matching", [
    (b"h", b"h", b"h", b"h"), (b"h.", b"h", b"h.", b"h."), (b"h.:80", b"h:80", b"h.", b"h."),
    (b"h:80", b"h:80", b"h", b"h"), (b"h:8080", b"h:8080", b"h", b"h:8080"), (b"[::1]:80", b"[::1]:80", b"[::1]", b"[::1]"),
    (b"[::1]", b"[::1]", b"[::1]", b"[::1]"), (b"h..", b"h.", b"h..", b"h.."), (b"H.EXAMPLE.", b"H.EXAMPLE", b"H.EXAMPLE.", b"H.EXAMPLE."),
])
def test_host_normalization(host, dot, any_port, matching):
    assert HostNormalizer(strip_trailing_dot=True).apply(host, 80) == dot
    assert HostNormalizer(strip_port="ANY").apply(host, 80) == any_port
    assert HostNormalizer(strip_port="MATCHING").apply(host, 80) == matching
