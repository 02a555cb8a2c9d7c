#!/usr/bin/env bash
# Makes the double-proxy deployment's certificates in ./certs (or the directory given):
#   ca.pem            the private CA both tiers trust
#   edge-server.*     the edge's certificate for clients (app.example.com, www.example.com)
#   edge-client.*     the edge's identity towards the inner tier (spiffe://example.com/edge)
#   inner-server.*    the inner tier's certificate (inner.internal)
# Keys are ECDSA P-256, certificates valid for 365 days. Nothing here is for production use as
# is: a real deployment takes its certificates from its own CA.
set -euo pipefail
out="${1:-certs}"
mkdir -p "$out"
cd "$out"

openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 3650 \
    -subj "/O=example/CN=double-proxy CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() {  # name subject extensions
    local name="$1" subject="$2" extensions="$3"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "$subject" \
        -keyout "$name.key" -out "$name.csr" 2>/dev/null
    printf '%s\n' "$extensions" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
        -extfile "$name.ext" -out "$name.pem" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
}

issue edge-server "/O=example/CN=app.example.com" \
    "subjectAltName=DNS:app.example.com,DNS:www.example.com
extendedKeyUsage=serverAuth"
issue edge-client "/O=example/CN=edge" \
    "subjectAltName=URI:spiffe://example.com/edge
extendedKeyUsage=clientAuth"
issue inner-server "/O=example/CN=inner.internal" \
    "subjectAltName=DNS:inner.internal
extendedKeyUsage=serverAuth"
chmod 600 ./*.key
echo "certificates written to $(pwd)"
