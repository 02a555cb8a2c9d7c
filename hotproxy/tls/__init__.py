"""TLS for both sides of the proxy: certificates and keys from config, SSLContexts built the way
Envoy builds its TLS contexts, peer verification, and what the ssl module cannot reach (openssl.py)."""
