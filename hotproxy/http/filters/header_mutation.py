"""The header mutation filter (envoy.filters.http.header_mutation) as in Envoy 1.40: the
filter's request (response) mutations apply to each request (response) in order, then those of
the route's HeaderMutationPerRoute. Each mutation removes a header or appends one as its
append_action says; values may hold the command operators of route header mutations.

hotproxy applies the most specific HeaderMutationPerRoute only (Envoy applies every level's,
in the order most_specific_header_mutations_wins says)."""
from __future__ import annotations

from ..header_mutation import (ADD_IF_ABSENT, APPEND_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS,
                               OVERWRITE_IF_EXISTS_OR_ADD, compile_value)
from .api import CONTINUE, FilterFactory, HttpFilter
from .route_policy import CompiledCache, route_config


def factory(config, context):
    return HeaderMutationFactory(config)


def compile_mutations(mutations, where):
    """A Mutations message → (request steps, response steps): each a tuple of
    (name, value or None to remove, action, keep_empty_value)."""
    return (_steps(mutations.request_mutations, f"{where}.request_mutations"),
            _steps(mutations.response_mutations, f"{where}.response_mutations"))


# The action constants themselves, so that ``apply`` may compare them by identity.
_ACTIONS = {action: action for action in (APPEND_IF_EXISTS_OR_ADD, ADD_IF_ABSENT,
                                          OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS)}


def _steps(mutations, where):
    steps = []
    for index, mutation in enumerate(mutations):
        if mutation.remove is not None:
            steps.append((mutation.remove.encode(), None, None, False))
            continue
        option = mutation.append
        value = compile_value(option.value, f"{where}[{index}].append.header.value")
        steps.append((option.key.encode(), value, _ACTIONS[option.append_action],
                      option.keep_empty_value))
    return tuple(steps)


def apply(steps, headers, ctx):
    """Apply ``steps`` to the header list in place, one after the other."""
    for name, value, action, keep_empty in steps:
        if value is None:
            headers[:] = [pair for pair in headers if pair[0] != name]
            continue
        if value.__class__ is not bytes:
            value = value(ctx)
        if not value and not keep_empty:
            continue
        if action is APPEND_IF_EXISTS_OR_ADD:
            headers.append((name, value))
            continue
        present = any(pair[0] == name for pair in headers)
        if action is ADD_IF_ABSENT:
            if not present:
                headers.append((name, value))
        elif present or action is not OVERWRITE_IF_EXISTS:
            headers[:] = [pair for pair in headers if pair[0] != name]
            headers.append((name, value))


class HeaderMutationFactory(FilterFactory):
    def __init__(self, config):
        self.name = ""
        self.request_steps, self.response_steps = compile_mutations(config.mutations, "mutations")
        self._per_route = CompiledCache(
            lambda per_route: compile_mutations(per_route.mutations, "mutations"))
        self._filter = HeaderMutationFilter(self)

    def create(self, stream):
        return self._filter

    def route_steps(self, stream):
        config = route_config(stream, self.name)
        return None if config is None else self._per_route.get(config)


class HeaderMutationFilter(HttpFilter):
    """Shared by every stream: it keeps no state of its own."""

    __slots__ = ("factory",)

    def __init__(self, factory_):
        self.factory = factory_

    def decode_headers(self, stream, end_stream):
        self._apply(stream, stream.request.headers, 0, self.factory.request_steps)
        return CONTINUE

    def encode_headers(self, stream, response, end_stream):
        self._apply(stream, response.headers, 1, self.factory.response_steps)
        return CONTINUE

    def _apply(self, stream, headers, direction, own_steps):
        route_steps = self.factory.route_steps(stream)
        if not own_steps and (route_steps is None or not route_steps[direction]):
            return
        ctx = stream.connection     # the context route header mutations format values with
        apply(own_steps, headers, ctx)
        if route_steps is not None:
            apply(route_steps[direction], headers, ctx)
