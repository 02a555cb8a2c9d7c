"""Accept-Encoding negotiation as Envoy 1.40 decides it (compressor_filter.cc chooseEncoding)."""
import pytest

from hotproxy.http.filters.accept_encoding import Candidate, choose, parse_accept_encoding

ANY = frozenset({"text/plain", "text/html"})
GZIP = Candidate("gzip", ANY, False)
BR = Candidate("br", ANY, False)
ZSTD = Candidate("zstd", ANY, False)


@pytest.mark.parametrize("header, chain, expected", [
    ("gzip", [GZIP], ("gzip", "valid")),
    ("GZIP", [GZIP], ("identity", "not_valid")),               # case-sensitive, as in Envoy
    ("deflate", [GZIP], ("identity", "not_valid")),
    ("", [GZIP], ("identity", "not_valid")),
    ("identity", [GZIP], ("identity", "identity")),
    ("identity;q=0", [GZIP], ("identity", "not_valid")),
    ("*", [GZIP, BR], ("gzip", "wildcard")),
    ("*", [BR, GZIP], ("br", "wildcard")),
    ("gzip;q=0, *", [GZIP, BR], ("br", "wildcard")),
    ("gzip;q=0, *", [GZIP], ("identity", "not_valid")),
    ("gzip;q=0.5, br;q=0.8", [GZIP, BR], ("br", "valid")),
    ("gzip;q=0.5, br;q=0.5", [BR, GZIP], ("gzip", "valid")),     # ties: the earlier token
    ("br, gzip", [GZIP, BR], ("br", "valid")),
    ("gzip;q=0.5, identity", [GZIP], ("identity", "identity")),
    ("gzip;q=1.0, identity;q=0.5, *;q=0", [GZIP], ("gzip", "valid")),
    ("gzip;q=abc, br", [GZIP, BR], ("br", "valid")),             # unparseable q: token dropped
    ("gzip;q=abc", [GZIP], ("identity", "not_valid")),
    ("gzip;level=1", [GZIP], ("gzip", "valid")),                 # other parameters: q stays 1
    ("gzip ; Q = 0.3 , br;q=0.2", [GZIP, BR], ("gzip", "valid")),
    ("gzip;q=-1", [GZIP], ("identity", "not_valid")),
    ("*, identity", [ZSTD], ("zstd", "wildcard")),
    ("*, identity", [BR], ("br", "wildcard")),
    ("*, *", [GZIP], ("gzip", "wildcard")),
    ("zstd;q=0.1, gzip;q=0.1", [GZIP, ZSTD], ("zstd", "valid")),
    ("gzip;q=0.0001", [GZIP], ("gzip", "valid")),
    ("gzip;q=1e-50", [GZIP], ("identity", "not_valid")),        # 0 as a 32-bit float
    (",,gzip,,", [GZIP], ("gzip", "valid")),
])
def test_negotiation_table(header, chain, expected):
    assert choose(header, "text/plain", chain) == expected


def test_choose_first_wins_ties():
    first = Candidate("gzip", ANY, True)
    assert choose("br;q=0.5, gzip;q=0.5", "text/plain", [BR, first]) == ("gzip", "valid")
    assert choose("br;q=0.5, gzip;q=0.4", "text/plain", [BR, first]) == ("br", "valid")


def test_content_type_excludes_a_compressor():
    html_only = Candidate("gzip", frozenset({"text/html"}), False)
    assert choose("gzip, br;q=0.5", "application/json", [html_only, Candidate("br", frozenset({"application/json"}), False)]) == ("br", "valid")
    assert choose("gzip", "text/html; charset=utf-8", [html_only]) == ("gzip", "valid")
    assert choose("gzip", "", [html_only]) == ("gzip", "valid")


def test_duplicate_encodings_the_first_filter_counts():
    assert choose("*", "text/plain", [GZIP, Candidate("gzip", ANY, True), BR]) == ("gzip", "wildcard")


def test_parse_q_values():
    assert parse_accept_encoding("gzip;q=0.5,br") == [("gzip", 0.5), ("br", 1.0)]
    assert parse_accept_encoding("gzip;q=0.3")[0][1] == pytest.approx(0.3)
    assert parse_accept_encoding("gzip;q=inf")[0][1] == float("inf")
    assert parse_accept_encoding("gzip;q=1_0") == []
