"""Which content encoding a response gets, from the request's Accept-Encoding and the compressor
filters of the chain, decided once per stream as Envoy 1.40's compressor filter decides it
(compressor_filter.cc chooseEncoding), quirks included: names compare case-sensitively, a q
that does not parse drops its token, q=0 rules an encoding out even when ``*`` allows the rest,
ties go to the earlier token unless the later one's filter sets ``choose_first``, and ``*``
picks the encoding of the first compressor filter whose content types fit the response.
"""
from __future__ import annotations

import re
import struct

NOT_VALID, IDENTITY, WILDCARD, VALID = "not_valid", "identity", "wildcard", "valid"
_WHITESPACE = " \t\f\v\n\r"
# absl::SimpleAtof: a decimal or exponent form, or inf/infinity/nan, with an optional sign.
_FLOAT = re.compile(r"[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf|infinity|nan)", re.IGNORECASE)
_FLOAT_MAX = 3.4028234663852886e38


class Candidate:
    """One compressor filter of the chain as the decision sees it."""
    __slots__ = ("encoding", "content_types", "choose_first")

    def __init__(self, encoding, content_types, choose_first):
        self.encoding = encoding
        self.content_types = content_types
        self.choose_first = choose_first


def parse_accept_encoding(value):
    """[(coding, q)] as Envoy reads the header: q as a 32-bit float, tokens whose q does not
    parse left out."""
    pairs = []
    for token in value.split(","):
        if not token:
            continue
        coding, _, params = token.partition(";")
        q = 1.0
        if params:
            key, equals, number = params.partition("=")
            if equals and key.strip(_WHITESPACE).lower() == "q":
                q = _float32(number.strip(_WHITESPACE))
                if q is None:
                    continue
        pairs.append((coding.strip(_WHITESPACE), q))
    return pairs


def choose(accept_encoding, content_type, candidates):
    """(encoding, header stat): the encoding the response gets ("identity" for none) and which
    of the header_* counters the decision counts."""
    allowed = {}        # encoding → [registration order, choose_first], first filter wins
    content_type = content_type.partition(";")[0].strip(_WHITESPACE).lower() if content_type else ""
    for candidate in candidates:
        if content_type and content_type not in candidate.content_types:
            continue
        if candidate.encoding not in allowed:
            allowed[candidate.encoding] = [len(allowed), candidate.choose_first]
    pairs = parse_accept_encoding(accept_encoding)
    for coding, q in pairs:
        if not q:
            allowed.pop(coding, None)
    if not pairs or not allowed:
        return "identity", NOT_VALID
    choice, best = "identity", 0.0
    for coding, q in pairs:
        if coding in allowed or coding in ("identity", "*"):
            if q > best:
                choice, best = coding, q
            elif q == best and coding in allowed and allowed[coding][1]:
                choice, best = coding, q
    if not best:
        return "identity", NOT_VALID
    if choice == "identity":
        return "identity", IDENTITY
    if choice == "*":
        first = min(allowed.items(), key=lambda item: item[1][0])
        return first[0], WILDCARD
    return choice, VALID


def _float32(text):
    if not _FLOAT.fullmatch(text):
        return None
    number = float(text)
    if number != number or abs(number) > _FLOAT_MAX:
        return number
    return struct.unpack("f", struct.pack("f", number))[0]
