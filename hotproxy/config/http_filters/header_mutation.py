"""Parser for the header mutation filter (envoy.extensions.filters.http.header_mutation.v3):
``HeaderMutation`` and the per-route ``HeaderMutationPerRoute``. Each mutation is a
``config.common.mutation_rules.v3.HeaderMutation``: ``remove`` a header, or ``append`` one
(a HeaderValueOption, whose value may hold command operators)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from ..core import HeaderValueOption
from ..fields import Fields, Node
from ..parse_core import header_to_remove, header_value_option

HEADER_MUTATION = Fields("mutations most_specific_header_mutations_wins")
HEADER_MUTATION_PER_ROUTE = Fields("mutations")
MUTATIONS = Fields("request_mutations response_mutations",
                   unsupported="query_parameter_mutations request_trailers_mutations "
                               "response_trailers_mutations")
MUTATION = Fields("remove append", unsupported="remove_on_match")
# hotproxy keeps a message's framing itself (as for route header mutations).
_FRAMING = ("content-length", "transfer-encoding")
# The operators http/header_mutation.py fills in a header value: checked here, since a
# per-route value is compiled on the first request that needs it.
_OPERATOR = re.compile(r"%([A-Z0-9_]+)(\([^)]*\))?(:[0-9]+)?%")
_OPERATORS = frozenset((
    "HOSTNAME", "DOWNSTREAM_REMOTE_ADDRESS", "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
    "DOWNSTREAM_LOCAL_ADDRESS", "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", "PROTOCOL",
    "UPSTREAM_REMOTE_ADDRESS"))


@dataclass(frozen=True)
class Mutation:
    """``remove`` (a lower-case name) or ``append``."""
    remove: str | None = None
    append: HeaderValueOption | None = None


@dataclass(frozen=True)
class Mutations:
    request_mutations: tuple[Mutation, ...] = ()
    response_mutations: tuple[Mutation, ...] = ()


@dataclass(frozen=True)
class HeaderMutation:
    runtime: ClassVar[str] = "header_mutation"
    mutations: Mutations = Mutations()
    most_specific_header_mutations_wins: bool = False


@dataclass(frozen=True)
class HeaderMutationPerRoute:
    runtime: ClassVar[str] = "header_mutation"
    mutations: Mutations = Mutations()


def parse(node: Node) -> HeaderMutation | None:
    m = node.message(HEADER_MUTATION)
    if m is None:
        return None
    return HeaderMutation(mutations=m.nested("mutations", mutations) or Mutations(),
                          most_specific_header_mutations_wins=bool(
                              m.boolean("most_specific_header_mutations_wins")))


def parse_per_route(node: Node) -> HeaderMutationPerRoute | None:
    m = node.message(HEADER_MUTATION_PER_ROUTE)
    if m is None:
        return None
    return HeaderMutationPerRoute(m.nested("mutations", mutations) or Mutations())


def mutations(node: Node) -> Mutations | None:
    m = node.message(MUTATIONS)
    if m is None:
        return None
    return Mutations(request_mutations=m.repeated("request_mutations", mutation),
                     response_mutations=m.repeated("response_mutations", mutation))


def mutation(node: Node) -> Mutation | None:
    m = node.message(MUTATION)
    if m is None:
        return None
    kind = m.one_of("remove", "append")
    if kind == "remove":
        name = m.nested("remove", header_to_remove)
        if name in _FRAMING:
            m.at("remove").fail(f"{name} may not be removed: hotproxy keeps the framing")
            return None
        return Mutation(remove=name) if name else None
    if kind == "append":
        option = m.nested("append", header_value_option)
        if option is not None and option.key in _FRAMING:
            m.at("append").child("header").child("key").fail(
                f"{option.key} may not be modified: hotproxy keeps the framing")
            return None
        if option is not None and not _check_operators(m.at("append").child("header").child("value"),
                                                       option.value):
            return None
        return Mutation(append=option) if option else None
    return None


def _check_operators(node: Node, value: str) -> bool:
    position = 0
    while (percent := value.find("%", position)) >= 0:
        if value.startswith("%%", percent):
            position = percent + 2
            continue
        command = _OPERATOR.match(value, percent)
        if command is None:
            node.fail(f"no command operator can be read at position {percent} of {value!r}; "
                      "a literal % is written %%")
            return False
        if command[1] not in _OPERATORS or command[2] is not None or command[3] is not None:
            node.fail(f"command operator {command[0]} is not supported by hotproxy yet "
                      f"(supported here: {', '.join(sorted(_OPERATORS))}, without parameters)")
            return False
        position = command.end()
    return True
