"""Parser for the gRPC-Web filter's ``GrpcWeb`` (envoy.extensions.filters.http.grpc_web.v3),
a message without fields."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fields import Fields, Node

GRPC_WEB = Fields("")


@dataclass(frozen=True)
class GrpcWeb:
    runtime: ClassVar[str] = "grpc_web"


def parse(node: Node) -> GrpcWeb | None:
    return None if node.message(GRPC_WEB) is None else GrpcWeb()
