"""YAML and JSON text read into plain Python values the way Envoy reads them, YAML by Envoy's
rules for plain scalars. A key given twice in one mapping is reported with its path, not silently
overwritten."""
from __future__ import annotations

import json
import re

import yaml

from ..errors import ConfigError
from .fields import join

_TOO_DEEP = "nested too deeply"
_STR, _INT, _NULL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:null"
_INT32 = range(-2**31, 2**31)
_INT64 = range(-2**63, 2**63)
# Values that YAML aliases may add to a document beyond those written out. Without a bound, a few
# hundred bytes of nested aliases stand for billions of values, and whatever walks or prints the
# tree (the parser, an error message, --allow-unknown-static-fields' rewrite) takes as long.
MAX_ALIAS_EXPANSION = 100_000


def text_tree(text: str) -> tuple[object, list]:
    """The document in ``text`` as Python values, and the duplicate keys found in it. JSON is read
    as JSON: read by Envoy's YAML rules, its numbers 1.5 and 1e3 would be strings."""
    try:
        return json_tree(text)
    except ConfigError:
        return yaml_tree(text)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader resolving plain scalars as Envoy's YAML reader (yaml-cpp, then
    Envoy's conversion to JSON) does: y/n are booleans too; integers are decimal, 0x hex or
    0-prefixed octal, without YAML 1.1's 1_000 or 1:30; anything else, floats and dates
    included, stays a string (proto3 JSON reads numbers from strings); ``<<`` is an ordinary
    key, not a merge."""
    bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


if hasattr(yaml, "CSafeLoader"):
    class _FastLoader(yaml.CSafeLoader):
        """``_Loader`` on libyaml's parser: the pure-Python parser takes 15 times as long, and a
        reload reads the config three times in the arbiter and once in each new worker, on the
        serving workers' cores. What libyaml refuses is read again by ``_Loader``, so that a
        refusal reads as it always has (and a lone surrogate escape, which only libyaml refuses,
        is refused with its path by text_problems)."""
        bool_values = _Loader.bool_values
else:
    _FastLoader = _Loader


for _loader in {_Loader, _FastLoader}:
    _loader.yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag == _NULL]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"(?:y|Y|n|N|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE"
                   r"|on|On|ON|off|Off|OFF)$"), list("yYnNtTfFoO"))
    _loader.add_implicit_resolver(
        _INT, re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$"),
        list("-+0123456789"))


def yaml_tree(text: str) -> tuple[object, list]:
    """The document in ``text`` as Python values, and the duplicate keys found in it."""
    try:
        return _built(_FastLoader, text)
    except yaml.YAMLError:
        pass    # said as the pure-Python parser says it, below
    try:
        return _built(_Loader, text)
    except yaml.YAMLError as error:
        raise ConfigError([("", f"invalid YAML: {error}")]) from None


def _built(loader_class, text):
    problems = []
    try:
        loader = loader_class(text)      # its reader refuses non-printable characters already
        try:
            root = loader.get_single_node()
            builder = _YamlBuilder(loader, problems)
            tree = builder.build(root, "") if root is not None else None
            if root is not None:
                builder.check_expansion(root)
        finally:
            loader.dispose()
    except RecursionError:
        raise ConfigError([("", _TOO_DEEP)]) from None
    return tree, problems


class _YamlBuilder:
    """Builds Python values from the composed YAML nodes, tracking each one's field path."""

    def __init__(self, loader, problems: list):
        self.loader = loader
        self.problems = problems
        self.built = {}     # id(node) → value: an alias reuses what its anchor built

    def build(self, node, path):
        if id(node) not in self.built:
            self.built[id(node)] = self._build(node, path)
        return self.built[id(node)]

    def check_expansion(self, root):
        """Refuses a document whose aliases stand for more than MAX_ALIAS_EXPANSION values beyond
        those written out. Each node's expanded size is counted once, so this is linear."""
        sizes = {}

        def size(node):
            if id(node) not in sizes:
                if isinstance(node, yaml.SequenceNode):
                    children = node.value
                elif isinstance(node, yaml.MappingNode):
                    children = [value for _, value in node.value]
                else:
                    children = ()
                sizes[id(node)] = 1 + sum(map(size, children))
            return sizes[id(node)]

        if size(root) - len(sizes) > MAX_ALIAS_EXPANSION:
            raise ConfigError([("", f"YAML aliases expand the document by over "
                                    f"{MAX_ALIAS_EXPANSION:,} values")])

    def _build(self, node, path):
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
        if not isinstance(node, yaml.MappingNode):
            return self._scalar(node)
        mapping = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError([(path, "mapping keys must be plain strings")])
            key = key_node.value        # Envoy takes keys as written: 'n' is no boolean there
            if key in mapping:
                self.problems.append((join(path, key), f"duplicate key '{key}'"))
            mapping[key] = self.build(value_node, join(path, key))
        return mapping

    def _scalar(self, node):
        """A quoted scalar is a string; any other is resolved from its text, explicit tags
        (``!!binary``, ``!!float``, ``!!str``) aside, as Envoy does."""
        if node.style and node.tag == _STR:     # plain: style None, or "" from libyaml
            return node.value
        tag = self.loader.resolve(yaml.ScalarNode, node.value, (True, False))
        if tag == _NULL:
            return None
        if tag == _STR:
            return node.value
        try:
            value = self.loader.construct_object(yaml.ScalarNode(tag, node.value))
        except ValueError:      # an integer of over 4300 digits
            return node.value
        if tag == _INT and value not in _INT32:
            # Envoy keeps integers beyond int32 as decimal strings, beyond int64 as written.
            return str(value) if value in _INT64 else node.value
        return value


def json_tree(text: str) -> tuple[object, list]:
    """The JSON document in ``text`` as Python values, and the duplicate keys found in it."""
    try:
        pairs_tree = json.loads(text, object_pairs_hook=_Pairs)
    except RecursionError:
        raise ConfigError([("", _TOO_DEEP)]) from None
    except ValueError as error:     # JSONDecodeError, or an integer of over 4300 digits
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


def text_problems(tree) -> list:
    """(path, reason) for each key or string in ``tree`` that is not Unicode text. JSON's and
    YAML's ``\\ud800`` escapes make a lone surrogate, which Python keeps in a string but UTF-8
    cannot encode; Envoy refuses it, since a proto3 string is UTF-8, and so does hotproxy, with its
    path, before anything encodes it (an access-log format, a header value on the request path)."""
    problems = []
    stack = [(tree, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and not _is_text(key):
                    problems.append((path, _NOT_TEXT))
                stack.append((item, join(path, key)))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
        elif isinstance(value, str) and not _is_text(value):
            problems.append((path, _NOT_TEXT))
    return problems


_NOT_TEXT = "not valid Unicode text: a surrogate escape (\\ud800-\\udfff) that is not part of a pair"


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
