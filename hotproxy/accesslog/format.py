"""Access log formats compiled once into Formatters: ``Formatter.format(info) -> bytes``.

A format becomes one Python function generated from the expressions of its command operators
(commands.py). A text format is a bytes template with a ``%b`` per operator, filled by one ``%``
per line; so is a JSON format, since its keys and their order never change. With
omit_empty_values a JSON line changes shape (null values, and objects left empty, drop out), so
such a format is a tree of small functions instead.
"""
from __future__ import annotations

import itertools
import re

from ..errors import ConfigError
from .commands import Field, build
from .json_text import json_literal, json_string
from .syntax import Command, FormatError, tokenize

#: Envoy's format when an access log names none, for HTTP and TCP proxy logs alike.
DEFAULT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n')


class Formatter:
    """``format(info) -> bytes``: one access log line for a StreamInfo. Text formats are printed
    as written (a newline only if the format has one); JSON lines end with one. ``facts``: the
    StreamInfo attributes ``format`` reads, or None when that is not known (it hands ``info``
    to a function that says nothing of what it reads)."""

    __slots__ = ("format", "facts")

    def __init__(self, function, facts=None):
        self.format = function
        self.facts = facts


def compile_format(log_format, where: str, tcp: bool) -> Formatter:
    """The Formatter for a ``config.accesslog.LogFormat`` (None: Envoy's default format), in an
    HTTP connection manager's (``tcp`` false) or a TCP proxy's access log. ``where`` is the field
    path of the format: the text's, or the json_format's (a key's problems are reported under
    it). Raises ConfigError listing every problem."""
    compiler = _Compiler(tcp)
    if log_format is None:
        function = compiler.text(DEFAULT_FORMAT, b"-", where)
    elif log_format.json is not None:
        function = compiler.json(log_format.json, log_format.omit_empty_values, where)
    else:
        function = compiler.text(log_format.text, b"" if log_format.omit_empty_values else b"-",
                                 where)
    if compiler.problems:
        raise ConfigError(compiler.problems)
    return Formatter(function, None if compiler.facts_unknown else frozenset(compiler.facts))


class _Compiler:
    """Compiles one format: collects its problems, the namespace its code runs in, and which
    header maps that code reads."""

    def __init__(self, tcp: bool):
        self.tcp = tcp
        self.problems = []
        self.namespace = {"_json": json_string, "_EMPTY": {}}
        self.header_maps = set()
        self.facts = set()              # the info attributes the generated code reads
        self.facts_unknown = False      # it hands info to a function that does not tell
        self._names = itertools.count()

    def bind(self, value) -> str:
        name = f"_n{next(self._names)}"
        self.namespace[name] = value
        return name

    def tokens(self, text: str, where: str):
        """(tokens, fields) of a format string, or None when it is refused (problem recorded)."""
        try:
            tokens = tokenize(text)
            fields = [build(token, self.tcp, self.bind) for token in tokens
                      if isinstance(token, Command)]
        except FormatError as error:
            self.problems.append((where, error.reason))
            return None
        self.header_maps.update(field.headers for field in fields if field.headers)
        return tokens, fields

    def function(self, result: str):
        """``format(info)`` returning the expression ``result``."""
        lines = ["def format(info):"]
        # Header maps keep the first value of a repeated header, the one Envoy logs.
        lines.append("    req = dict(reversed(info.request_headers))" if "req" in self.header_maps
                     else "    req = _EMPTY")
        lines.append("    resp = (dict(reversed(_h)) if (_h := info.response_headers) is not None"
                     " else _EMPTY)" if "resp" in self.header_maps else "    resp = _EMPTY")
        lines.append(f"    return {result}")
        self.note_facts("\n".join(lines[1:]))
        exec("\n".join(lines), self.namespace)
        return self.namespace.pop("format")

    def slot(self, expr: str):
        """``slot(info, req, resp)`` evaluating ``expr``."""
        self.note_facts(expr)
        return eval(f"lambda info, req, resp: {expr}", self.namespace)

    def note_facts(self, source: str):
        """Adds the info attributes ``source`` reads to ``facts``: ``info.<name>``, and a bound
        function's ``reads`` where ``info`` is handed to it. Any other use of ``info`` (a bound
        function without ``reads``) makes them unknown. ``(info, req, resp)`` passes it to a JSON
        tree's nodes, whose slots are noted themselves."""
        self.facts.update(_ATTRIBUTE_READ.findall(source))
        for name in _HANDED_TO.findall(source):
            reads = getattr(self.namespace.get(name), "reads", None)
            if reads is None:
                self.facts_unknown = True
            else:
                self.facts.update(reads)
        rest = _KNOWN_USES.sub("", source)
        if _INFO.search(rest):
            self.facts_unknown = True

    # --- Text ------------------------------------------------------------------------------------

    def text(self, text: str, missing: bytes, where: str):
        compiled = self.tokens(text, where)
        if compiled is None:
            return None
        tokens, fields = compiled
        template, exprs = _template(tokens, fields, lambda field: _text_expr(field, missing))
        return self.function(f"{self.bind(template)} % {_tuple(exprs)}")

    # --- JSON ------------------------------------------------------------------------------------

    def json(self, struct: dict, omit_empty: bool, where: str):
        """A json_format: keys sorted (Envoy 1.40 sorts them whatever sort_properties says)."""
        if omit_empty:
            root = self.json_tree(struct, where)
            return self.function(f"({self.bind(root)}(info, req, resp) or b'{{}}') + b'\\n'")
        pieces, exprs = [], []
        self.json_flat(struct, where, pieces, exprs)
        template = b"".join(pieces) + b"\n"
        return self.function(f"{self.bind(template)} % {_tuple(exprs)}")

    def json_flat(self, value, where: str, pieces: list, exprs: list):
        """Appends ``value``'s JSON to ``pieces`` (template text, "%" written "%%"), with a "%b"
        and an expression in ``exprs`` for each value computed per line."""
        if isinstance(value, dict):
            pieces.append(b"{")
            for index, key in enumerate(self.sorted_keys(value, where)):
                key_text = b'%b"%b":' % (b"," if index else b"", _escaped(key))
                pieces.append(key_text.replace(b"%", b"%%"))
                self.json_flat(value[key], _join(where, key), pieces, exprs)
            pieces.append(b"}")
        elif isinstance(value, list):
            pieces.append(b"[")
            for index, item in enumerate(value):
                pieces.append(b"," if index else b"")
                self.json_flat(item, f"{where}[{index}]", pieces, exprs)
            pieces.append(b"]")
        else:
            expr = self.json_scalar(value, False, where)
            if isinstance(expr, bytes):
                pieces.append(expr.replace(b"%", b"%%"))
            else:
                pieces.append(b"%b")
                exprs.append(expr)

    def json_tree(self, value, where: str):
        """node(info, req, resp) -> JSON bytes, or None when the value drops out: a null, or an
        object all of whose values dropped out. Arrays stay, emptied of their nulls."""
        if isinstance(value, dict):
            members = [(b'"%b":' % _escaped(key), self.json_tree(value[key], _join(where, key)))
                       for key in self.sorted_keys(value, where)]

            def node(info, req, resp):
                printed = []
                for key, member in members:
                    text = member(info, req, resp)
                    if text is not None:
                        printed.append(key + text)
                return b"{%b}" % b",".join(printed) if printed else None
            return node
        if isinstance(value, list):
            items = [self.json_tree(item, f"{where}[{index}]") for index, item in enumerate(value)]

            def node(info, req, resp):
                printed = [text for text in [item(info, req, resp) for item in items]
                           if text is not None]
                return b"[%b]" % b",".join(printed)
            return node
        expr = self.json_scalar(value, True, where)
        return self.slot(expr if isinstance(expr, str) else repr(expr))

    def json_scalar(self, value, omit_empty: bool, where: str):
        """A json_format value that is not an object or array: its JSON bytes when they are the
        same on every line, else the expression computing them. A string that is one command
        operator keeps the operator's type, null when missing; any other string with operators
        is one string, with "-" for a missing value. ``omit_empty``: a null is None instead
        (it drops out), and a missing value inside a string prints as nothing."""
        if not isinstance(value, str) or "%" not in value:
            return None if value is None and omit_empty else json_literal(value)
        compiled = self.tokens(value, where)
        if compiled is None:
            return b"null"
        tokens, fields = compiled
        if not fields:          # e.g. "100%%": no operator after all
            return json_literal("".join(tokens))
        if len(tokens) == 1:
            return _typed_expr(fields[0], "None" if omit_empty else "b'null'")
        template, exprs = _template(tokens, fields, _escaped_expr(b"" if omit_empty else b"-"),
                                    escape=_escaped)
        quoted = self.bind(b'"' + template + b'"')
        return f"({quoted} % {_tuple(exprs)})"

    def sorted_keys(self, mapping: dict, where: str) -> list[str]:
        keys = []
        for key in mapping:
            if isinstance(key, str):
                keys.append(key)
            else:
                self.problems.append((_join(where, key), f"expected a string key, got {key!r}"))
        return sorted(keys)


_ATTRIBUTE_READ = re.compile(r"\binfo\.(\w+)")
_HANDED_TO = re.compile(r"\b(\w+)\(info\)")
_KNOWN_USES = re.compile(r"\binfo\.|\(info\)|\(info, req, resp\)")
_INFO = re.compile(r"\binfo\b")


def _template(tokens, fields, render, escape=str.encode):
    """(template, expressions): literal tokens ``escape``d into the template ("%" written
    "%%"), a "%b" for each command, whose expression is ``render(field)``, or for a number that
    is never missing a "%d" of the number."""
    fields_left = iter(fields)
    template, exprs = [], []
    for token in tokens:
        if isinstance(token, Command):
            field = next(fields_left)
            if field.numeric and not field.optional:
                template.append(b"%d")
                exprs.append(f"({field.expr})")
            else:
                template.append(b"%b")
                exprs.append(render(field))
        else:
            template.append(escape(token).replace(b"%", b"%%"))
    return b"".join(template), exprs


def _tuple(exprs: list[str]) -> str:
    return f"({''.join(expr + ', ' for expr in exprs)})"


def _text_expr(field: Field, missing: bytes) -> str:
    """The expression of ``field``'s text: its bytes, decimal digits, or ``missing``."""
    if field.or_missing is not None:
        return field.or_missing.replace("_MISSING_", repr(missing))
    if not field.optional:
        return f"b'%d' % ({field.expr})" if field.numeric else field.expr
    value = "b'%d' % _v" if field.numeric else "_v"
    return f"({missing!r} if (_v := {field.expr}) is None else {value})"


def _typed_expr(field: Field, null: str) -> str:
    """The expression of ``field`` as a JSON value of its own type, ``null`` when missing."""
    if field.json is not None:
        return f"({null} if (_v := {field.json}) is None else _v)"
    def render(value):
        return f"b'%d' % {value}" if field.numeric else f"b'\"%b\"' % _json({value})"
    if not field.optional:
        return render(f"({field.expr})")
    return f"({null} if (_v := {field.expr}) is None else {render('_v')})"


def _escaped_expr(missing: bytes):
    """render(field) for a command inside a JSON string: its text escaped (as Envoy escapes each
    operator's value on its own), or ``missing``."""
    def render(field: Field) -> str:
        if field.numeric:
            return _text_expr(field, missing)
        if not field.optional:
            return f"_json({field.expr})"
        return f"({missing!r} if (_v := {field.expr}) is None else _json(_v))"
    return render


def _escaped(text: str) -> bytes:
    return json_string(text.encode())


def _join(path: str, key) -> str:
    """A json_format key's field path, as config.fields.join writes it (which this package
    cannot import: the config parser imports this one)."""
    return f"{path}.{key}" if path else str(key)
