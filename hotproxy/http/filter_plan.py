"""What a stream's filter chain does, worked out once for each combination of filter classes
(filter_chain.py runs it): which hooks each filter has besides the ones it keeps from
HttpFilter, and what follows for the chain (the head's hooks, whether the response body passes
any filter, who has on_stream_end).
"""
from __future__ import annotations

from .filters.api import HttpFilter

#: filter class → its (decode_headers, decode_data, encode_headers, encode_data, on_stream_end,
#: encode_trailers, decode_trailers) functions, None for each it keeps from HttpFilter (which
#: continues): learnt once a class, so a stream pays neither a lookup nor a call for a hook its
#: filter does not have
_HOOKS_OF = {}
_HOOK_NAMES = ("decode_headers", "decode_data", "encode_headers", "encode_data", "on_stream_end",
               "encode_trailers", "decode_trailers")


def _learn_hooks(cls):
    hooks = _HOOKS_OF[cls] = tuple(
        None if getattr(cls, name, None) is getattr(HttpFilter, name) else getattr(cls, name)
        for name in _HOOK_NAMES)
    return hooks


class Plan:
    """What a stream's chain does, worked out once for each combination of filter classes a
    stream may have (few: a factory's filter is of one class, or two)."""

    __slots__ = ("hooks", "encode_hooks", "header_hooks", "response_hooks", "body_passes",
                 "ender_at")

    def __init__(self, classes):
        #: each filter's hooks (``_HOOKS_OF``), in config order, and in encoding order
        hooks = self.hooks = tuple(_HOOKS_OF.get(cls) or _learn_hooks(cls) for cls in classes)
        self.encode_hooks = hooks[::-1]
        #: (index, decode_headers hook) of the filters that have one
        self.header_hooks = tuple((index, learnt[0]) for index, learnt in enumerate(hooks)
                                  if learnt[0] is not None)
        #: (index, encode_headers hook) of the filters that have one, in encoding order
        self.response_hooks = tuple((index, learnt[2]) for index, learnt in enumerate(hooks)
                                    if learnt[2] is not None)[::-1]
        #: the response body passes no filter
        self.body_passes = all(learnt[3] is None and learnt[5] is None for learnt in hooks)
        #: the indexes of the filters with on_stream_end, or None
        self.ender_at = tuple(index for index, learnt in enumerate(hooks)
                              if learnt[4] is not None) or None


#: the filters' classes of a stream, in order → their Plan
_PLANS = {}


def plan_of(classes):
    plan = _PLANS.get(classes)
    if plan is None:
        plan = _PLANS[classes] = Plan(classes)
    return plan
