"""What the listener-filter readers (``client_hello.inspect``, ``proxy_protocol.parse``) share:
they look at the bytes a connection began with, which grow as segments arrive. Fed a prefix of
what a later call is fed, a reader may only ask for more (and no more than it will need) or give
the answer it gives for the whole; every answer is one of its results or its own error."""
from __future__ import annotations

from hotproxy.listener.filters.client_hello import NeedMore

from .chunking import random_cuts, seed_of
from .invariants import expect


def outcome(read, data: bytes, error_type):
    """``read(data)``, or the error it raised if that is ``error_type``."""
    try:
        return read(data)
    except error_type as error:
        return error


def check_growing(read, data: bytes, error_type, result_types) -> object:
    """``read`` on ``data`` and on prefixes of it cut at points picked from ``data``; returns
    the outcome for the whole."""
    whole = outcome(read, data, error_type)
    check_outcome(whole, data, error_type, result_types)
    ends = [len(piece) for piece in random_cuts(data, seed_of(data))]
    prefix_lengths = [sum(ends[:count]) for count in range(1, len(ends))]
    for length in prefix_lengths:
        prefix = outcome(read, data[:length], error_type)
        check_outcome(prefix, data[:length], error_type, result_types)
        if isinstance(prefix, NeedMore):
            if isinstance(whole, NeedMore):
                expect(whole.at_least >= prefix.at_least, "need more",
                       lambda: f"{length} bytes need {prefix.at_least}, {len(data)} need {whole.at_least}")
            else:
                expect(len(data) >= prefix.at_least, "need more",
                       lambda: f"{length} bytes need {prefix.at_least}, {len(data)} bytes give {whole!r}")
        else:
            expect(_same(prefix, whole), "prefix",
                   lambda: f"{length} bytes give {prefix!r}, {len(data)} give {whole!r}")
    return whole


def check_outcome(result, data, error_type, result_types) -> None:
    if isinstance(result, NeedMore):
        expect(result.at_least > len(data), "need more",
               lambda: f"{len(data)} bytes need {result.at_least}")
    else:
        expect(isinstance(result, (error_type, *result_types)), "result", lambda: repr(result))


def _same(one, other) -> bool:
    if isinstance(one, Exception):
        return type(one) is type(other)
    return one == other
