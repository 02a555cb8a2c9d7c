"""Config trees (what YAML or JSON read into) made by editing valid ones: the seed configs of
the config_loader target, each changed at one to four places by a hypothesis strategy (a value
replaced, a field added, removed or renamed, a list item repeated …). Most of the tree stays
valid, so the edits reach the parser's deep corners rather than the first "unknown field"."""
from __future__ import annotations

import copy
from functools import lru_cache

import yaml
from hypothesis import strategies as st

from .config_vocab import NUMBERS, SCALARS, vocabulary
from .layout import CORPUS_DIR

MAX_EDITS = 4
#: Characters a made-up key never holds: a problem's field path is split at them.
_PATH_SEPARATORS = ".[]"


@lru_cache(maxsize=1)
def seed_trees() -> tuple:
    """The parsed seed configs of the config_loader target, the trees that edits start from."""
    paths = sorted(path for path in (CORPUS_DIR / "config_loader").iterdir() if path.is_file())
    return tuple(yaml.safe_load(path.read_text()) for path in paths)


@lru_cache(maxsize=1)
def _keys():
    fields, _, names = vocabulary()
    made_up = st.text(st.characters(exclude_characters=_PATH_SEPARATORS), max_size=8)
    return st.sampled_from(fields) | st.sampled_from(names) | made_up


@lru_cache(maxsize=1)
def _values():
    _, enums, names = vocabulary()
    scalars = (st.none() | st.booleans() | st.sampled_from(NUMBERS) | st.integers()
               | st.floats() | st.sampled_from(enums) | st.sampled_from(names)
               | st.sampled_from(SCALARS) | st.text(max_size=16))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(_keys(), inner, max_size=3), max_leaves=8)


_ACTIONS = st.sampled_from(("replace", "remove", "add", "rename", "repeat", "wrap"))


@st.composite
def edited_trees(draw):
    tree = copy.deepcopy(draw(st.sampled_from(seed_trees())))
    for _ in range(draw(st.integers(1, MAX_EDITS))):
        tree = _edit(draw, tree)
    return tree


def _edit(draw, tree):
    """``tree`` with one place changed; the root itself may be replaced."""
    holder = [tree]
    parent, key = holder, 0
    while isinstance(parent[key], (dict, list)) and parent[key] and draw(st.integers(0, 3)):
        node = parent[key]
        index = draw(st.integers(0, len(node) - 1))
        parent, key = node, list(node)[index] if isinstance(node, dict) else index
    node = parent[key]
    action = draw(_ACTIONS)
    if action == "replace" or parent is holder:
        parent[key] = draw(_values())
    elif action == "remove":
        del parent[key]
    elif action == "add" and isinstance(node, dict):
        node[draw(_keys())] = draw(_values())
    elif action == "rename" and isinstance(parent, dict):
        parent[_camel_case(key) if "_" in key else draw(_keys())] = parent.pop(key)
    elif action == "repeat" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(node))
    elif action == "wrap":
        parent[key] = [node]
    return holder[0]


def _camel_case(name: str) -> str:
    """proto3 JSON's other spelling of a field name."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)
