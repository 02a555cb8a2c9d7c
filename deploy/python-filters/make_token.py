"""Make an HS256 JWT for trying jwt_claims.yaml: python make_token.py --role reader [--ttl 300]."""
import argparse
import base64
import hashlib
import hmac
import json
import time

DEMO_SECRET = "change-me: a demo secret"


def make_token(claims, secret=DEMO_SECRET, alg="HS256"):
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")
    signed = part({"alg": alg, "typ": "JWT"}) + b"." + part(claims)
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return (signed + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", default="reader")
    parser.add_argument("--sub", default="demo-user")
    parser.add_argument("--ttl", type=int, default=300, help="seconds until exp (negative: expired)")
    parser.add_argument("--secret", default=DEMO_SECRET)
    args = parser.parse_args()
    print(make_token({"sub": args.sub, "role": args.role, "exp": int(time.time()) + args.ttl},
                     args.secret))
