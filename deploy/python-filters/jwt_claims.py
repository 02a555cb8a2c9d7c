"""A JWT-claims checker for hotproxy's Python filter (docs/python-filters.md), with the standard
library only: the bearer token must be an HS256 JWT signed with the shared secret, not expired,
and its ``claim`` must hold one of ``allowed`` (a string claim, or a list claim containing one).
Anything else is answered 401 here. The subject goes upstream as ``x-jwt-sub``.

config:           {secret: "...", (or secret_env: NAME), claim: role, allowed: [reader, admin],
                   leeway_seconds: 30}
per-route config: {allowed: [admin]} narrows what one route or virtual host accepts
"""
import base64
import binascii
import hashlib
import hmac
import json
import os
import time

SUBJECT = b"x-jwt-sub"


class JwtClaims:
    def __init__(self, config):
        secret = os.environ[config["secret_env"]] if "secret_env" in config else config["secret"]
        self.key = secret.encode()
        self.claim = config.get("claim", "role")
        self.allowed = frozenset(config["allowed"])
        self.leeway = float(config.get("leeway_seconds", 0))
        if not self.allowed:
            raise ValueError("allowed must name at least one value")

    def new_stream(self, stream):
        return self     # no per-stream state: one object serves every stream

    def decode_headers(self, stream, end_stream):
        headers = stream.request.headers
        # x-jwt-sub is this filter's to set: a client's own goes.
        headers[:] = [(name, value) for name, value in headers if name != SUBJECT]
        try:
            claims = self._verified_claims(_bearer(headers))
            self._check_claim(stream, claims)
        except Unauthorized as error:
            return stream.send_local_reply(
                401, f"unauthorized: {error}\n".encode(),
                headers=[(b"www-authenticate", b'Bearer error="invalid_token"')],
                details="jwt_" + str(error).replace(" ", "_"))
        if "sub" in claims:
            headers.append((SUBJECT, str(claims["sub"]).encode()))

    def _verified_claims(self, token):
        parts = token.split(b".")
        if len(parts) != 3:
            raise Unauthorized("malformed token")
        header, payload = _json_part(parts[0]), _json_part(parts[1])
        if header.get("alg") != "HS256":
            raise Unauthorized("unsupported alg")
        expected = hmac.new(self.key, parts[0] + b"." + parts[1], hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64(parts[2])):
            raise Unauthorized("bad signature")
        exp = payload.get("exp")
        if not isinstance(exp, (int, float)) or exp + self.leeway < time.time():
            raise Unauthorized("token expired")
        return payload

    def _check_claim(self, stream, claims):
        allowed = self.allowed
        per_route = stream.route_config(self.filter_name)
        if per_route is not None and "allowed" in per_route.config:
            allowed = frozenset(per_route.config["allowed"])
        value = claims.get(self.claim)
        values = value if isinstance(value, list) else [value]
        if not any(isinstance(item, str) and item in allowed for item in values):
            raise Unauthorized(f"{self.claim} not allowed")


class Unauthorized(Exception):
    pass


def _bearer(headers):
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
            break
    raise Unauthorized("missing bearer token")


def _b64(part):
    try:
        return base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise Unauthorized("malformed token") from None


def _json_part(part):
    try:
        value = json.loads(_b64(part))
    except (ValueError, RecursionError):
        raise Unauthorized("malformed token") from None
    if not isinstance(value, dict):
        raise Unauthorized("malformed token")
    return value
