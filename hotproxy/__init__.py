"""hotproxy: an Envoy-configured L4/L7 proxy on gevent."""

__version__ = "0.1.0"
