"""The ``kitepilot`` command's entry point.

One command cannot wait for the whole CLI to load: ``kitepilot kill`` records the kill switch
engaged (``orchestration.kill_now.halt``) before anything else is imported — typer, rich and
every command module take about half a second, a kill switch's whole budget is two — and only then
hands over to the CLI, whose ``kill`` command does the rest (and finds the switch engaged). Any
other command, ``kill --help``, or a ``kill`` whose options this does not read as the CLI would,
goes straight to the CLI.

Once the switch is recorded, a running executor makes the account flat; what this process does
next (load the CLI, log in, reconcile, engage) is the same work again, for when no executor runs,
and must not take the CPU from the one that does: it runs at a lower priority (``os.nice``).
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Final

__all__ = ["main"]

_OPTIONS: Final = {"--reason": "reason", "--by": "by", "--config": "config", "-c": "config"}
_AFTER_HALT_NICENESS: Final = 10  # a tenth of the CPU share of a running executor, when contended


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["kill"]:
        _halt_first(argv[1:])
    from orchestration.cli import main as cli_main

    cli_main()


def _halt_first(args: list[str]) -> None:
    """Record the kill switch engaged now, if ``args`` are ``kill``'s options as typed; any
    problem (an option this does not know, a config error, an unreachable store) is left to the
    CLI, which reports it — the kill itself is never skipped."""
    options = _kill_options(args)
    if options is None:
        return
    from orchestration.kill_now import halt
    from orchestration.settings import resolve_config

    config_file = options.get("config")
    actor = options.get("by") or getpass.getuser()
    try:
        config = resolve_config(Path(config_file) if config_file else None).config
        halted = halt(config, actor, options.get("reason", "manual"))
    except Exception:  # whatever went wrong, the CLI's kill runs next and says it
        return
    if halted:  # the CLI's own output, before rich is loaded
        sys.stdout.write("KILL SWITCH: halted; cancelling and closing …\n")
        sys.stdout.flush()
        if hasattr(os, "nice"):  # POSIX
            os.nice(_AFTER_HALT_NICENESS)


def _kill_options(args: list[str]) -> dict[str, str] | None:
    """``--reason``, ``--by``, ``--config``/``-c`` (``--x value`` or ``--x=value``); None for
    anything else (``--help`` included)."""
    options: dict[str, str] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, equals, value = arg.partition("=")
        key = _OPTIONS.get(name)
        if key is None or (not equals and not rest):
            return None
        options[key] = value if equals else rest.pop(0)
    return options
