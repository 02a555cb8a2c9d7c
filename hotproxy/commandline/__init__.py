"""Envoy's command line for hotproxy: the flag table (flags.py), reading argv against it
(parse.py), the options the processes take from it (options.py), ``--help`` and ``--version``
(text.py). The entry point is hotproxy/cli.py."""
