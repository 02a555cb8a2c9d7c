#!/usr/bin/env bash
# Makes the front proxy's certificates in ./certs (or the directory given):
#   ca.pem            the private CA clients are given to trust
#   front-server.*    the front proxy's certificate (front.example.com, www.example.com)
# ECDSA P-256, valid for 365 days. For trying the deployment only: a real one takes its
# certificate from a public or company CA.
set -euo pipefail
out="${1:-certs}"
mkdir -p "$out"
cd "$out"

openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 3650 \
    -subj "/O=example/CN=front-proxy CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/O=example/CN=front.example.com" \
    -keyout front-server.key -out front-server.csr 2>/dev/null
printf '%s\n' "subjectAltName=DNS:front.example.com,DNS:www.example.com" "extendedKeyUsage=serverAuth" \
    > front-server.ext
openssl x509 -req -in front-server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
    -extfile front-server.ext -out front-server.pem 2>/dev/null
rm -f front-server.csr front-server.ext
chmod 600 ./*.key
echo "certificates written to $(pwd)"
