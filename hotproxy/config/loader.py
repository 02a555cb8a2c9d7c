"""Reading a bootstrap file or text into a Bootstrap. YAML and JSON are read into plain Python
values first; a key given twice in one mapping is reported with its path, not silently
overwritten."""
from __future__ import annotations

import json

import yaml

from ..errors import ConfigError
from .bootstrap import Bootstrap
from .fields import join
from .parse import parse_bootstrap


def load_bootstrap(path: str) -> Bootstrap:
    """The Bootstrap in the file at ``path``: JSON when it ends in ``.json``, YAML otherwise."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        raise ConfigError([("", f"cannot read '{path}': {error.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([("", f"cannot read '{path}': not UTF-8 text")]) from None
    tree, problems = json_tree(text) if path.endswith(".json") else yaml_tree(text)
    return parse_bootstrap(tree, problems)


def parse_text(text: str) -> Bootstrap:
    """The Bootstrap in YAML (or JSON, which YAML reads too) ``text``."""
    return parse_bootstrap(*yaml_tree(text))


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader minus timestamps, which Envoy's YAML reader keeps as strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def yaml_tree(text: str) -> tuple[object, list]:
    """The document in ``text`` as Python values, and the duplicate keys found in it."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        problems = []
        tree = _YamlBuilder(loader, problems).build(root, "") if root is not None else None
    except yaml.YAMLError as error:
        raise ConfigError([("", f"invalid YAML: {error}")]) from None
    finally:
        loader.dispose()
    return tree, problems


class _YamlBuilder:
    """Builds Python values from the composed YAML nodes, tracking each one's field path."""

    def __init__(self, loader: _Loader, problems: list):
        self.loader = loader
        self.problems = problems
        self.built = {}     # id(node) → value: an alias reuses what its anchor built

    def build(self, node, path):
        if id(node) not in self.built:
            self.built[id(node)] = self._build(node, path)
        return self.built[id(node)]

    def _build(self, node, path):
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
        if not isinstance(node, yaml.MappingNode):
            return self.loader.construct_object(node)
        # Duplicates are looked for before merge keys ('<<') are applied: keys given in the
        # mapping itself may override merged ones.
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError([(path, "mapping keys must be plain strings")])
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.loader.construct_object(key_node)
            if key in seen:
                self.problems.append((join(path, key), f"duplicate key '{key}'"))
            seen.add(key)
        self.loader.flatten_mapping(node)
        mapping = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node)
            mapping[key] = self.build(value_node, join(path, key))
        return mapping


def json_tree(text: str) -> tuple[object, list]:
    """The JSON document in ``text`` as Python values, and the duplicate keys found in it."""
    try:
        pairs_tree = json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as error:
        raise ConfigError([("", f"invalid JSON: {error}")]) from None
    problems = []
    return _from_pairs(pairs_tree, "", problems), problems


class _Pairs(list):
    """A JSON object as its (key, value) pairs, so that duplicate keys can be seen."""


def _from_pairs(value, path, problems):
    if isinstance(value, _Pairs):
        mapping = {}
        for key, item in value:
            if key in mapping:
                problems.append((join(path, key), f"duplicate key '{key}'"))
            mapping[key] = _from_pairs(item, join(path, key), problems)
        return mapping
    if isinstance(value, list):
        return [_from_pairs(item, f"{path}[{index}]", problems) for index, item in enumerate(value)]
    return value
