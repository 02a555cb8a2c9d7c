"""Reading argv against the flag table (flags.py) as Envoy's TCLAP reads it: ``--flag value``,
a flag given twice is an error, ``--`` ends the flags; ``--flag=value`` is read too. Every
problem is a UsageError: one line naming the flag, never a usage dump."""
from __future__ import annotations

from .flags import END_OF_FLAGS, ENVOY_FLAGS, HOTPROXY_FLAGS
from .options import Options

_BY_NAME = {name: flag for flag in ENVOY_FLAGS + HOTPROXY_FLAGS for name in flag.names}


class UsageError(Exception):
    pass


def parse(argv: list[str]) -> Options:
    values = {flag.dest: [] if flag.repeatable else flag.default
              for flag in ENVOY_FLAGS + HOTPROXY_FLAGS}
    given = set()
    args = iter(argv)
    for arg in args:
        if arg in END_OF_FLAGS:
            break
        name, equals, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        flag = _BY_NAME.get(name)
        if flag is None:
            if arg.startswith("-"):
                raise UsageError(f"unknown flag {name} (hotproxy --help lists Envoy's and hotproxy's)")
            raise UsageError(f"unexpected argument '{arg}': every value follows its flag")
        if flag.refused:
            raise UsageError(f"{name} is not supported: {flag.refused}")
        if flag.dest in given and not flag.repeatable:
            raise UsageError(f"{name} is given twice")
        given.add(flag.dest)
        if not flag.takes_value:
            if equals:
                raise UsageError(f"{name} takes no value")
            values[flag.dest] = True
            continue
        text = inline if equals else next(args, None)
        if text is None:
            raise UsageError(f"{name} needs a value ({flag.metavar})")
        try:
            converted = flag.convert(text)
        except ValueError as error:
            raise UsageError(f"{name}: {error}") from None
        if flag.repeatable:
            values[flag.dest].append(converted)
        else:
            values[flag.dest] = converted
    options = Options(values, given, argv)
    _check(options)
    return options


def _check(options: Options) -> None:
    """What no single flag can tell."""
    if options.help or options.version or options.hot_restart_version:
        return
    if not options.config_path and not options.config_yaml:
        raise UsageError("no configuration: give -c/--config-path or --config-yaml")
    if (options.mode == "diff") != bool(options.against):
        raise UsageError("--mode diff needs --against ADMIN_URL" if options.mode == "diff"
                         else "--against is for --mode diff")
    epoch = options.restart_epoch
    if options.use_dynamic_base_id and epoch > 0:
        raise UsageError(f"cannot use --restart-epoch={epoch} with --use-dynamic-base-id: the "
                         "next epoch needs the base id the first one chose (--base-id-path)")
    if options.disable_hot_restart and epoch > 0:
        raise UsageError(f"--restart-epoch {epoch} takes over from a running epoch, which "
                         "--disable-hot-restart rules out")
    names = [name for name, _value in options.stats_tag]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"--stats-tag: tag '{name}' is given twice")
