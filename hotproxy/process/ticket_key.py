"""The TLS session-ticket key every worker shares, when the config gives none: made once by the
arbiter and handed down in the environment, so that a session issued by one worker resumes on any
other, in every generation the arbiter starts, and in a successor epoch it starts itself
(SIGUSR2). Only the arbiter's own children can read it (/proc/<pid>/environ is private to its
user)."""
from __future__ import annotations

import os

ENV = "HOTPROXY_TLS_TICKET_KEY"
_SIZE = 80  # Envoy's: 16 bytes of name, 32 of HMAC secret, 32 of AES key


def ensure() -> None:
    """In the arbiter: make the key unless an epoch before this one did."""
    import secrets      # here: secrets maps libcrypto (hmac), which a worker without TLS never needs
    os.environ.setdefault(ENV, secrets.token_hex(_SIZE))


def tls_ticket_key() -> bytes | None:
    """In a worker: the key its arbiter made."""
    value = os.environ.get(ENV)
    return bytes.fromhex(value) if value else None
