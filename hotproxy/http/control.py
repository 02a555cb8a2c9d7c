"""Exceptions that steer a downstream connection's greenlet: they pass through filters and the
router untouched, to ``DownstreamConnection.run``."""


class CloseConnection(Exception):
    """A response that ends the connection was sent."""


class Release(Exception):
    """Thrown into an idle connection's wait when its generation drains."""


class OverloadReset(Exception):
    """Thrown into a stream's blocked send when reset_high_memory_stream resets it."""


CONTROL = (CloseConnection, Release, OverloadReset)
