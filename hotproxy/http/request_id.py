"""UUID4 request ids, as Envoy generates them for ``x-request-id``, without uuid's overhead."""
from random import getrandbits

_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48) & ((1 << 128) - 1)
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


def new_request_id():
    h = b"%032x" % ((getrandbits(128) & _VERSION_MASK) | _VERSION_BITS)
    return b"-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))
