"""Access logs, as Envoy 1.40 writes them.

Formatting (a StreamInfo → one line of bytes):
- ``format.py``: ``compile_format(log_format, where, tcp) -> Formatter``; Envoy's default format.
- ``syntax.py``: reading a format string into literal text and command operators.
- ``commands.py``: every command operator Envoy knows, and those hotproxy fills (as expressions).
- ``start_time.py``: %START_TIME% and its strftime formats.
- ``response_flags.py``: Envoy's response flag codes and names.
- ``json_text.py``: JSON escaping and literal values as Envoy prints them.

Writing: ``loggers.py`` (the logs of one connection manager or TCP proxy), ``sink.py`` (worker
side), ``batch.py`` (worker → flusher datagrams), ``writer.py`` (flusher side).
"""
