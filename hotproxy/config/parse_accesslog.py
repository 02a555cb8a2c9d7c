"""Parser for the ``access_log`` lists of HTTP connection managers and TCP proxies: file, stdout
and stderr loggers and their formats. Each format is compiled here too, so that a bad command
operator is reported with the field path of the string it is in."""
from __future__ import annotations

from ..accesslog.format import compile_format
from ..errors import ConfigError
from .accesslog import AccessLog, LogFormat
from .fields import Fields, Message, Node, describe, typed_config

FILE_ACCESS_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
STDOUT_ACCESS_LOG_TYPE = ("type.googleapis.com/envoy.extensions.access_loggers.stream.v3"
                          ".StdoutAccessLog")
STDERR_ACCESS_LOG_TYPE = ("type.googleapis.com/envoy.extensions.access_loggers.stream.v3"
                          ".StderrAccessLog")

ACCESS_LOG = Fields("name typed_config", unsupported="filter")
# format, json_format and typed_json_format are deprecated, and still accepted by Envoy 1.40.
FILE_ACCESS_LOG = Fields("path format json_format typed_json_format log_format")
STREAM_ACCESS_LOG = Fields("log_format")
SUBSTITUTION_FORMAT_STRING = Fields(
    "text_format json_format text_format_source omit_empty_values content_type "
    "json_format_options",
    unsupported="formatters")
DATA_SOURCE = Fields("inline_string",
                     unsupported="filename inline_bytes environment_variable watched_directory")
# Envoy 1.40 sorts JSON keys whatever sort_properties says.
JSON_FORMAT_OPTIONS = Fields("sort_properties")


def access_logs(m: Message, tcp: bool) -> tuple[AccessLog, ...]:
    """The ``access_log`` list of an HTTP connection manager (``tcp`` false) or a TCP proxy."""
    return m.repeated("access_log", lambda node: access_log(node, tcp))


def access_log(node: Node, tcp: bool) -> AccessLog | None:
    m = node.message(ACCESS_LOG)
    if m is None:
        return None
    m.string("name")        # optional, any name: Envoy goes by the typed_config's type
    parsers = {FILE_ACCESS_LOG_TYPE: lambda n: file_access_log(n, tcp),
               STDOUT_ACCESS_LOG_TYPE: lambda n: stream_access_log(n, "stdout", tcp),
               STDERR_ACCESS_LOG_TYPE: lambda n: stream_access_log(n, "stderr", tcp)}
    return m.nested("typed_config", lambda n: typed_config(n, parsers), required=True)


def file_access_log(node: Node, tcp: bool) -> AccessLog | None:
    m = node.message(FILE_ACCESS_LOG)
    if m is None:
        return None
    path = m.string("path", required=True)
    chosen = m.one_of("format", "json_format", "typed_json_format", "log_format", required=False)
    if chosen == "format":
        log_format = _text_format(m.at("format"), False, tcp)
    elif chosen in ("json_format", "typed_json_format"):
        # Envoy 1.40 prints both as typed JSON.
        log_format = _json_format(m.at(chosen), False, tcp)
    else:
        log_format = m.nested("log_format", lambda n: substitution_format_string(n, tcp))
    return AccessLog("file", path=path, log_format=log_format)


def stream_access_log(node: Node, kind: str, tcp: bool) -> AccessLog | None:
    m = node.message(STREAM_ACCESS_LOG)
    if m is None:
        return None
    return AccessLog(kind, log_format=m.nested("log_format",
                                               lambda n: substitution_format_string(n, tcp)))


def substitution_format_string(node: Node, tcp: bool) -> LogFormat | None:
    m = node.message(SUBSTITUTION_FORMAT_STRING)
    if m is None:
        return None
    m.string("content_type")        # accepted; access logs have no use for it
    m.nested("json_format_options", _json_format_options)
    omit_empty = m.boolean("omit_empty_values", False)
    chosen = m.one_of("text_format", "json_format", "text_format_source")
    if chosen == "json_format":
        return _json_format(m.at("json_format"), omit_empty, tcp)
    if chosen == "text_format":
        return _text_format(m.at("text_format"), omit_empty, tcp)
    if chosen == "text_format_source":
        text_node = m.nested("text_format_source", _inline_string)
        return text_node and _text_format(text_node, omit_empty, tcp)
    return None


def _json_format_options(node: Node) -> None:
    m = node.message(JSON_FORMAT_OPTIONS)
    if m is not None:
        m.boolean("sort_properties")


def _inline_string(node: Node) -> Node | None:
    """The node of a DataSource's inline_string, the one source hotproxy reads."""
    m = node.message(DATA_SOURCE)
    if m is None:
        return None
    if not m.has("inline_string"):
        if not any(value is not None for value in node.value.values()):
            m.at("inline_string").fail("required field is missing")
        return None
    return m.at("inline_string")


def _text_format(node: Node, omit_empty: bool, tcp: bool) -> LogFormat | None:
    text = node.string()
    if text is None:
        return None
    return _checked(LogFormat(text=text, omit_empty_values=omit_empty), node, tcp)


def _json_format(node: Node, omit_empty: bool, tcp: bool) -> LogFormat | None:
    if not isinstance(node.value, dict):
        return node.fail(f"expected a mapping, got {describe(node.value)}")
    return _checked(LogFormat(json=node.value, omit_empty_values=omit_empty), node, tcp)


def _checked(log_format: LogFormat, node: Node, tcp: bool) -> LogFormat | None:
    """``log_format`` if it compiles; else its problems are recorded, at ``node``'s path."""
    try:
        compile_format(log_format, node.path, tcp)
    except ConfigError as error:
        node.ctx.problems.extend(error.problems)
        return None
    return log_format
