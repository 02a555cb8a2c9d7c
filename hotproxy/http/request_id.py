"""UUID4 request ids, as Envoy generates them for ``x-request-id``, without uuid's overhead."""
from operator import itemgetter
from random import getrandbits

_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48) & ((1 << 128) - 1)
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)
#: the five groups (8-4-4-4-12) of a UUID's 32 hex digits, cut in one call
_GROUPS = itemgetter(slice(0, 8), slice(8, 12), slice(12, 16), slice(16, 20), slice(20, None))


def new_request_id():
    return b"-".join(_GROUPS(b"%032x" % ((getrandbits(128) & _VERSION_MASK) | _VERSION_BITS)))


# Envoy's UUID request-id extension packs the trace decision into the UUID's version nibble
# (character 14), so that every hop behind the first sees the same decision: '9' sampled,
# 'a' forced by the service (x-envoy-force-trace), 'b' forced by the client
# (x-client-trace-id); anything else ('4' of a fresh UUID4) is not traced.
TRACE_POSITION = 14
SAMPLED, FORCED, CLIENT, NOT_TRACED = 0x39, 0x61, 0x62, 0x34     # b"9", b"a", b"b", b"4"
_UUID_LENGTH = 36


def trace_mark(request_id):
    """The trace mark of ``request_id`` (SAMPLED, FORCED, CLIENT), else NOT_TRACED (also for
    a value that is no UUID)."""
    if len(request_id) != _UUID_LENGTH:
        return NOT_TRACED
    mark = request_id[TRACE_POSITION]
    return mark if mark in (SAMPLED, FORCED, CLIENT) else NOT_TRACED


def with_trace_mark(request_id, mark):
    """``request_id`` carrying ``mark``; unchanged when it is no UUID. NOT_TRACED clears a mark
    and leaves an unmarked id as it is."""
    if len(request_id) != _UUID_LENGTH:
        return request_id
    if mark == NOT_TRACED and request_id[TRACE_POSITION] not in (SAMPLED, FORCED, CLIENT):
        return request_id
    return request_id[:TRACE_POSITION] + bytes((mark,)) + request_id[TRACE_POSITION + 1:]


def sampling_value(request_id):
    """The integer Envoy draws its sampling from: the id's first 8 hex digits, None when they
    are not hex (then the request is not sampled at all)."""
    if len(request_id) < 8:
        return None
    try:
        return int(request_id[:8], 16)
    except ValueError:
        return None
