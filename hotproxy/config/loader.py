"""Reading a bootstrap file or text into a Bootstrap, and ``effective_text``: what Envoy's ``-c``,
``--config-yaml`` and ``--allow-unknown-static-fields`` make of a config (docs/envoy-reference.md,
"Configuration files")."""
from __future__ import annotations

import functools
import json

from ..errors import ConfigError
from .bootstrap import Bootstrap
from .fields import join
from .merge import merged
from .parse import parse_bootstrap, unknown_field_paths
from .trees import json_tree, text_tree, yaml_tree


def load_bootstrap(path: str) -> Bootstrap:
    """The Bootstrap in the file at ``path``, read as Envoy reads ``-c``."""
    return parse_bootstrap(*_file_tree(path, _read(path)))


def parse_text(text: str, sds_secrets=None) -> Bootstrap:
    """The Bootstrap in JSON or YAML ``text``; ``sds_secrets``: what SDS sent (parse_bootstrap)."""
    return parse_bootstrap(*text_tree(text), sds_secrets=sds_secrets)


def effective_text(path: str | None, *, config_yaml: str | None = None,
                   allow_unknown_fields: bool = False) -> tuple[str, list[str]]:
    """The bootstrap Envoy would run given ``-c path`` and ``--config-yaml config_yaml`` (both
    optional, one required), as text for ``parse_text``, and the paths of the fields that
    ``allow_unknown_fields`` (Envoy's --allow-unknown-static-fields) dropped because Envoy's protos
    do not know them. Fields hotproxy knows but does not support are left for ``parse_text`` to
    refuse. The text is the original one when ``parse_text`` reads it as Envoy would and there
    is nothing to merge or drop, else JSON."""
    text, unknown, _tree = effective_config(path, config_yaml=config_yaml,
                                            allow_unknown_fields=allow_unknown_fields)
    return text, unknown


def effective_config(path: str | None, *, config_yaml: str | None = None,
                     allow_unknown_fields: bool = False) -> tuple[str, list[str], object]:
    """``effective_text``, and the tree ``parse_text`` reads from that text (for
    ``parse_bootstrap``, without reading the text again): known when the text is the original,
    else None."""
    sources = []
    if path is not None:
        text = _read(path)
        sources.append((text, _checked(_file_tree(path, text), f"'{path}'")))
    if config_yaml:     # Envoy reads an empty --config-yaml as none
        sources.append((config_yaml, _checked(yaml_tree(config_yaml), "--config-yaml")))
    if not sources:
        raise ConfigError([("", "no configuration: give a config file (-c) or --config-yaml")])
    try:
        tree = functools.reduce(merged, [tree for _, tree in sources])
    except RecursionError:
        raise ConfigError([("", "--config-yaml: nested too deeply")]) from None
    unknown = unknown_field_paths(tree) if allow_unknown_fields else []
    # YAML that is JSON too is read as JSON by parse_text, which may not be how Envoy reads it.
    if len(sources) == 1 and not unknown and _as_parse_text_reads(sources[0][0], tree) == tree:
        return sources[0][0], [], tree
    return json.dumps(without_paths(tree, set(unknown)), indent=2), unknown, None


def _as_parse_text_reads(text: str, tree: object) -> object:
    """What ``parse_text`` reads from ``text``, which its own reader (JSON, or YAML) read as
    ``tree``: JSON first, as ``text_tree`` does; text that is not JSON is read as YAML again, into
    the same tree, so it is not read again."""
    try:
        return json_tree(text)[0]
    except ConfigError:
        return tree


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        raise ConfigError([("", f"cannot read '{path}': {error.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([("", f"cannot read '{path}': not UTF-8 text")]) from None


def _file_tree(path: str, text: str) -> tuple[object, list]:
    """Envoy's rule: .yaml and .yml files are YAML, .pb and .pb_text protobuf, any other JSON."""
    lowered = path.lower()
    if lowered.endswith((".yaml", ".yml")):
        return yaml_tree(text)
    for extension, form in ((".pb", "binary"), (".pb_text", "text")):
        if lowered.endswith(extension):
            raise ConfigError([("", f"cannot read '{path}': {form} protobuf ({extension}) is not "
                                    "supported by hotproxy yet; write it as YAML or JSON")])
    return json_tree(text)


def _checked(read: tuple[object, list], source: str) -> dict:
    """The tree of one source, which must be a mapping without duplicate keys."""
    tree, problems = read
    if problems:
        raise ConfigError(problems)
    if tree is None:
        raise ConfigError([("", f"{source} is empty")])
    if not isinstance(tree, dict):
        raise ConfigError([("", f"{source} must be a mapping")])
    return tree


def without_paths(value, paths: set, path=""):
    """``value`` without the fields at ``paths``. Only the branches that lead to one are copied
    (a deep config nests deeper than Python recurses)."""
    if not any(p.startswith((f"{path}.", f"{path}[")) or not path for p in paths):
        return value
    if isinstance(value, dict):
        return {key: without_paths(item, paths, join(path, key)) for key, item in value.items()
                if join(path, key) not in paths}
    if isinstance(value, list):
        return [without_paths(item, paths, f"{path}[{index}]") for index, item in enumerate(value)]
    return value
