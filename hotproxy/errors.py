"""Exception roots shared across hotproxy."""


class ConfigError(Exception):
    """A configuration was rejected.

    ``problems`` is a list of ``(field_path, reason)`` pairs, e.g.
    ``("static_resources.clusters[0].connect_timeout", "invalid duration '5'")``.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}: {reason}" if path else reason
                                   for path, reason in self.problems))


class ProtocolError(Exception):
    """The peer broke the protocol. ``status`` is the HTTP status to answer with
    (when the connection still can be answered), ``details`` Envoy's response-code detail."""

    def __init__(self, status, details):
        super().__init__(details)
        self.status = status
        self.details = details
