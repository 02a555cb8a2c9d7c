"""The ``date`` header value (RFC 9110's IMF-fixdate), formatted once per second.

Formatted here rather than with ``email.utils.formatdate``: importing the email package costs a
worker about 1.7 MB of resident memory for this one call."""
import time

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_second = 0
_value = b""


def imf_fixdate(seconds: int) -> str:
    t = time.gmtime(seconds)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


def http_date():
    global _second, _value
    now = int(time.time())
    if now != _second:
        _second = now
        _value = imf_fixdate(now).encode()
    return _value
