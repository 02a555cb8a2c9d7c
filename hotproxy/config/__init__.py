"""hotproxy's configuration: Envoy v3 bootstrap YAML/JSON read into frozen dataclasses.

``load_bootstrap(path)``, ``parse_text(text)`` and ``parse_bootstrap(tree)`` return a
``Bootstrap`` or raise ``hotproxy.errors.ConfigError`` listing every problem found, each with its
field path (``static_resources.clusters[0].connect_timeout``). ``effective_text(path,
config_yaml=..., allow_unknown_fields=...)`` is the text Envoy's ``-c``, ``--config-yaml`` and
``--allow-unknown-static-fields`` make of a config, for ``parse_text``.
"""
from .bootstrap import Bootstrap
from .loader import effective_text, load_bootstrap, parse_text
from .parse import parse_bootstrap

__all__ = ["Bootstrap", "effective_text", "load_bootstrap", "parse_bootstrap", "parse_text"]
