"""The ``date`` header value, formatted once per second."""
import time
from email.utils import formatdate

_second = 0
_value = b""


def http_date():
    global _second, _value
    now = int(time.time())
    if now != _second:
        _second = now
        _value = formatdate(now, usegmt=True).encode()
    return _value
