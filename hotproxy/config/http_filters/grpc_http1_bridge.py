"""Parser for the gRPC HTTP/1.1 bridge's ``Config``
(envoy.extensions.filters.http.grpc_http1_bridge.v3)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fields import Fields, Node, present

BRIDGE = Fields("upgrade_protobuf_to_grpc ignore_query_parameters")


@dataclass(frozen=True)
class GrpcHttp1Bridge:
    runtime: ClassVar[str] = "grpc_http1_bridge"
    upgrade_protobuf_to_grpc: bool = False
    ignore_query_parameters: bool = False


def parse(node: Node) -> GrpcHttp1Bridge | None:
    m = node.message(BRIDGE)
    if m is None:
        return None
    return GrpcHttp1Bridge(**present(
        upgrade_protobuf_to_grpc=m.boolean("upgrade_protobuf_to_grpc"),
        ignore_query_parameters=m.boolean("ignore_query_parameters")))
