"""The local address a listener filter restored for a downstream connection: Envoy's
``localAddressRestored()``, which an ORIGINAL_DST cluster (original_dst.py) takes as the
connection's original destination.

The ``original_dst`` listener filter restores what ``SO_ORIGINAL_DST`` reports (the destination
before an iptables REDIRECT, or the local address itself for a connection that was not
redirected, whenever conntrack tracks it); ``proxy_protocol`` restores the destination its header
announces. A connection whose listener has neither filter, or where they found nothing, has no
restored address, and an ORIGINAL_DST cluster has no host for it, as in Envoy (falling back to
the local address would make the listener its own upstream).

Kept by the connection's file descriptor, which a TLS handshake keeps: the listener records it
(``restore``) while inspecting the connection and forgets it (``forget``) when the connection
ends, before the descriptor can be reused. Only listeners with those filters write here; only
ORIGINAL_DST clusters read.
"""
from __future__ import annotations

_by_descriptor: dict[int, tuple[str, int]] = {}


def restore(descriptor: int, destination: tuple[str, int]) -> None:
    _by_descriptor[descriptor] = destination


def restored(sock) -> tuple[str, int] | None:
    """The (ip, port) restored for the downstream connection ``sock``, or None."""
    try:
        return _by_descriptor.get(sock.fileno())
    except OSError:
        return None


def forget(descriptor: int) -> None:
    _by_descriptor.pop(descriptor, None)
