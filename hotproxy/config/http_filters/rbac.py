"""envoy.extensions.filters.http.rbac.v3.RBAC and RBACPerRoute (the rules: ../parse_rbac.py)."""
from __future__ import annotations

from ..parse_rbac import http_rbac as parse
from ..parse_rbac import http_rbac_per_route as parse_per_route

__all__ = ["parse", "parse_per_route"]
