"""HTTP caching rules for the cache filter, sans-IO (RFC 9111 as Envoy's cache filter applies
them): which requests a cache may answer, which responses it may store, a stored response's
age and freshness, and when it must be validated with the origin first.

Header lists are (lower-case name, value) byte pairs; times are float seconds since the epoch.
"""
from __future__ import annotations

from email.utils import parsedate_to_datetime

#: statuses a response may be stored with (Envoy's cacheableStatusCodes)
CACHEABLE_STATUSES = frozenset((200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 451, 501))
#: request headers that make a request one the filter passes through untouched: it does not
#: answer conditional or range requests from the cache (see docs), nor requests with credentials
BYPASS_REQUEST_HEADERS = frozenset((b"authorization", b"range", b"if-match", b"if-none-match",
                                    b"if-modified-since", b"if-unmodified-since", b"if-range"))


class CacheControl:
    """The directives of the Cache-Control headers of one message that matter to a shared cache.
    ``max_age`` is s-maxage over max-age for a response; durations are whole seconds or None."""

    __slots__ = ("no_store", "no_cache", "no_stale", "max_age", "min_fresh", "max_stale")

    def __init__(self):
        self.no_store = self.no_cache = self.no_stale = False
        self.max_age = self.min_fresh = self.max_stale = None


def _directives(headers):
    for name, value in headers:
        if name != b"cache-control":
            continue
        for part in value.split(b","):
            key, _, argument = part.strip().partition(b"=")
            yield key.strip().lower(), argument.strip().strip(b'"')


def _seconds(argument):
    """A delta-seconds argument; None when malformed (the directive is then ignored)."""
    return int(argument) if argument.isdigit() else None


def request_control(headers):
    control = CacheControl()
    for key, argument in _directives(headers):
        if key == b"no-store":
            control.no_store = True
        elif key == b"no-cache":
            control.no_cache = True
        elif key == b"max-age":
            control.max_age = _seconds(argument)
        elif key == b"min-fresh":
            control.min_fresh = _seconds(argument)
        elif key == b"max-stale":
            # max-stale without a value accepts any staleness
            control.max_stale = _seconds(argument) if argument else float("inf")
    if not any(name == b"cache-control" for name, _ in headers):
        # Pragma: no-cache counts only without Cache-Control (RFC 9111 section 5.4)
        control.no_cache = any(name == b"pragma" and b"no-cache" in value.lower()
                               for name, value in headers)
    return control


def response_control(headers):
    control = CacheControl()
    s_maxage = None
    for key, argument in _directives(headers):
        if key in (b"no-store", b"private"):     # a shared cache stores neither
            control.no_store = True
        elif key == b"no-cache":
            control.no_cache = True
        elif key in (b"must-revalidate", b"proxy-revalidate"):
            control.no_stale = True
        elif key == b"max-age":
            value = _seconds(argument)
            control.max_age = value if control.max_age is None else control.max_age
        elif key == b"s-maxage":
            s_maxage = _seconds(argument)
    if s_maxage is not None:
        control.max_age = s_maxage
        control.no_stale = True     # s-maxage implies proxy-revalidate
    return control


def http_time(value):
    """An HTTP-date as epoch seconds, or None."""
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def first(headers, name):
    for key, value in headers:
        if key == name:
            return value
    return None


def request_is_cacheable(method, headers):
    """Whether the cache may answer this request (and store its response)."""
    if method not in (b"GET", b"HEAD"):
        return False
    return not any(name in BYPASS_REQUEST_HEADERS for name, _ in headers)


def vary_names(headers):
    """The header names a response varies on, lower-case, in order; None for ``Vary: *``."""
    names = []
    for name, value in headers:
        if name != b"vary":
            continue
        for token in value.split(b","):
            token = token.strip().lower()
            if token == b"*":
                return None
            if token and token not in names:
                names.append(token)
    return tuple(names)


def response_is_cacheable(status, headers, vary_allowed):
    """Whether a response may be stored: a cacheable status, no no-store/private, enough to
    compute its freshness (no-cache, max-age / s-maxage, or Expires with Date), and only Vary
    names that ``vary_allowed(name)`` accepts."""
    if status not in CACHEABLE_STATUSES:
        return False
    control = response_control(headers)
    if control.no_store:
        return False
    has_lifetime = (control.no_cache or control.max_age is not None
                    or (first(headers, b"expires") is not None and first(headers, b"date") is not None))
    if not has_lifetime:
        return False
    names = vary_names(headers)
    return names is not None and all(vary_allowed(name) for name in names)


def vary_key(names, request_headers):
    """The request's values of the headers a response varies on (a repeated one joined)."""
    values = []
    for name in names:
        found = [value for key, value in request_headers if key == name]
        values.append(b",".join(found) if found else None)
    return tuple(values)


def freshness_lifetime(headers, control=None):
    """Seconds a stored response stays fresh: s-maxage, max-age, else Expires minus Date."""
    control = control or response_control(headers)
    if control.max_age is not None:
        return control.max_age
    expires, date = http_time(first(headers, b"expires")), http_time(first(headers, b"date"))
    if expires is None or date is None:
        return 0     # an unparseable Expires means already expired (RFC 9111 section 5.3)
    return max(0.0, expires - date)


def current_age(headers, response_time, now):
    """RFC 9111 section 4.2.3 (no request delay: it is not known here), in whole seconds."""
    date = http_time(first(headers, b"date"))
    apparent = max(0.0, response_time - date) if date is not None else 0.0
    age_value = first(headers, b"age")
    stated = int(age_value) if age_value is not None and age_value.isdigit() else 0
    return int(max(apparent, stated) + max(0.0, now - response_time))


def requires_validation(request, response_headers, age, ignore_request_control=False):
    """Whether a stored response must be validated with the origin before it answers a request
    with ``request`` (its CacheControl), being ``age`` seconds old (Envoy's rules)."""
    response = response_control(response_headers)
    if not ignore_request_control:
        if request.no_cache or (request.max_age is not None and request.max_age < age):
            return True
    if response.no_cache:
        return True
    lifetime = freshness_lifetime(response_headers, response)
    if age > lifetime:
        allowed_stale = (not ignore_request_control and request.max_stale is not None
                         and request.max_stale > age - lifetime)
        return response.no_stale or not allowed_stale
    return (not ignore_request_control and request.min_fresh is not None
            and request.min_fresh > lifetime - age)


def validators(headers):
    """The conditional headers that validate a stored response with its origin."""
    conditions = []
    etag = first(headers, b"etag")
    if etag is not None:
        conditions.append((b"if-none-match", etag))
    modified = first(headers, b"last-modified") or first(headers, b"date")
    if modified is not None:
        conditions.append((b"if-modified-since", modified))
    return conditions


#: headers a 304 must not change in the stored response (its body is the stored one)
_KEPT_ON_UPDATE = frozenset((b"content-length", b"transfer-encoding", b"content-range", b"vary",
                             b"age"))


def updated_headers(stored, not_modified):
    """The stored response's headers refreshed with those of a 304 (RFC 9111 section 3.2), in
    Envoy's order: the 304's first, then the stored ones it does not name. The framing stays the
    stored response's."""
    incoming = [(name, value) for name, value in not_modified if name not in _KEPT_ON_UPDATE]
    replaced = {name for name, _ in incoming}
    return incoming + [pair for pair in stored if pair[0] not in replaced]
