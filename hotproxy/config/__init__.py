"""hotproxy's configuration: Envoy v3 bootstrap YAML/JSON read into frozen dataclasses.

``load_bootstrap(path)``, ``parse_text(text)`` and ``parse_bootstrap(tree)`` return a
``Bootstrap`` or raise ``hotproxy.errors.ConfigError`` listing every problem found, each with its
field path (``static_resources.clusters[0].connect_timeout``).
"""
from .bootstrap import Bootstrap
from .loader import load_bootstrap, parse_text
from .parse import parse_bootstrap

__all__ = ["Bootstrap", "load_bootstrap", "parse_bootstrap", "parse_text"]
